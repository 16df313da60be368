"""``gridflow run JOB.yaml --engine prefect``: the same document as ``--engine local``.

One job on three ``connection: local`` nodes, run through the CLI on each
engine. Which node fails comes from ``test flaky``'s seeded draws (the same
on every engine and machine), computed here with the backend's own draw.
tests/airflow/test_jobs_on_airflow.py runs this on ``--engine airflow``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridflow.backends.test_backend import flaky_draw
from gridflow.cli import app

pytestmark = pytest.mark.timeout(300)

INVENTORY = """\
nodes:
  - { id: n1, groups: [fleet], connection: local }
  - { id: n2, groups: [fleet], connection: local }
  - { id: n3, groups: [fleet], connection: local }
  - { id: other, groups: [elsewhere], connection: local }
"""

JOB = """\
name: flaky-fleet
target: group:fleet
strategy: continue
tasks:
  - name: install
    tasks:
      - { backend: ping, action: echo, params: { message: hello } }
      - { backend: test, action: flaky, params: { rate: 50 }, max_retries: 1 }
      - { backend: ping, action: echo, params: { message: fix }, condition: on_failure }
  - { backend: test, action: succeed, params: { message: after } }
  - { backend: ping, action: echo, params: { message: report }, condition: on_failure }
  - { backend: ping, action: echo, params: { message: tidy }, condition: always }
"""
NODES = ("n1", "n2", "n3")


def flaky_failures() -> set[str]:
    """The nodes whose two attempts at 0.1 both draw a failure (rate 50 %)."""
    seed = "flaky-fleet:0.1"  # the job's name and the task's key
    return {n for n in NODES if all(flaky_draw(n, a, seed) < 50 for a in (1, 2))}


def run_job_cli(tmp_path: Path, engine: str) -> tuple[int, dict[str, Any], str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "job.yaml").write_text(JOB)
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(tmp_path / "job.yaml"),
            "-i",
            str(tmp_path / "inventory.yaml"),
            "--engine",
            engine,
            "-o",
            "json",
        ],
        env={"GRIDFLOW_INVENTORY": "", "GRIDFLOW_HOME": str(tmp_path / "home")},
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.stdout), result.stderr


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """What every engine must report alike (not ids, times or durations)."""
    return {
        "name": doc["name"],
        "status": doc["status"],
        "step": doc["step"],
        "expected": doc["expected"],
        "results": {
            key: {
                n: (e["status"], e["attempts"], e["output"], e["error"], e.get("reason"))
                for n, e in by_node.items()
            }
            for key, by_node in doc["results"].items()
        },
        "phases": {
            i: (p["status"], p["nodes"], p["failed_nodes"], p.get("error"), p.get("reason"))
            for i, p in doc["phases"].items()
        },
        "dropped": doc["dropped"],
        "error": doc.get("error"),
    }


def check_against_local(tmp_path: Path, engine: str) -> None:
    """Run the job on ``engine`` and on the local engine: the same document."""
    code, doc, err = run_job_cli(tmp_path / engine, engine)
    local_code, local_doc, _ = run_job_cli(tmp_path / "local", "local")
    failing = flaky_failures()
    assert failing, "the draws no longer make a mixed fleet"
    assert failing != set(NODES), "the draws no longer make a mixed fleet"
    assert (code, local_code) == (0, 0), err
    assert doc["status"] == "success"
    assert doc["expected"] == list(NODES)
    assert {n for n, e in doc["results"]["0.1"].items() if e["status"] == "failed"} == failing
    assert {n for n, e in doc["results"]["0.2"].items() if e["status"] == "success"} == failing
    assert sorted(doc["dropped"]) == sorted(failing)
    assert {n for n, e in doc["results"]["3"].items() if e["status"] == "success"} == (
        set(NODES) - failing
    )
    assert comparable(doc) == comparable(local_doc)


@pytest.mark.prefect
def test_prefect_gives_the_local_document(tmp_path: Path, prefect_harness: None) -> None:
    check_against_local(tmp_path, "prefect")
