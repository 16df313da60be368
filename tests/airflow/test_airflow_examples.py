"""dags_examples/airflow: the loader builds every grid's DAG, and each grid runs
green on ``gridflow run --engine airflow`` (the same DAG, in this process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflow.cli import app

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples" / "airflow"
GRIDS = sorted(p.stem for p in EXAMPLES.glob("*.hcl"))


def test_loader_builds_one_dag_per_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("GRIDFLOW_CACHE_DIR", str(tmp_path / "cache"))
    bag = DagBag(str(EXAMPLES / "gridflow_dags.py"))
    assert bag.import_errors == {}
    assert sorted(bag.dags) == GRIDS
    chain = bag.dags["fleet_greetings"]
    assert chain.get_task("print__greet.print.shout").upstream_task_ids == {
        "print__greet.print.greet",
        "print.greet.instances",  # what the mapped task group expands over
    }
    assert chain.params["team"] == ["ada", "grace", "linus"]


@pytest.mark.parametrize(
    ("grid", "step", "expected"),
    [
        ("fleet_greetings", "print.summary", "3 greetings: HELLO ADA, HELLO GRACE, HELLO LINUS"),
        ("retry_until_ready", "print.done", "ready after 3 tries"),
        ("disk_check", "print.report", None),
    ],
)
def test_example_runs_on_the_airflow_engine(grid: str, step: str, expected: str | None) -> None:
    result = CliRunner().invoke(
        app,
        ["run", str(EXAMPLES / f"{grid}.hcl"), "--engine", "airflow", "-o", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "success"
    if expected is not None:
        assert doc["steps"][step]["output"] == expected
    if grid == "retry_until_ready":
        assert doc["steps"]["cmd.flaky"]["attempts"] == 3  # Airflow's try number
    if grid == "disk_check":
        assert doc["steps"]["cmd.optional_tool"]["status"] == "failed"
        assert doc["steps"]["print.low_space"]["status"] == "skipped"
        assert "tool=failed" in doc["steps"][step]["output"]


def test_a_task_run_builds_only_its_own_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("GRIDFLOW_CACHE_DIR", str(tmp_path / "cache"))
    # What Airflow sets in the process that runs one task of one DAG.
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "disk_check")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "print.report")
    bag = DagBag(str(EXAMPLES / "gridflow_dags.py"))
    assert sorted(bag.dags) == ["disk_check"]
    # Only its plan was compiled and cached.
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
