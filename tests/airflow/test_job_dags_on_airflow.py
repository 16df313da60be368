"""A job file dropped into a real Airflow's dags folder, run through the REST API.

The session's Airflow (api-server, scheduler, dag-processor, LocalExecutor;
tests/airflow/harness.py) parses the folder with the one-line loader; each
task runs in a worker process of its own, reading the inventory beside the
job and the records earlier tasks pushed. Which node fails comes from
``test flaky``'s seeded draws, computed here with the backend's own draw:
one node passes at once, one on its retry, one fails both attempts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.airflow.harness import AirflowServers

from gridflow.backends.test_backend import flaky_draw

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]

LOADER = '''"""Airflow DAGs: one per gridflow grid or job in this folder."""

from gridflow.provider import load_dags

load_dags(globals())
'''

INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
  - { id: web-03, groups: [web], connection: local }
"""

JOB = """\
name: af-job-6
target: group:web
strategy: continue
tasks:
  - name: install
    tasks:
      - { backend: ping, action: echo, params: { message: hello } }
      - { backend: test, action: flaky, params: { rate: 50 }, max_retries: 1 }
  - { backend: ping, action: echo, params: { message: report }, condition: on_failure }
  - { backend: ping, action: hostname, condition: always }
"""
NODES = ("web-01", "web-02", "web-03")
FLAKY = "phase0_install.0.1.test.flaky"


def draws() -> dict[str, str]:
    """Per node: "pass" (attempt 1), "retry" (fails 1, passes 2) or "fail" (both)."""
    out = {}
    for node in NODES:
        first, second = (flaky_draw(node, a, "af-job-6:0.1") < 50 for a in (1, 2))
        out[node] = "fail" if first and second else "retry" if first else "pass"
    return out


@pytest.fixture(scope="module")
def job_run(airflow: AirflowServers) -> tuple[str, str]:
    folder = airflow.dags_folder / "gridflow_jobs"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(INVENTORY)
    (folder / "af_job.yaml").write_text(JOB)
    (folder / "af_job_broken.yaml").write_text("target: all\ntasks:\n  - { backend: nosuch }\n")
    (folder / "loader.py").write_text(LOADER)
    airflow.client.wait_for_dag("af_job", timeout=120)
    t0 = time.monotonic()
    run_id, state = airflow.client.run_dag("af_job", timeout=400)
    print(f"af_job ran in {time.monotonic() - t0:.0f}s")
    return run_id, state


def _value(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else raw


def test_the_job_runs_as_its_rules_say(airflow: AirflowServers, job_run: tuple[str, str]) -> None:
    kinds = draws()
    assert sorted(kinds.values()) == ["fail", "pass", "retry"], "the draws changed"
    failing = next(n for n, k in kinds.items() if k == "fail")
    retried = next(n for n, k in kinds.items() if k == "retry")
    run_id, state = job_run
    assert state == "success"  # continue: the failed node is dropped, the job goes on
    doc = _value(airflow.client.xcom("af_job", run_id, "job.result"))
    assert doc["status"] == "success"
    assert doc["expected"] == list(NODES)
    flaky = doc["results"]["0.1"]
    assert {n: (e["status"], e["attempts"]) for n, e in flaky.items()} == {
        n: (("failed", 2) if k == "fail" else ("success", 2 if k == "retry" else 1))
        for n, k in kinds.items()
    }
    assert flaky[retried]["output"] == f"passed this time (node {retried}, attempt 2, rate 50%)"
    assert flaky[failing]["error"] == f"failed this time (node {failing}, attempt 2, rate 50%)"
    assert list(doc["dropped"]) == [failing]
    for key in ("1", "2"):  # on_failure and always run on the nodes still in the job
        assert {n: e["status"] for n, e in doc["results"][key].items()} == {
            n: "skipped" if n == failing else "success" for n in NODES
        }
    assert doc["results"]["2"][retried]["output"]  # uname -n ran on the worker


def test_task_states_show_each_node(airflow: AirflowServers, job_run: tuple[str, str]) -> None:
    kinds = draws()
    run_id, _ = job_run
    states = airflow.client.states("af_job", run_id)
    for i, node in enumerate(NODES):
        assert states[(FLAKY, i)] == ("failed" if kinds[node] == "fail" else "success"), node
        assert states[("1.ping.echo", i)] == ("skipped" if kinds[node] == "fail" else "success")
    assert states[("job.result", -1)] == "success"
    failing = NODES.index(next(n for n, k in kinds.items() if k == "fail"))
    record = _value(airflow.client.xcom("af_job", run_id, FLAKY, map_index=failing))
    assert [(r["attempt"], r["status"], r["final"]) for r in record] == [(2, "failed", True)]
    log = airflow.client.task_log("af_job", run_id, "1.ping.echo", map_index=failing)
    assert "skipped: dropped: failed 0.1 (test flaky) in phase 0" in log, log


def test_a_broken_job_file_is_a_broken_dag(
    airflow: AirflowServers, job_run: tuple[str, str]
) -> None:
    assert not [e for e in airflow.client.import_errors() if "gridflow_jobs" in e["filename"]]
    broken = airflow.client.wait_for_dag("af_job_broken")
    assert "gridflow-broken" in [t["name"] for t in broken["tags"]]
    assert broken["description"].startswith("BROKEN job: af_job_broken.yaml:3:")
