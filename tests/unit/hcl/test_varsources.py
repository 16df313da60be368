from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflow.errors import LoadError, UsageError
from gridflow.plan import Location, TypeSpec, Variable
from gridflow.translators.hcl.varsources import collect_overrides


def _var(name: str, spec: TypeSpec, line: int, *, sensitive: bool = False) -> Variable:
    return Variable(
        name=name, type=spec, sensitive=sensitive, loc=Location(file="main.hcl", line=line, col=1)
    )


STRING = TypeSpec(kind="string")
NUMBER = TypeSpec(kind="number")
DECLARED = {
    "base_url": _var("base_url", STRING, 1),
    "workers": _var("workers", NUMBER, 2),
    "pages": _var("pages", TypeSpec(kind="list", elem=STRING), 3),
    "limits": _var("limits", TypeSpec(kind="map", elem=NUMBER), 4),
    "debug": _var("debug", TypeSpec(kind="bool"), 5),
    "extra": _var("extra", TypeSpec(kind="any"), 6),
    "token": _var("token", NUMBER, 7, sensitive=True),
    "version": _var("version", STRING, 8),
}


def collect(
    root: Path,
    *,
    var_args: tuple[str, ...] = (),
    var_files: tuple[str, ...] = (),
    profile: str | None = None,
    environ: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> dict[str, Any]:
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return collect_overrides(
        declared=DECLARED,
        var_args=var_args,
        var_files=[str(root / f) for f in var_files],
        profile=profile,
        grid_root=root,
        environ=environ or {},
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"var_args": ("base_url=http://127.0.0.1:8080/a?b=c",)},
            {"base_url": "http://127.0.0.1:8080/a?b=c"},
        ),
        ({"var_args": ("workers=4",)}, {"workers": 4}),
        ({"var_args": ("workers=2.5",)}, {"workers": 2.5}),
        ({"var_args": ('pages=["a", "b"]',)}, {"pages": ["a", "b"]}),
        ({"var_args": ("limits={a = 1, b = 2}",)}, {"limits": {"a": 1, "b": 2}}),
        ({"var_args": ("debug=true",)}, {"debug": True}),
        ({"var_args": ("extra=hello",)}, {"extra": "hello"}),
        ({"var_args": ("extra={k = [1, -2]}",)}, {"extra": {"k": [1, -2]}}),
        ({"var_args": ('base_url="quoted"',)}, {"base_url": '"quoted"'}),
        ({"var_args": ("base_url=",)}, {"base_url": ""}),
        ({"var_args": ("workers=1", "workers=2")}, {"workers": 2}),
        ({"var_args": ("extra=null",)}, {}),
        (
            {"environ": {"GRIDFLOW_VAR_workers": "3", "GRIDFLOW_VAR_nope": "x", "HOME": "/"}},
            {"workers": 3},
        ),
        ({"environ": {"GRIDFLOW_VAR_pages": '["x"]'}}, {"pages": ["x"]}),
        (
            {"environ": {"GRIDFLOW_VAR_workers": "3"}, "var_args": ("workers=4",)},
            {"workers": 4},
        ),
    ],
    ids=[
        "string-as-is",
        "number",
        "float",
        "list",
        "map",
        "bool",
        "any-bare-word",
        "any-literal",
        "string-keeps-quotes",
        "empty-string",
        "last-var-wins",
        "null-is-not-given",
        "env-unknown-ignored",
        "env-list",
        "var-beats-env",
    ],
)
def test_command_line_and_environment(
    tmp_path: Path, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert collect(tmp_path, **kwargs) == expected


def test_precedence_env_profile_files_var(tmp_path: Path) -> None:
    files = {
        "profiles/staging.hcl": 'workers = 2\nbase_url = "from-profile"\ndebug = true\n',
        "one.json": '{"workers": 3, "pages": ["from-json"]}',
        "two.yaml": "workers: 4\nversion: 1.10\n",
    }
    got = collect(
        tmp_path,
        files=files,
        environ={"GRIDFLOW_VAR_workers": "1", "GRIDFLOW_VAR_extra": "env"},
        profile="staging",
        var_files=("one.json", "two.yaml"),
        var_args=("workers=5",),
    )
    assert got == {
        "workers": 5,
        "extra": "env",
        "base_url": "from-profile",
        "debug": True,
        "pages": ["from-json"],
        "version": "1.10",
    }


def test_later_file_beats_earlier(tmp_path: Path) -> None:
    files = {"a.hcl": "workers = 1\n", "b.yml": "workers: 2\n"}
    assert collect(tmp_path, files=files, var_files=("a.hcl", "b.yml")) == {"workers": 2}
    assert collect(tmp_path, files=files, var_files=("b.yml", "a.hcl")) == {"workers": 1}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "v.hcl",
            'base_url = "http://x"\npages = ["a", "b"]\nlimits = { a = 1, "b" = 2 }\n'
            'version = "$${not-a-template}"\nextra = <<EOT\nhi\nEOT\nworkers = -3\n',
            {
                "base_url": "http://x",
                "pages": ["a", "b"],
                "limits": {"a": 1, "b": 2},
                "version": "${not-a-template}",
                "extra": "hi\n",
                "workers": -3,
            },
        ),
        (
            "v.json",
            '{"workers": "7", "debug": "false", "limits": {"a": 1}, "extra": null}',
            {"workers": 7, "debug": False, "limits": {"a": 1}},
        ),
        (
            "v.yaml",
            "version: 1.10\nbase_url: NO\nextra: 2024-01-02\npages: [a, 1]\n"
            "workers: '8'\ndebug: yes\n",
            {
                "version": "1.10",
                "base_url": "NO",
                "extra": "2024-01-02",
                "pages": ["a", "1"],
                "workers": 8,
                "debug": True,
            },
        ),
        ("v.yml", "", {}),
        ("v.yaml", "# only a comment\n", {}),
        ("v.hcl", "# nothing\n", {}),
    ],
    ids=["hcl", "json", "yaml-keeps-string-text", "empty-yml", "yaml-comment", "hcl-comment"],
)
def test_var_files(tmp_path: Path, name: str, text: str, expected: dict[str, Any]) -> None:
    assert collect(tmp_path, files={name: text}, var_files=(name,)) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"var_args": ("nope",)},
            'invalid -var "nope": expected name=value, e.g. -var base_url=http://127.0.0.1:8080',
        ),
        (
            {"var_args": ("=5",)},
            'invalid -var "=5": expected name=value, e.g. -var base_url=http://127.0.0.1:8080',
        ),
        (
            {"var_args": ("wrkers=1",)},
            '-var wrkers: no variable "wrkers" is declared in the grid; did you mean "workers"?',
        ),
        (
            {"var_args": ("zzz=1",)},
            '-var zzz: no variable "zzz" is declared in the grid; declared variables: '
            "base_url, debug, extra, limits, pages, token, version, workers",
        ),
        (
            {"var_args": ("workers=abc",)},
            '-var workers: variable "workers" must be number (declared at main.hcl:2:1): '
            'expected number, got string "abc"',
        ),
        (
            {"var_args": ("workers=5\nother = 1",)},
            '-var workers: variable "workers" must be number (declared at main.hcl:2:1): '
            'expected number, got string "5\\nother = 1"',
        ),
        (
            {"var_args": ("pages=a,b",)},
            '-var pages: variable "pages" must be list(string) (declared at main.hcl:3:1): '
            'expected list(string), got string "a,b"; '
            """write an HCL value, e.g. -var 'pages=["a", "a"]'""",
        ),
        (
            {"var_args": ('pages=["a", upper("b")]',)},
            '-var pages: variable "pages" must be list(string) (declared at main.hcl:3:1): '
            'expected list(string), got string "[\\"a\\", upper(\\"b\\")]"; '
            """write an HCL value, e.g. -var 'pages=["a", "a"]'""",
        ),
        (
            {"var_args": ("limits={a = x}",)},
            '-var limits: variable "limits" must be map(number) (declared at main.hcl:4:1): '
            'expected map(number), got string "{a = x}"; '
            "write an HCL value, e.g. -var 'limits={ key = 1 }'",
        ),
        (
            {"var_args": ("token=hunter2",)},
            '-var token: variable "token" must be number (declared at main.hcl:7:1): '
            "expected number, got string",
        ),
        (
            {"environ": {"GRIDFLOW_VAR_debug": "maybe"}},
            'GRIDFLOW_VAR_debug: variable "debug" must be bool (declared at main.hcl:5:1): '
            'expected bool, got string "maybe"',
        ),
        (
            {"environ": {"GRIDFLOW_VAR_pages": "a b"}},
            'GRIDFLOW_VAR_pages: variable "pages" must be list(string) '
            '(declared at main.hcl:3:1): expected list(string), got string "a b"; '
            """write an HCL value, e.g. GRIDFLOW_VAR_pages='["a", "a"]'""",
        ),
        (
            {"var_files": ("vars.txt",), "files": {"vars.txt": "workers = 1\n"}},
            "{root}/vars.txt: a variable file must end in .hcl, .json, .yaml or .yml; "
            "rename it or convert it to one of those formats",
        ),
        (
            {"var_files": ("missing.hcl",)},
            "{root}/missing.hcl: no such variable file; check the path given to -var-file",
        ),
        (
            {"profile": "prod"},
            'no profile "prod" in {root}/profiles; create {root}/profiles/prod.hcl',
        ),
        (
            {"profile": "prd", "files": {"profiles/prod.yaml": "", "profiles/dev.hcl": ""}},
            'no profile "prd" in {root}/profiles; did you mean "prod"? (profiles there: dev, prod)',
        ),
        (
            {"profile": "qa", "files": {"profiles/prod.yaml": "", "profiles/dev.hcl": ""}},
            'no profile "qa" in {root}/profiles; profiles there: dev, prod',
        ),
        (
            {"profile": "dev", "files": {"profiles/dev.yaml": "", "profiles/dev.hcl": ""}},
            'profile "dev" is ambiguous: {root}/profiles holds dev.hcl, dev.yaml; '
            "keep only one of them",
        ),
        (
            {"profile": "../secrets"},
            'invalid profile name "../secrets": give the name of a file in {root}/profiles '
            "without its extension, e.g. --profile staging",
        ),
    ],
    ids=[
        "no-equals",
        "no-name",
        "unknown-did-you-mean",
        "unknown-lists-declared",
        "bad-number",
        "no-second-attribute",
        "list-needs-hcl",
        "no-function-calls",
        "no-references",
        "sensitive-value-hidden",
        "env-bad-bool",
        "env-list-hint",
        "bad-extension",
        "missing-file",
        "no-profiles-at-all",
        "profile-typo",
        "profile-unknown",
        "profile-ambiguous",
        "profile-path",
    ],
)
def test_usage_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        collect(tmp_path, **kwargs)
    assert str(info.value) == message.replace("{root}", str(tmp_path))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "v.hcl",
            'workers = 1\nbase_ur = "x"\n',
            'v.hcl:2:1: error: no variable "base_ur" is declared in the grid [unknown-variable]\n'
            '  hint: did you mean "base_url"?',
        ),
        (
            "v.hcl",
            'workers = "many"\n',
            'v.hcl:1:1: error: variable "workers" must be number (declared at main.hcl:2:1): '
            'expected number, got string "many" [type-mismatch]\n'
            "  hint: give workers a value of type number",
        ),
        (
            "v.hcl",
            'base_url = "http://${var.host}"\n',
            "v.hcl:1:22: error: variable files hold literal values: ${...} and %{...} are not "
            "allowed [var-file-expression]\n"
            '  hint: write the text itself, or escape a literal "${" as "$${"',
        ),
        (
            "v.hcl",
            'pages = [upper("a")]\n',
            "v.hcl:1:10: error: variable files hold literal values, not expressions "
            "[var-file-expression]\n"
            '  hint: write the value itself, e.g. "text", 5, true, ["a", "b"] or '
            '{ key = "value" }',
        ),
        (
            "v.hcl",
            'variable "x" {\n  default = 1\n}\n',
            "v.hcl:1:1: error: variable files hold name = value lines, not blocks [var-file]\n"
            '  hint: write each variable as name = value, e.g. base_url = "http://127.0.0.1:8080"',
        ),
        (
            "v.json",
            '{\n  "workers": 1,\n  "extra": {"wrkers": 2},\n  "wrkers": 3\n}',
            'v.json:4:3: error: no variable "wrkers" is declared in the grid [unknown-variable]\n'
            '  hint: did you mean "workers"?',
        ),
        (
            "v.json",
            '{\n  "workers": [1]\n}',
            'v.json:2:3: error: variable "workers" must be number (declared at main.hcl:2:1): '
            "expected number, got list [type-mismatch]\n"
            "  hint: give workers a value of type number",
        ),
        (
            "v.json",
            '{\n  "workers": 1,\n}',
            "v.json:3:1: error: invalid JSON: Expecting property name enclosed in double quotes "
            "[var-file]",
        ),
        (
            "v.json",
            "[1, 2]",
            "v.json:1:1: error: a JSON variable file holds one object of variable names and "
            'values [var-file]\n  hint: e.g. {"base_url": "http://127.0.0.1:8080"}',
        ),
        (
            "v.yaml",
            "workers: 1\n  debug: [\n",
            "v.yaml:2:8: error: invalid YAML: mapping values are not allowed here [var-file]",
        ),
        (
            "v.yaml",
            "base: &a [1]\nextra: *a\n",
            "v.yaml:2:8: error: invalid YAML: aliases (*name) are not supported in variable "
            "files [var-file]",
        ),
        (
            "v.yaml",
            "- 1\n- 2\n",
            "v.yaml:1:1: error: a YAML variable file holds one mapping of variable names and "
            "values [var-file]\n  hint: e.g. base_url: http://127.0.0.1:8080",
        ),
        (
            "v.yaml",
            "workers: 1\ndebug: true\nworkers: 2\n",
            'v.yaml:3:1: error: variable "workers" is set more than once in this file '
            "[duplicate-variable]\n  hint: keep one of the settings",
        ),
        (
            "v.yaml",
            "pages:\n  - a\n  - [b]\nlimits: {a: x}\n",
            'v.yaml:1:1: error: variable "pages" must be list(string) (declared at main.hcl:3:1): '
            "at [1]: expected string, got list [type-mismatch]\n"
            "  hint: give pages a value of type list(string)\n"
            'v.yaml:4:1: error: variable "limits" must be map(number) (declared at main.hcl:4:1): '
            'at a: expected number, got string "x" [type-mismatch]\n'
            "  hint: give limits a value of type map(number)",
        ),
        (
            "v.yaml",
            "token: hunter2\n",
            'v.yaml:1:1: error: variable "token" must be number (declared at main.hcl:7:1): '
            "expected number, got string [type-mismatch]\n"
            "  hint: give token a value of type number",
        ),
    ],
    ids=[
        "hcl-unknown",
        "hcl-type",
        "hcl-interpolation",
        "hcl-function",
        "hcl-block",
        "json-unknown-top-level-line",
        "json-type",
        "json-syntax",
        "json-not-object",
        "yaml-syntax",
        "yaml-alias",
        "yaml-not-mapping",
        "yaml-duplicate",
        "yaml-all-problems",
        "yaml-sensitive",
    ],
)
def test_file_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(LoadError) as info:
        collect(tmp_path, files={name: text}, var_files=(name,))
    assert str(info.value).replace(f"{tmp_path}/", "") == message


