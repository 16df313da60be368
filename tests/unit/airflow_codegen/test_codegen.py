"""``gridflow compile --to airflow`` without Airflow: what the generated DAG file
holds, that nothing from a grid can become code, and that ruff finds it clean.

tests/airflow/test_codegen.py imports the generated files under Airflow and
checks they build the same DAG as the in-memory builder.
"""

from __future__ import annotations

import ast
import io
import json
import random
import shutil
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gridflow.cli import app
from gridflow.engines.airflow.codegen import py_str, render_dag_module
from gridflow.errors import UsageError
from gridflow.plan import Plan
from gridflow.plan.variables import public_plan
from gridflow.translators.hcl import load_grid

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "dags_examples" / "grids").iterdir()) + sorted(
    (ROOT / "dags_examples" / "airflow").glob("*.hcl")
)
_VENV_RUFF = Path(sys.executable).with_name("ruff")
RUFF = str(_VENV_RUFF) if _VENV_RUFF.exists() else shutil.which("ruff")
EXAMPLE_FILE = ROOT / "dags_examples" / "airflow" / "compiled_fleet_greetings.py"
EXAMPLE_COMMAND = (
    "gridflow compile dags_examples/airflow/fleet_greetings.hcl --to airflow "
    "--dag-id fleet_greetings_compiled -o dags_examples/airflow/compiled_fleet_greetings.py"
)
SECRET = "s3cr3t-default-value"

# Pieces that break naive code generation: quotes of every kind, escapes,
# line breaks Python or editors honour, template syntax, comments, NUL, bidi.
NASTY = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\n",
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x0c",
    "${x}",
    "%{ if }",
    "#",
    "\x00",
    "\u202e",
    "\ufeff",
    "é",
    "\U0001f600",
    "{",
    "}",
    "\\N{BULLET}",
    "\\x41",
    "r'",
    'f"{__import__("os")}"',
    ")\nimport os\n(",
]
nasty_text = st.lists(st.sampled_from(NASTY) | st.text(max_size=8), max_size=8).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)

HOSTILE = r"""
variable "we\"ird" {
  type        = string
  default     = "a\"\"\" ''' \\ \n \u2028 $${x} # \u0000 \u202e end\\"
  description = "desc \"\"\" ''' \\ \n \u2028 $${x} # \u0000 )\nimport os\n("
}
variable "token" {
  type        = string
  default     = "s3cr3t-default-value"
  sensitive   = true
  description = "\"\"\"\n# not a comment"
}
variable "nested" {
  type      = object({ a = string, b = optional(list(number)) })
  default   = { a = "s3cr3t-default-value-2", b = [1, 2.5] }
  sensitive = true
}
variable "obj" {
  type    = map(string)
  default = { "k\"'" = "v\\" }
}
step "print" "a-b" {
  arguments { input = "'''\"\"\" \\ ${var.token} \u2028 # \"\"\")" }
}
step "print" "A_b" {
  for_each = toset(["x", "\"\"\""])
  retry {
    attempts = 2
    delay    = "1s"
  }
  arguments { input = print.a-b.output }
}
step "print" "c" {
  arguments { input = print.A_b[each].output }
}
step "print" "print" {
  arguments { input = "${print.c.output}" }
}
"""


def _load(path: Path) -> Plan:
    plan: Plan = load_grid([path], environ={}).plan
    return plan


def _hostile_plan(tmp_path: Path) -> Plan:
    folder = tmp_path / 'gr"id\'\n"""x #${y}\u2028'
    folder.mkdir()
    (folder / 'main """ #\'.hcl').write_text(HOSTILE, encoding="utf-8")
    return _load(folder)


def _embedded_plan(text: str) -> Plan:
    tree = ast.parse(text)
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and ast.unparse(stmt.targets[0]) == "PLAN_JSON":
            return Plan.from_json(ast.literal_eval(stmt.value))
    raise AssertionError("no PLAN_JSON")


ALLOWED_CALLS = {
    "LazyPlan",
    "DAG",
    "Param",
    "GridStepOperator",
    "GridInstancesOperator",
    "GridStepOperator.partial",
    "task_group",
    "timedelta",
    "dag.get_task",
}
ALLOWED_IMPORTS = {
    "datetime": {"timedelta"},
    "airflow.sdk": {"DAG", "Param", "task_group"},
    "gridflow.operators.grid": {"GridInstancesOperator", "GridStepOperator"},
    "gridflow.plan": {"LazyPlan"},
}
ALLOWED_COMMENTS = {"# Dependencies (besides the mapping over instances tasks)."}


