"""A job file dropped into a real Airflow's dags folder, run through the REST API.

The session's Airflow (api-server, scheduler, dag-processor, LocalExecutor;
tests/airflow/harness.py) parses the folder with the one-line loader; each
task runs in a worker process of its own, reading the inventory beside the
job and the records earlier tasks pushed. Which node fails comes from
``test flaky``'s seeded draws, computed here with the backend's own draw:
one node passes at once, one on its retry, one fails both attempts. A second
job has during-checks: sensors beside its phases, one of which fails.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from tests.airflow.harness import AirflowServers
from tests.support.http_server import LocalHTTPServer

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


# ------------------------------------------------------------ during checks
#
# A job whose phases are watched by during-checks sensors (poke mode: each
# holds a worker slot beside its phase; PARALLELISM 4 = two nodes' tasks, the
# phase's sensor and the job's). Phase 0's probe passes; phase 1's server
# breaks after six answers, so its seventh round (some 6 s into the phase,
# while step 1 sleeps 15 s on both nodes) fails the phase: step 1, running,
# finishes; step 2, which starts after that, is cancelled.

DURING_INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
"""

DURING_JOB = """\
name: af-during
target: group:web
checks:
  during: {{ interval: 1s, checks: [{{ backend: ping, action: hostname }}] }}
tasks:
  - backend: cmd
    action: run
    params: {{ shell: "sleep 8" }}
    checks:
      during: {{ interval: 1s, checks: [{{ http: {{ url: "{passes}" }} }}] }}
  - name: breaks
    tasks:
      - {{ backend: cmd, action: run, params: {{ shell: "sleep 15" }} }}
      - {{ backend: ping, action: echo, params: {{ message: never }} }}
    checks:
      during: {{ interval: 1s, checks: [{{ http: {{ url: "{breaks}" }} }}] }}
  - {{ backend: ping, action: echo, params: {{ message: next }} }}
  - {{ backend: ping, action: echo, params: {{ message: undo }}, condition: on_failure }}
"""
WEB = ("web-01", "web-02")


@pytest.fixture(scope="module")
def during_run(airflow: AirflowServers, http_server: LocalHTTPServer) -> dict[str, Any]:
    key = uuid.uuid4().hex
    passes = f"{http_server.url}/echo?test={key}"
    breaks = f"{http_server.url}/fail-after/{key}/6"
    folder = airflow.dags_folder / "gridflow_during"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(DURING_INVENTORY)
    (folder / "af_during.yaml").write_text(DURING_JOB.format(passes=passes, breaks=breaks))
    (folder / "loader.py").write_text(LOADER)
    airflow.client.wait_for_dag("af_during", timeout=120)
    t0 = time.monotonic()
    run_id, state = airflow.client.run_dag("af_during", timeout=400)
    print(f"af_during ran in {time.monotonic() - t0:.0f}s")
    probes = http_server.requests(lambda r: r.query.get("test") == key)
    return {"run_id": run_id, "state": state, "probes": len(probes), "breaks": breaks}


def test_during_checks_watch_each_phase_and_a_failing_round_stops_it(
    airflow: AirflowServers, during_run: dict[str, Any]
) -> None:
    run_id = during_run["run_id"]
    assert during_run["state"] == "failed"  # job.result fails with the job
    doc = _value(airflow.client.xcom("af_during", run_id, "job.result"))
    assert doc["status"] == "failed"
    checks = {(c["scope"], c["node"]): c for c in doc["checks"]}
    assert set(checks) == {("0", None), ("1", None), ("job", "web-01"), ("job", "web-02")}
    passed = checks[("0", None)]
    assert (passed["status"], passed["failures"]) == ("success", 0)
    assert passed["runs"] >= 2
    assert passed["runs"] == during_run["probes"]  # one probe per round, from the worker
    broke = checks[("1", None)]
    assert (broke["status"], broke["runs"], broke["failures"]) == ("failed", 7, 1)
    assert "503" in broke["error"]
    phases = doc["phases"]
    assert [phases[i]["status"] for i in "0123"] == ["success", "failed", "skipped", "success"]
    assert phases["1"]["error"]["message"].startswith(
        f"phase 1 during-check GET {during_run['breaks']} failed: "
    )
    results = doc["results"]
    assert {n: e["status"] for n, e in results["1.0"].items()} == dict.fromkeys(WEB, "success")
    assert {n: e["status"] for n, e in results["1.1"].items()} == dict.fromkeys(WEB, "cancelled")
    assert {n: e["status"] for n, e in results["3"].items()} == dict.fromkeys(WEB, "success")
    # the job's check ran on both nodes until the stop, and passed
    for node in WEB:
        assert checks[("job", node)]["status"] == "success"
        assert checks[("job", node)]["runs"] >= 2


def test_during_sensors_end_as_their_rounds_did(
    airflow: AirflowServers, during_run: dict[str, Any]
) -> None:
    run_id = during_run["run_id"]
    states = airflow.client.states("af_during", run_id)
    assert states[("0.during_checks", -1)] == "success"
    assert states[("1.during_checks", -1)] == "failed"
    assert states[("job.during_checks", -1)] == "success"  # a stop ends the job's rounds
    for i in range(len(WEB)):
        assert states[("phase1_breaks.1.1.ping.echo", i)] == "skipped"
    log = airflow.client.task_log("af_during", run_id, "1.during_checks")
    assert f"phase 1 during-check GET {during_run['breaks']}: failed" in log, log
    # step 1 ended after the stop: the node's chain goes no further
    log = airflow.client.task_log("af_during", run_id, "phase1_breaks.1.1.ping.echo", map_index=0)
    assert "skip cancelled: phase 1 was aborted" in log, log


def test_job_tasks_link_to_their_line_in_the_job_file(
    airflow: AirflowServers, during_run: dict[str, Any]
) -> None:
    # [gridflow] source_url_template is set for the servers (conftest.py);
    # links are made on the worker however the task ended.
    run_id = during_run["run_id"]

    def url(needle: str | None) -> str:
        lines = DURING_JOB.splitlines()
        (line,) = [i for i, row in enumerate(lines, 1) if needle in row] if needle else [1]
        return f"https://git.test/acme/ops/blob/main/gridflow_during/af_during.yaml#L{line}"

    cases = [
        ("1.during_checks", -1, "{breaks}"),  # a failed sensor: its phase's during check
        ("phase1_breaks.1.1.ping.echo", 1, "message: never"),  # skipped (cancelled)
        ("job.result", -1, None),  # failed with the job: the job file
    ]
    for task_id, map_index, needle in cases:
        links = airflow.client.extra_links("af_during", run_id, task_id, map_index=map_index)
        assert links == {"Job source": url(needle)}, task_id
