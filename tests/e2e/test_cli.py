"""The command line as a user meets it: help, exit codes, output streams.

These run the real CLI in-process (typer's CliRunner) on grids written to a
temporary directory; nothing here needs a server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflow.cli import app
from gridflow.plan import Plan

GOOD = """\
variable "greeting" {
  type    = string
  default = "hello"
}

step "print" "first" {
  arguments { input = "${var.greeting} one" }
}

step "print" "second" {
  count = 2
  arguments { input = "${print.first.output} and ${count.index}" }
}
"""

REQUIRED_VAR = """\
variable "url" { type = string }
step "print" "p" {
  arguments { input = var.url }
}
"""

TWO_BROKEN_FILES = {
    "a.hcl": 'step "prnt" "x" {\n  arguments { input = "a" }\n}\n',
    "b.hcl": 'step "print" "y" {\n  arguments { inptu = "b" }\n}\n',
}


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    grid = tmp_path / "grid"
    grid.mkdir()
    for name, text in files.items():
        (grid / name).write_text(text)
    return grid


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["validate"], ["graph"], ["compile"], ["run"]],
    ids=["top", "validate", "graph", "compile", "run"],
)
def test_every_command_has_help(command: list[str]) -> None:
    code, out, _ = invoke(*command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert out.startswith("gridflow ")


def test_validate_ok_reports_on_stderr(tmp_path: Path) -> None:
    code, out, err = invoke("validate", str(write(tmp_path, {"main.hcl": GOOD})))
    assert code == 0
    assert out == ""
    assert "2 steps, 1 variables" in err


def test_validate_reports_every_error_at_once(tmp_path: Path) -> None:
    grid = write(tmp_path, TWO_BROKEN_FILES)
    code, out, err = invoke("validate", str(grid))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert any(line.startswith(f"{grid / 'a.hcl'}:1:") and "prnt" in line for line in lines), err
    assert any(line.startswith(f"{grid / 'b.hcl'}:2:") and "inptu" in line for line in lines), err
    assert "did you mean" in err
    assert lines[-1] == "2 errors found."
    assert "Traceback" not in err


def test_compile_plan_round_trips(tmp_path: Path) -> None:
    code, out, _ = invoke("compile", str(write(tmp_path, {"main.hcl": GOOD})), "--to", "plan")
    assert code == 0
    plan = Plan.model_validate_json(out)
    assert list(plan.steps) == ["print.first", "print.second"]
    assert plan.steps["print.second"].edges[0].upstream == "print.first"
    assert json.loads(plan.to_json()) == json.loads(out)


def test_compile_to_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    code, out, err = invoke("compile", str(write(tmp_path, {"main.hcl": GOOD})), "-o", str(target))
    assert code == 0
    assert out == ""
    assert f"wrote {target}" in err
    assert Plan.model_validate_json(target.read_text()).name


def test_compile_records_files_below_the_current_directory_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a compiled DAG's "Grid source" links show as {path}: the file's
    # place under where it was compiled, never the compiling machine's folders.
    grid = write(tmp_path, {"main.hcl": GOOD})
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("compile", str(grid.resolve()), "--to", "plan")
    assert code == 0
    plan = Plan.model_validate_json(out)
    assert plan.sources == ["grid/main.hcl"]
    assert {s.loc.file for s in plan.steps.values()} == {"grid/main.hcl"}
    assert plan.steps["print.second"].loc.line == 10
    # Outside the current directory a file stays as given.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = invoke("compile", str(grid.resolve()), "--to", "plan")
    assert code == 0
    assert Plan.model_validate_json(out).sources == [str(grid.resolve() / "main.hcl")]


def test_compile_records_a_job_file_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridflow.jobs.model import JobPlan

    job = tmp_path / "jobs" / "hello.yaml"
    job.parent.mkdir()
    job.write_text(
        "name: hello\ntarget: { scope: all }\ntasks:\n  - { backend: test, action: succeed }\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("compile", str(job.resolve()), "--to", "plan")
    assert code == 0, err
    plan = JobPlan.from_json(out)
    assert plan.source == "jobs/hello.yaml"
    assert [(t.loc.file, t.loc.line) for t in plan.tasks()] == [("jobs/hello.yaml", 4)]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("mermaid", "flowchart"), ("dot", "digraph")],
    ids=["mermaid", "dot"],
)
def test_graph_formats(tmp_path: Path, fmt: str, expected: str) -> None:
    code, out, _ = invoke("graph", str(write(tmp_path, {"main.hcl": GOOD})), "--format", fmt)
    assert code == 0
    assert expected in out
    assert "print.first" in out
    assert "print.second" in out


def test_run_missing_required_variable_is_bad_input(tmp_path: Path) -> None:
    grid = write(
        tmp_path,
        {"main.hcl": REQUIRED_VAR},
    )
    code, out, err = invoke("run", str(grid), "--engine", "local", "-o", "json")
    assert code == 2
    assert out == ""
    assert "no value for required variable(s) url" in err
    assert "-var url=VALUE" in err


def test_run_local_text_summary(tmp_path: Path) -> None:
    code, out, _ = invoke("run", str(write(tmp_path, {"main.hcl": GOOD})), "--engine", "local")
    assert code == 0
    assert "print.second" in out


def test_missing_path_is_bad_input(tmp_path: Path) -> None:
    code, _, err = invoke("validate", str(tmp_path / "nope"))
    assert code == 2
    assert "nope" in err


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    """The installed entry point, run as a user would, on broken input."""
    grid = write(tmp_path, TWO_BROKEN_FILES)
    proc = subprocess.run(
        [sys.executable, "-m", "gridflow", "validate", str(grid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.rstrip().endswith("2 errors found.")


def test_internal_error_is_reported_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gridflow.cli as cli
    import gridflow.plan.graph as graph

    def broken(plan: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(graph, "to_mermaid", broken)
    monkeypatch.delenv("GRIDFLOW_DEBUG", raising=False)
    monkeypatch.setattr(
        sys, "argv", ["gridflow", "graph", str(write(tmp_path, {"main.hcl": GOOD}))]
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err
    assert "GRIDFLOW_DEBUG=1" in err
    assert "Traceback" not in err