def check_structure(text: str) -> None:
    """Only the statements, calls, names and comments the generator writes."""
    assert text.isascii()
    tree = ast.parse(text)
    body = tree.body
    assert isinstance(body[0], ast.Expr)
    assert isinstance(body[0].value, ast.Constant)
    assert isinstance(body[0].value.value, str)
    kinds = []
    for stmt in body[1:]:
        if isinstance(stmt, ast.ImportFrom):
            assert stmt.module in ALLOWED_IMPORTS, stmt.module
            assert {a.name for a in stmt.names} <= ALLOWED_IMPORTS[stmt.module]
            assert all(a.asname is None for a in stmt.names)
            kinds.append("import")
        elif isinstance(stmt, ast.Assign):
            kinds.append(ast.unparse(stmt.targets[0]))
        else:
            assert isinstance(stmt, ast.With)
            kinds.append("with")
    assert kinds[-3:] == ["PLAN_JSON", "PLAN", "with"]
    assert set(kinds[:-3]) == {"import"}
    assert ast.unparse(body[-2].value) == "LazyPlan(PLAN_JSON)"  # type: ignore[attr-defined]
    with_stmt = body[-1]
    assert isinstance(with_stmt, ast.With)
    assert ast.unparse(with_stmt.items[0].optional_vars) == "dag"  # type: ignore[arg-type]
    _check_block(with_stmt.body, top=True)
    for node in ast.walk(tree):
        assert not isinstance(
            node,
            (ast.JoinedStr, ast.Lambda, ast.Subscript, ast.Starred, ast.Import, ast.Global),
        )
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            assert func in ALLOWED_CALLS or func.endswith(".expand"), func
            assert not any(k.arg is None for k in node.keywords)  # no **kwargs
        if isinstance(node, ast.Attribute):
            assert node.attr in {"from_json", "partial", "expand", "output", "get_task"}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            assert tok.string in ALLOWED_COMMENTS, tok.string


def _check_block(stmts: list[ast.stmt], *, top: bool) -> None:
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            assert len(stmt.targets) == 1
            assert isinstance(stmt.targets[0], ast.Name)
            assert isinstance(stmt.value, ast.Call)
        elif isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.BinOp):
                assert isinstance(value.op, ast.RShift)
                assert isinstance(value.left, ast.Name)
                assert isinstance(value.right, ast.Name)
            else:
                assert isinstance(value, ast.Call)
        elif isinstance(stmt, ast.FunctionDef):
            assert top
            assert [ast.unparse(d.func) for d in stmt.decorator_list] == ["task_group"]  # type: ignore[attr-defined]
            assert [a.arg for a in stmt.args.args] == ["position"]
            _check_block(stmt.body, top=False)
        else:
            assert isinstance(stmt, ast.Pass), ast.dump(stmt)


def ruff_problems(files: dict[str, str], tmp_path: Path) -> str:
    """ruff check and ruff format --check (defaults, --isolated) on ``files``.

    Run from a folder without gridflow's sources: from the repo root ruff's
    isort would take gridflow for first-party and want its own import block,
    while next to Airflow (a dags folder) it is third-party like Airflow.
    """
    if RUFF is None:
        pytest.skip("ruff is not installed")
    folder = tmp_path / "ruffed"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    out = []
    for args in (
        ["check", "--isolated", "--no-cache"],
        ["format", "--isolated", "--check", "--diff"],
    ):
        proc = subprocess.run(
            [RUFF, *args, "."], cwd=folder, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            out.append(proc.stdout + proc.stderr)
    return "\n".join(out)


# ------------------------------------------------------------------- tests


def test_examples_and_hostile_grids_are_ruff_clean_and_plain(tmp_path: Path) -> None:
    plans = {p.stem if p.suffix else p.name: _load(p) for p in EXAMPLES}
    plans["hostile"] = _hostile_plan(tmp_path)
    files: dict[str, str] = {}
    for name, plan in plans.items():
        text = render_dag_module(plan, source_note=f"gridflow compile {name}")
        check_structure(text)
        assert _embedded_plan(text) == public_plan(plan)
        files[f"dag_{name}.py"] = text
    assert len(files) >= 12
    assert ruff_problems(files, tmp_path) == ""


def test_hostile_grid_text_stays_data(tmp_path: Path) -> None:
    plan = _hostile_plan(tmp_path)
    text = render_dag_module(plan, source_note='x"""\n#y\\')
    check_structure(text)
    embedded = _embedded_plan(text)
    assert embedded == public_plan(plan)
    assert embedded.name == plan.name  # the hostile folder name, intact as data
    assert embedded.variables['we\\"ird'].default == plan.variables['we\\"ird'].default
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "(main_.hcl)" in docstring  # the file name only, sanitized
    assert '"' not in docstring
    assert "\\" not in docstring
    # Each distinct Python name once, however the step ids collide.
    tree = ast.parse(text)
    names = [
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) != "dag.get_task"
        and ast.unparse(node.value.func) != "LazyPlan"
    ]
    assert len(names) == len(set(names)) == 5  # a-b, A_b counter, A_b, c, print
    assert all(n.isidentifier() for n in names)


