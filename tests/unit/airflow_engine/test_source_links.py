"""The "Grid source" / "Job source" URL rules, without Airflow (source_links.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridflow.engines.airflow.source_links import (
    link_path,
    render,
    source_link,
    template_problem,
)
from gridflow.plan.models import Location

GITHUB = "https://github.com/acme/grids/blob/main/{path}#L{line}"


@pytest.mark.parametrize(
    ("template", "path", "line", "expected"),
    [
        (GITHUB, "smoke.hcl", 7, "https://github.com/acme/grids/blob/main/smoke.hcl#L7"),
        (
            GITHUB,
            "team/api/load.hcl",
            12,
            "https://github.com/acme/grids/blob/main/team/api/load.hcl#L12",
        ),
        (
            "https://gitlab.test/g/r/-/blob/main/{path}#L{line}",
            "jobs/deploy.yaml",
            3,
            "https://gitlab.test/g/r/-/blob/main/jobs/deploy.yaml#L3",
        ),
        # Odd characters in a file name must not end the path or start a query/fragment.
        (
            GITHUB,
            "my grids/a b.hcl",
            1,
            "https://github.com/acme/grids/blob/main/my%20grids/a%20b.hcl#L1",
        ),
        (GITHUB, "x#1?.hcl", 2, "https://github.com/acme/grids/blob/main/x%231%3F.hcl#L2"),
        (
            GITHUB,
            "100%/a&b=c.hcl",
            2,
            "https://github.com/acme/grids/blob/main/100%25/a%26b%3Dc.hcl#L2",
        ),
        (
            GITHUB,
            "grüße/ü.hcl",
            4,
            "https://github.com/acme/grids/blob/main/gr%C3%BC%C3%9Fe/%C3%BC.hcl#L4",
        ),
        # Either placeholder may appear anywhere, more than once, or not at all.
        (
            "https://src.test/view?file={path}&line={line}",
            "a.hcl",
            9,
            "https://src.test/view?file=a.hcl&line=9",
        ),
        ("https://src.test/{path}/{path}", "a.hcl", 9, "https://src.test/a.hcl/a.hcl"),
        ("https://src.test/repo", "a.hcl", 9, "https://src.test/repo"),
        # Doubled braces are literal braces, as in Python's format strings.
        ("https://src.test/{{x}}/{path}", "a.hcl", 1, "https://src.test/{x}/a.hcl"),
    ],
    ids=[
        "github",
        "nested-path",
        "gitlab",
        "spaces",
        "hash-and-question-mark",
        "percent-ampersand-equals",
        "non-ascii",
        "query-string",
        "path-twice",
        "no-placeholders",
        "literal-braces",
    ],
)
def test_render(template: str, path: str, line: int, expected: str) -> None:
    assert template_problem(template) is None
    assert render(template, path, line) == expected


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("https://src.test/{file}#L{line}", "unknown placeholder {file}"),
        ("https://src.test/{path}#L{line}/{}", "unknown placeholder {}"),
        ("https://src.test/{path.__class__}", "unknown placeholder {path.__class__}"),
        ("https://src.test/{path[0]}", "unknown placeholder {path[0]}"),
        ("https://src.test/{path}#L{line:05d}", "formats {line}"),
        ("https://src.test/{path!r}", "formats {path}"),
        ("https://src.test/{path", "without its pair"),
        ("https://src.test/path}", "without its pair"),
        ("javascript:alert(1)//{path}", "not an http:// or https:// URL"),
        ("src.test/{path}", "not an http:// or https:// URL"),
        ("https:///{path}", "not an http:// or https:// URL"),
        ("https://bot:hunter2@src.test/{path}", "carries credentials"),
        ("https://token@src.test/{path}", "carries credentials"),
    ],
    ids=[
        "unknown-name",
        "positional",
        "attribute-access",
        "indexing",
        "format-spec",
        "conversion",
        "unclosed-brace",
        "lone-closing-brace",
        "javascript-scheme",
        "no-scheme",
        "no-host",
        "user-and-password",
        "user-only",
    ],
)
def test_bad_templates_say_what_is_wrong(template: str, says: str) -> None:
    problem = template_problem(template)
    assert problem is not None
    assert says in problem
    assert "hunter2" not in problem


def test_link_path_is_relative_to_the_first_root_holding_the_file(tmp_path: Path) -> None:
    bundle, dags = tmp_path / "bundle", tmp_path / "dags"
    roots = [str(bundle), str(dags)]
    assert link_path(str(bundle / "team" / "a.hcl"), roots) == "team/a.hcl"
    assert link_path(str(dags / "b.yaml"), roots) == "b.yaml"
    # Neither root holds it: no path, rather than a worker's absolute path in a URL.
    assert link_path(str(tmp_path / "elsewhere" / "c.hcl"), roots) is None
    assert (
        link_path(str(tmp_path / "bundle-2" / "c.hcl"), roots) is None
    )  # a prefix is not a folder
    assert link_path(str(bundle), roots) is None
    assert link_path(str(bundle / "a.hcl"), []) is None
    assert link_path(str(bundle / "a.hcl"), [""]) is None


def test_link_path_sees_through_symbolic_links(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "grids").mkdir(parents=True)
    (real / "grids" / "a.hcl").write_text("")
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    assert link_path(str(real / "grids" / "a.hcl"), [str(alias)]) == "grids/a.hcl"
    assert link_path(str(alias / "grids" / "a.hcl"), [str(real)]) == "grids/a.hcl"


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ("grids/smoke.hcl", "grids/smoke.hcl"),
        ("./grids/./smoke.hcl", "grids/smoke.hcl"),
        ("grids/../jobs/deploy.yaml", "jobs/deploy.yaml"),
        ("../other/smoke.hcl", None),
        ("..", None),
        ("<command line>", None),
        ("", None),
    ],
    ids=["plain", "dots", "inner-parent", "climbs-out", "parent-only", "command-line", "empty"],
)
def test_link_path_of_recorded_relative_paths(recorded: str, expected: str | None) -> None:
    # Compiled DAG files record paths as given to `gridflow compile`; roots do not apply.
    assert link_path(recorded, ["/nowhere"]) == expected


def _at(file: str, line: int = 5) -> Location:
    return Location(file=file, line=line, col=1)


@pytest.mark.parametrize(
    "template",
    ["", "   ", "\n"],
    ids=["empty", "spaces", "newline"],
)
def test_unset_template_gives_no_link_and_no_warning(template: str, tmp_path: Path) -> None:
    assert source_link(template, _at(str(tmp_path / "a.hcl")), [str(tmp_path)]) == ("", None)


def test_a_task_without_a_location_gives_no_link(tmp_path: Path) -> None:
    assert source_link(GITHUB, None, [str(tmp_path)]) == ("", None)


def test_source_link_of_a_loaded_grid(tmp_path: Path) -> None:
    link = source_link(
        f"  {GITHUB}\n", _at(str(tmp_path / "api" / "load test.hcl"), 14), [str(tmp_path)]
    )
    assert link == ("https://github.com/acme/grids/blob/main/api/load%20test.hcl#L14", None)


def test_source_link_of_a_compiled_dag(tmp_path: Path) -> None:
    link = source_link(GITHUB, _at("jobs/deploy.yaml", 8), [str(tmp_path)])
    assert link == ("https://github.com/acme/grids/blob/main/jobs/deploy.yaml#L8", None)


def test_bad_template_gives_no_link_and_a_warning(tmp_path: Path) -> None:
    url, warning = source_link(
        "https://src.test/{file}", _at(str(tmp_path / "a.hcl")), [str(tmp_path)]
    )
    assert url == ""
    assert warning is not None
    assert warning.startswith("[gridflow] source_url_template has an unknown placeholder {file}")


def test_credentials_in_the_template_are_refused_without_echoing_them(tmp_path: Path) -> None:
    template = "https://ci:s3cr3t-t0ken@src.test/{path}#L{line}"
    url, warning = source_link(template, _at(str(tmp_path / "a.hcl")), [str(tmp_path)])
    assert url == ""
    assert warning is not None
    assert "credentials" in warning
    assert "s3cr3t" not in warning


@pytest.mark.parametrize(
    ("file", "says"),
    [
        (
            os.path.join(os.sep, "srv", "elsewhere", "a.hcl"),
            "a.hcl: the file is not inside the DAG bundle",
        ),
        ("../up/b.hcl", "b.hcl: its recorded path '../up/b.hcl' climbs out"),
    ],
    ids=["outside-the-bundle", "compiled-from-below"],
)
def test_a_file_with_no_path_gives_no_link_and_says_why(
    file: str, says: str, tmp_path: Path
) -> None:
    url, warning = source_link(GITHUB, _at(file), [str(tmp_path)])
    assert url == ""
    assert warning is not None
    assert says in warning


def test_a_job_given_on_the_command_line_has_no_link_and_no_warning(tmp_path: Path) -> None:
    assert source_link(GITHUB, _at("<command line>"), [str(tmp_path)]) == ("", None)
