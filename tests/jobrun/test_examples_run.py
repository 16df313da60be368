"""The example jobs that need no service run on local nodes through ``gridflow run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflow.backends.test_backend import flaky_draw
from gridflow.cli import app

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples" / "jobs"
NODES = ("web-01", "web-02", "web-03")


def run(tmp_path: Path, example: str) -> tuple[int, dict[str, object]]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "nodes:\n"
        + "".join(f"  - {{ id: {n}, groups: [web], connection: local }}\n" for n in NODES)
    )
    result = CliRunner().invoke(
        app,
        ["run", str(EXAMPLES / example), "-i", str(inventory), "-o", "json"],
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.stdout)


def test_pipeline_and_barrier(tmp_path: Path) -> None:
    code, doc = run(tmp_path, "pipeline_and_barrier.yaml")
    assert code == 0
    results = doc["results"]
    assert isinstance(results, dict)
    assert list(results) == ["0.0", "0.1", "0.2", "1", "2"]
    assert {n: e["output"] for n, e in results["1"].items()} == dict.fromkeys(
        NODES, "all nodes prepared"
    )


def test_continue_with_budget_is_what_the_seeded_draws_say(tmp_path: Path) -> None:
    code, doc = run(tmp_path, "continue_with_budget.yaml")
    # test.flaky (rate 30, one retry) draws per node and attempt, seeded with
    # the job's name and the task's key: the outcome is known in advance.
    seed = "continue-with-budget:0"
    failed = [n for n in NODES if all(flaky_draw(n, a, seed) < 30 for a in (1, 2))]
    results = doc["results"]
    assert isinstance(results, dict)
    assert [n for n, e in results["0"].items() if e["status"] == "failed"] == failed
    tolerated = len(failed) <= 1  # "34%" of 3 nodes
    assert doc["status"] == ("success" if tolerated and len(failed) < 3 else "failed")
    assert code == (0 if doc["status"] == "success" else 1)
    cleanup = {n: e["status"] for n, e in results["3"].items()}
    assert cleanup == {n: "skipped" if n in failed else "success" for n in NODES}