def test_sensitive_defaults_never_reach_the_file(tmp_path: Path) -> None:
    plan = _hostile_plan(tmp_path)
    assert plan.variables["token"].default == SECRET  # the grid has them
    text = render_dag_module(plan)
    for secret in (SECRET, SECRET + "-2"):
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text
    embedded = _embedded_plan(text)
    for name in ("token", "nested"):
        assert embedded.variables[name].default is None
        assert not embedded.variables[name].has_default
    # Non-sensitive defaults stay.
    assert embedded.variables["obj"].default == {"k\"'": "v\\"}


def test_public_plan_only_drops_sensitive_defaults(tmp_path: Path) -> None:
    plan = _hostile_plan(tmp_path)
    public = public_plan(plan)
    assert public.steps == plan.steps
    for name, var in plan.variables.items():
        if var.sensitive:
            assert public.variables[name] == var.model_copy(
                update={"default": None, "has_default": False}
            )
        else:
            assert public.variables[name] == var


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=nasty_text)
def test_py_str_is_an_ascii_literal_of_the_text(text: str) -> None:
    literal = py_str(text)
    assert literal.isascii()
    assert "\n" not in literal
    assert "\r" not in literal
    assert ast.literal_eval(literal) == text
    tree = ast.parse(f"x = {literal}\n")
    assert isinstance(tree.body[0], ast.Assign)


def test_py_str_is_stable_under_ruff_format(tmp_path: Path) -> None:
    rng = random.Random(4)
    pieces = [*NASTY, "a", " "]
    lines = [
        "x = " + py_str("".join(rng.choices(pieces, k=rng.randint(0, 12)))) for _ in range(400)
    ]
    assert ruff_problems({"strings.py": "\n".join(lines) + "\n"}, tmp_path) == ""


def _mutated(base: Plan, name: str, desc: str, default: Any, arg: str, file: str) -> Plan:
    """``base`` with grid text replaced by hostile text wherever a Plan carries it."""
    var = next(iter(base.variables.values()))
    loc = var.loc.model_copy(update={"file": file})
    variables = {
        name: var.model_copy(
            update={"name": name, "description": desc, "default": default, "loc": loc}
        ),
        "other": var.model_copy(update={"name": "other", "description": arg}),
    }
    steps = {}
    for sid, step in base.steps.items():
        arguments = {
            k: e.model_copy(update={"text": arg, "loc": loc}) for k, e in step.arguments.items()
        }
        steps[sid] = step.model_copy(update={"arguments": arguments, "loc": loc})
    return base.model_copy(
        update={"name": name, "sources": [file], "variables": variables, "steps": steps}
    )


BASE_GRID = """
variable "v" {
  type    = any
  default = 1
}
step "print" "a" {
  for_each = toset(["x"])
  arguments { input = "x" }
}
step "print" "b" {
  arguments { input = print.a[each].output }
}
step "print" "c" {
  retry {
    attempts = 2
    backoff  = "exponential"
  }
  arguments { input = print.b.output }
}
"""


@pytest.fixture(scope="module")
def base_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("base") / "base.hcl"
    path.write_text(textwrap.dedent(BASE_GRID), encoding="utf-8")
    return _load(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=nasty_text.filter(bool),
    desc=nasty_text,
    default=json_values,
    arg=nasty_text,
    file=nasty_text,
)
def test_hostile_plan_text_never_becomes_code(
    base_plan: Plan, name: str, desc: str, default: Any, arg: str, file: str
) -> None:
    plan = _mutated(base_plan, name, desc, default, arg, file)
    text = render_dag_module(plan, source_note=arg)
    check_structure(text)
    assert _embedded_plan(text) == plan  # no sensitive variable here: all of it


