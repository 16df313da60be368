"""End-to-end grid runs through ``gridflow run -o json`` on each engine.

The Prefect engine's temporary API server costs ~15 s to start, so one
``prefect_test_harness`` serves the whole session; every run after that is a
real Prefect flow run costing about a second.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridflow.cli import app

ENGINES = ["local", "prefect"]


@dataclass
class RunResult:
    exit_code: int
    doc: dict[str, Any] | None
    stdout: str
    stderr: str

    def step(self, step_id: str) -> dict[str, Any]:
        assert self.doc is not None, self.stderr
        return self.doc["steps"][step_id]  # type: ignore[no-any-return]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "prefect":
        request.getfixturevalue("prefect_harness")
    return str(request.param)


GridRunner = Callable[..., RunResult]


@pytest.fixture
def run_grid(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> GridRunner:
    """Write ``files`` ({name: hcl text}) and run them with ``gridflow run -o json``."""
    monkeypatch.setenv("GRIDFLOW_HOME", str(tmp_path / "home"))

    def run(
        files: dict[str, str] | str, *args: str, env: dict[str, str] | None = None
    ) -> RunResult:
        if isinstance(files, str):
            files = {"main.hcl": files}
        grid = tmp_path / "grid"
        grid.mkdir(exist_ok=True)
        for name, text in files.items():
            path = grid / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(
            app, ["run", str(grid), "--engine", engine, "-o", "json", *args], catch_exceptions=False
        )
        doc = None
        if result.stdout.strip():
            doc = json.loads(result.stdout)
        return RunResult(result.exit_code, doc, result.stdout, result.stderr)

    return run