def test_hcl_syntax_error_points_into_the_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        collect(tmp_path, files={"v.hcl": "workers = 1\npages = [\n"}, var_files=("v.hcl",))
    diag = info.value.diagnostics[0]
    assert (Path(diag.file).name, diag.line) == ("v.hcl", 3)


def test_unreadable_encoding(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_bytes(b'{"workers": "\xff"}')
    with pytest.raises(LoadError) as info:
        collect(tmp_path, var_files=("v.json",))
    assert str(info.value).endswith(
        "v.json:1:1: error: the file is not UTF-8 text [unreadable-file]\n  hint: save it as UTF-8"
    )


TOKENS = [
    *'ab1.-_=[]{}()"$%\\:,#*&!\n ',
    "${",
    "%{",
    "<<EOT\n",
    "\nEOT",
    "true",
    "\xff",
    "&a",
    "*a",
]
TEXT = st.lists(st.sampled_from(TOKENS), max_size=15).map("".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(DECLARED)), text=TEXT)
def test_any_var_text_gives_a_value_or_a_usage_error(tmp_path: Path, name: str, text: str) -> None:
    with contextlib.suppress(UsageError):
        collect(tmp_path, var_args=(f"{name}={text}",))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(suffix=st.sampled_from([".hcl", ".json", ".yaml"]), text=TEXT)
def test_any_file_text_gives_values_or_a_load_error(tmp_path: Path, suffix: str, text: str) -> None:
    with contextlib.suppress(LoadError):
        collect(tmp_path, files={"v" + suffix: text}, var_files=("v" + suffix,))