def test_hostile_plans_are_ruff_clean(base_plan: Plan, tmp_path: Path) -> None:
    rng = random.Random(7)

    def nasty() -> str:
        return "".join(rng.choices(NASTY, k=rng.randint(1, 6)))

    files = {}
    for i in range(25):
        default: Any = [nasty(), {nasty(): [nasty() * 5, 1.5]}] if i % 2 else nasty() * (i + 1)
        plan = _mutated(base_plan, nasty(), nasty() * 20, default, nasty(), nasty())
        files[f"hostile_{i}.py"] = render_dag_module(plan, source_note=nasty())
    assert ruff_problems(files, tmp_path) == ""


def test_ids_airflow_would_refuse_are_usage_errors(tmp_path: Path, base_plan: Plan) -> None:
    with pytest.raises(UsageError, match="DAG id"):
        render_dag_module(base_plan, dag_id="has space")
    with pytest.raises(UsageError, match="DAG id"):
        render_dag_module(base_plan, dag_id="x\n")
    step = base_plan.steps["print.c"]
    renamed = step.model_copy(update={"id": "print.c\n"})
    bad = base_plan.model_copy(update={"steps": {**base_plan.steps, "print.c\n": renamed}})
    with pytest.raises(UsageError, match="cannot be an Airflow task id"):
        render_dag_module(bad)


def test_long_names_stay_ruff_clean(tmp_path: Path) -> None:
    long = "n" * 100
    grid = f"""
    variable "{long}" {{
      type    = list(string)
      default = ["{"a" * 100}", "b"]
      description = "{"d" * 200}"
    }}
    step "print" "{long}" {{
      count = 2
      arguments {{ input = "x" }}
    }}
    step "print" "{long}2" {{
      arguments {{ input = print.{long}[each].output }}
    }}
    step "print" "after" {{
      arguments {{ input = print.{long}2.output }}
    }}
    """
    path = tmp_path / ("g" * 100 + ".hcl")
    path.write_text(textwrap.dedent(grid), encoding="utf-8")
    text = render_dag_module(_load(path))
    check_structure(text)
    assert ruff_problems({"long.py": text}, tmp_path) == ""


# -------------------------------------------------------------------- CLI


def test_cli_compile_to_airflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    grid = "dags_examples/airflow/fleet_greetings.hcl"
    plan = _load(Path(grid))
    runner = CliRunner()
    result = runner.invoke(app, ["compile", grid, "--to", "airflow"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == render_dag_module(
        plan, source_note=f"gridflow compile {grid} --to airflow"
    )
    out = tmp_path / "dag.py"
    result = runner.invoke(
        app, ["compile", grid, "--to", "airflow", "-o", str(out), "--dag-id", "x1"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr
    assert 'dag_id="x1"' in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "airflow", "--dag-id", "bad id"], "cannot be an Airflow DAG id"),
        (["--dag-id", "x"], "--dag-id goes with --to airflow"),
    ],
)
def test_cli_bad_input_exits_2_without_traceback(args: list[str], message: str) -> None:
    grid = str(ROOT / "dags_examples" / "airflow" / "fleet_greetings.hcl")
    result = CliRunner().invoke(app, ["compile", grid, *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_step_id_airflow_refuses(tmp_path: Path) -> None:
    (tmp_path / "g.hcl").write_text('step "print" "a b" {\n  arguments { input = 1 }\n}\n')
    result = CliRunner().invoke(app, ["compile", str(tmp_path / "g.hcl"), "--to", "airflow"])
    assert result.exit_code == 2
    assert "cannot be an Airflow task id" in result.stderr
    assert "Traceback" not in result.stderr


def test_checked_in_example_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    plan = _load(Path("dags_examples/airflow/fleet_greetings.hcl"))
    fresh = render_dag_module(plan, dag_id="fleet_greetings_compiled", source_note=EXAMPLE_COMMAND)
    assert EXAMPLE_FILE.read_text(encoding="utf-8") == fresh, (
        f"{EXAMPLE_FILE.name} is stale; regenerate it from the repository root with: "
        f"{EXAMPLE_COMMAND}"
    )
