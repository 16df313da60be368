"""Jobs on Airflow: the job semantics scenarios on ``--engine airflow``, and the loader.

Each scenario runs twice on real ``connection: local`` nodes: on the local
engine, and on Airflow's DAG test mode (the DAG the dags-folder loader
builds, run in this process, its tasks deciding from XCom records). Both
documents must agree on every status, attempt, output, error, phase and
dropped node, and the table's expectations (tests/jobrun/test_semantics.py)
must hold.

DAG test mode runs one task at a time, in an order Airflow does not fix.
Where the local engine's fail-fast stop finds the other nodes finished
(their failures come late), Airflow would find some not yet started and
report them cancelled. So the scenarios that stop a phase fail with one
retry: the stop comes at the failing node's second attempt, when every
other node of the phase has had its turn, whatever the order.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_cli_job_engines import check_against_local
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import DIR, cmd, fails_on, job, mark, pipeline, sleep_on
from tests.jobrun.test_replay import comparable
from tests.jobrun.test_semantics import CASES, Case, check_case
from tests.support.http_server import LocalHTTPServer
from tests.support.job_nodes import LocalTransport

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

S, F, K, T = "success", "failed", "skipped", "timeout"


def each(status: str) -> dict[str, str]:
    return dict.fromkeys(("n1", "n2", "n3"), status)


TABLE = {c.id: c for c in CASES}
SCENARIOS = [
    Case(
        "barrier-then-pipeline-judged-per-node-continue",
        job(
            mark("first"),
            pipeline(
                cmd(fails_on("n2")),
                mark("next"),
                mark("fix", condition="on_failure"),
                mark("tidy", condition="always"),
            ),
            mark("after"),
            strategy="continue",
        ),
        "success",
        {
            "0": each(S),
            "1.0": {"n1": S, "n2": F, "n3": S},
            "1.1": {"n1": S, "n2": K, "n3": S},
            "1.2": {"n1": K, "n2": S, "n3": K},
            "1.3": each(S),
            "2": {"n1": S, "n2": K, "n3": S},
        },
        ran={
            "next": ["n1", "n3"],
            "fix": ["n2"],
            "tidy": ["n1", "n2", "n3"],
            "after": ["n1", "n3"],
        },
        dropped=["n2"],
    ),
    Case(
        "fail-fast-skips-then-rolls-back-and-cleans-up-everywhere",
        job(
            cmd(fails_on("n2"), max_retries=1),
            mark("after"),
            mark("rollback", condition="on_failure"),
            mark("success", condition="on_success"),
            mark("cleanup", condition="always"),
        ),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": S}, "1": each(K), "2": each(S), "3": each(K), "4": each(S)},
        ran={
            "after": [],
            "rollback": ["n1", "n2", "n3"],
            "success": [],
            "cleanup": ["n1", "n2", "n3"],
        },
        attempts={"0": {"n1": 1, "n2": 2, "n3": 1}},
        error=("phase 0: 1 of 3 nodes failed (n2) and strategy fail-fast tolerates none",),
    ),
    TABLE["continue-drops-the-failed-node-the-rest-go-on"],
    TABLE["tolerated-count-drops-the-node-and-goes-on"],
    Case(
        "tolerated-count-exceeded-rolls-back-every-node",
        job(
            cmd(fails_on("n2", "n3"), tolerate_failures=1, max_retries=1),
            mark("after"),
            mark("rollback", condition="on_failure"),
        ),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": F}, "1": each(K), "2": each(S)},
        ran={"after": [], "rollback": ["n1", "n2", "n3"]},
        error=("2 of 3 nodes failed (n2, n3), more than tolerate_failures 1 allows",),
    ),
    TABLE["retries-exhausted-on-the-failing-node-only"],
    Case(
        "task-timeout-fails-the-node",
        job(
            sleep_on({"n1": 30}, default=0, timeout="1s", max_retries=1),
            mark("after"),
            mark("undo", condition="on_failure"),
        ),
        "failed",
        {"0": {"n1": T, "n2": S, "n3": S}, "1": each(K), "2": each(S)},
        ran={"after": [], "undo": ["n1", "n2", "n3"]},
        attempts={"0": {"n1": 2, "n2": 1, "n3": 1}},
        error=("n1: 0 cmd run timeout: cmd run on node n1 ran past its timeout of 1s",),
    ),
    TABLE["phase-pre-check-failure-skips-the-phase-and-fails-it"],
    TABLE["job-post-check-failure-fails-the-job"],
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[c.id for c in SCENARIOS])
def test_scenario_on_airflow_as_on_the_local_engine(tmp_path: Path, case: Case) -> None:
    on_airflow = Fleet(tmp_path / "airflow", LocalTransport(), engine="airflow")
    local = Fleet(tmp_path / "local", LocalTransport(), engine="local")
    for fleet in (on_airflow, local):
        fleet.dir.mkdir()
    done = on_airflow.run(case.job)
    check_case(done, case)
    assert comparable(done.doc) == comparable(local.run(case.job).doc)
    # the progress lines after the run: the same events, with the times they happened
    kinds = [e.kind for e in done.events]
    assert (kinds[0], kinds[-1]) == ("job-started", "job-finished")
    assert [e.time for e in done.events] == sorted(e.time for e in done.events)


def test_cli_run_on_airflow_gives_the_local_document(tmp_path: Path) -> None:
    check_against_local(tmp_path, "airflow")


# ------------------------------------------------------------ during checks
#
# DAG test mode runs one task at a time, so a scope's during-checks sensor
# (reschedule mode there) runs a round between two tasks of its scope, when
# one is due. A pipeline's steps start one after the other, each step (on two
# nodes) sleeping past the 1 s interval: whatever order Airflow picks within
# a step, a round comes at least every second step boundary, while the phase
# runs.

TWO = ("n1", "n2")


def steps(count: int, first: str = "") -> list[dict[str, Any]]:
    """``count`` pipeline steps of 1 s; the first runs ``first`` before sleeping."""
    return [cmd(f"{first if i == 0 else ''}sleep 1") for i in range(count)]


def every_second(*checks: dict[str, Any]) -> dict[str, Any]:
    return {"during": {"interval": "1s", "checks": list(checks)}}


def test_during_checks_run_rounds_while_their_phase_runs(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    key = uuid.uuid4().hex
    probe = {"http": {"url": f"{http_server.url}/echo?test={key}"}}
    ping = {"backend": "ping", "action": "echo", "params": {"message": "alive"}}
    fleet = Fleet(tmp_path, LocalTransport(), engine="airflow")
    done = fleet.run(
        job(pipeline(*steps(5), checks=every_second(probe, ping)), mark("after")), nodes=TWO
    )
    assert done.doc["status"] == "success", done.doc.get("error")
    records = {(c["kind"], c["node"]): c for c in done.doc["checks"]}
    assert set(records) == {("http", None), ("backend", "n1"), ("backend", "n2")}
    runs = {c["runs"] for c in records.values()}
    assert len(runs) == 1, records  # every check of a round, each node's backend check too
    [rounds] = runs
    assert rounds >= 2
    for c in records.values():
        assert (c["scope"], c["stage"], c["status"], c["failures"]) == ("0", "during", "success", 0)
    assert records[("backend", "n1")]["output"] == "alive"
    # one probe per round, from the worker
    assert len(http_server.requests(lambda r: r.query.get("test") == key)) == rounds
    assert sorted(line[0] for line in done.lines("after")) == list(TWO)


def test_sensors_end_with_their_scope_when_the_next_round_is_far(tmp_path: Path) -> None:
    # No round is due before an hour: the sensors end because the Task SDK
    # says every task of their scope (a mapped pipeline group; for the job,
    # everything of every phase) has ended, not at their next round.
    hourly = {"interval": "1h", "checks": [{"backend": "ping", "action": "hostname"}]}
    fleet = Fleet(tmp_path, LocalTransport(), engine="airflow")
    done = fleet.run(
        job(
            pipeline(mark("a"), mark("b"), checks={"during": hourly}),
            mark("c"),
            checks={"during": hourly},
        ),
        nodes=TWO,
    )
    assert done.doc["status"] == "success"
    assert done.doc["checks"] == []  # as on the local engine: no round was due
    assert done.wall_s < 300


def test_a_failing_round_stops_its_phase(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    # The probe passes once, then the server answers 503: round 2 fails,
    # between two steps of the pipeline (step 2 at the latest, since a round
    # is due at each boundary), so the last steps never start.
    url = f"{http_server.url}/fail-after/{uuid.uuid4().hex}/1"
    fleet = Fleet(tmp_path, LocalTransport(), engine="airflow")
    done = fleet.run(
        job(
            pipeline(*steps(5), checks=every_second({"http": {"url": url}})),
            mark("next"),
            mark("rollback", condition="on_failure"),
        ),
        nodes=TWO,
    )
    assert done.doc["status"] == "failed"
    phase = done.doc["phases"]["0"]
    assert phase["status"] == "failed"
    assert phase["error"]["message"].startswith(f"phase 0 during-check GET {url} failed: ")
    assert done.doc["error"] == phase["error"]
    [check] = done.doc["checks"]
    assert (check["stage"], check["status"], check["runs"], check["failures"]) == (
        "during",
        "failed",
        2,
        1,
    )
    assert "503" in check["error"]
    assert done.statuses("0.4") == dict.fromkeys(TWO, "cancelled")
    assert done.entry("0.4", "n1")["reason"].startswith("phase 0 was aborted: phase 0 during-check")
    # fail-fast: the next phase is skipped, the rollback runs on both nodes
    assert done.doc["phases"]["1"]["status"] == "skipped"
    assert done.lines("next") == []
    assert sorted(line[0] for line in done.lines("rollback")) == list(TWO)


def test_a_job_during_check_fails_the_phase_running_then(tmp_path: Path) -> None:
    # The job's check (on every node) passes through phase 0; phase 1's first
    # step breaks what it checks, so a round in phase 1 fails it.
    healthy = cmd(f"test ! -e {DIR}/broken", name="healthy")
    fleet = Fleet(tmp_path, LocalTransport(), engine="airflow")
    done = fleet.run(
        job(
            pipeline(*steps(3)),
            pipeline(*steps(5, first=f"touch {DIR}/broken; ")),
            mark("cleanup", condition="always"),
            checks=every_second(healthy),
        ),
        nodes=TWO,
    )
    assert done.doc["status"] == "failed"
    assert [done.doc["phases"][i]["status"] for i in "012"] == ["success", "failed", "success"]
    error = done.doc["phases"]["1"]["error"]["message"]
    assert error.startswith("job during-check healthy on n"), error
    assert done.statuses("1.4") == dict.fromkeys(TWO, "cancelled")
    assert sorted(line[0] for line in done.lines("cleanup")) == list(TWO)
    records = {c["node"]: c for c in done.doc["checks"]}
    assert set(records) == set(TWO)
    for c in records.values():
        assert (c["scope"], c["stage"], c["status"]) == ("job", "during", "failed")
        assert c["failures"] == 1
        assert c["runs"] >= 2  # it passed in phase 0 before it failed


# ----------------------------------------------------------------- the loader


def _job_dags(folder: Path) -> dict[str, Any]:
    from gridflow.provider.loader import load_dags

    namespace: dict[str, Any] = {"__file__": str(folder / "loader.py")}
    load_dags(namespace, folder)
    return {v.dag_id: v for k, v in namespace.items() if k.startswith("gridflow_dag_")}


INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
  - { id: db-01, groups: [db], connection: local }
"""

DEPLOY = """\
name: deploy
target: group:web
timeout: 10m
checks:
  pre: [{ backend: ping, action: hostname }]
tasks:
  - name: install
    concurrency: 1
    tasks:
      - { backend: ping, action: echo, params: { message: a } }
      - { backend: test, action: flaky, params: { rate: 50 }, max_retries: 3, timeout: 20s }
  - { backend: test, action: succeed, params: { message: done }, tolerate_failures: 1 }
  - { condition: on_failure, backend: ping, action: echo, params: { message: undo } }
"""


def test_loader_builds_a_dag_per_job_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDFLOW_INVENTORY", raising=False)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "deploy.yaml").write_text(DEPLOY)
    (tmp_path / "broken.yml").write_text("target: group:nosuch\ntasks:\n  - { backend: ping }\n")
    dags = _job_dags(tmp_path)
    assert set(dags) == {"deploy", "broken"}
    dag = dags["deploy"]
    assert "gridflow-job" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout.total_seconds() == 600 + 30
    ids = [t.task_id for t in dag.topological_sort()]
    assert ids == [
        "job.pre_checks",
        "phase0_install.0.0.ping.echo",
        "phase0_install.0.1.test.flaky",
        "1.test.succeed",
        "2.ping.echo",
        "job.result",
    ]
    flaky = dag.get_task("phase0_install.0.1.test.flaky")
    assert (flaky.retries, flaky.retry_delay.total_seconds()) == (3, 1.0)
    assert (flaky.retry_exponential_backoff, flaky.max_retry_delay.total_seconds()) == (2.0, 30.0)
    assert flaky.execution_timeout.total_seconds() == 20 + 30
    assert flaky.max_active_tis_per_dagrun == 1
    assert flaky.trigger_rule == "all_done"
    assert flaky.upstream_task_ids == {"phase0_install.0.0.ping.echo"}
    barrier = dag.get_task("1.test.succeed")
    assert barrier.expand_input.value == {"node": ["web-01", "web-02"]}
    assert barrier.upstream_task_ids == {"phase0_install.0.1.test.flaky"}
    assert dag.get_task("job.result").upstream_task_ids == {"2.ping.echo"}
    broken = dags["broken"]
    assert "gridflow-broken" in broken.tags
    assert broken.description.startswith("BROKEN job: broken.yml:")


WATCHED = """\
name: watched
target: group:web
checks:
  pre: [{ backend: ping, action: hostname }]
  during: { interval: 2s, checks: [{ http: { url: "http://127.0.0.1:9/health" } }] }
tasks:
  - backend: ping
    action: echo
    checks:
      pre: [{ backend: ping, action: hostname }]
      during: { interval: 500ms, checks: [{ backend: ping, action: hostname }] }
  - { backend: ping, action: hostname }
"""


def test_loader_puts_during_checks_beside_their_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridflow.operators.job import JobDuringChecksSensor

    monkeypatch.delenv("GRIDFLOW_INVENTORY", raising=False)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "watched.yaml").write_text(WATCHED)
    dag = _job_dags(tmp_path)["watched"]
    phase = dag.get_task("0.during_checks")
    assert isinstance(phase, JobDuringChecksSensor)
    # poke mode beside the phase: started with its tasks, waited for by what follows
    assert (phase.mode, phase.poke_interval, phase.scope) == ("poke", 0.5, 0)
    assert phase.upstream_task_ids == {"0.pre_checks"}
    assert dag.get_task("1.ping.hostname").upstream_task_ids == {"0.ping.echo", "0.during_checks"}
    job_sensor = dag.get_task("job.during_checks")
    assert (job_sensor.mode, job_sensor.poke_interval, job_sensor.scope) == ("poke", 1.0, None)
    assert job_sensor.upstream_task_ids == {"job.pre_checks"}
    assert dag.get_task("job.result").upstream_task_ids == {"1.ping.hostname", "job.during_checks"}
    assert job_sensor.watched == [
        ("0.pre_checks", False),
        ("0.ping.echo", True),
        ("1.ping.hostname", True),
        ("0.during_checks", False),
    ]


def test_loader_reads_the_inventory_from_the_environment_or_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy.yaml").write_text(DEPLOY)
    monkeypatch.delenv("GRIDFLOW_INVENTORY", raising=False)
    missing = _job_dags(tmp_path)["deploy"]
    assert missing.description == (
        "BROKEN job: no inventory for this job: put an inventory.yaml beside deploy.yaml in the "
        "dags folder, or set GRIDFLOW_INVENTORY to one for the dag-processor and every worker"
    )
    inventory = tmp_path / "elsewhere.yaml"
    inventory.write_text(INVENTORY)
    monkeypatch.setenv("GRIDFLOW_INVENTORY", str(inventory))
    dag = _job_dags(tmp_path)["deploy"]
    assert dag.get_task("1.test.succeed").expand_input.value == {"node": ["web-01", "web-02"]}


def test_job_timeout_cancels_what_remains(tmp_path: Path) -> None:
    # The deadline is the DAG run's start + 45 s: phase 0 ends well before it
    # (a few seconds a task here), phase 1's first node is cut at it, the rest
    # start after it and never run.
    fleet = Fleet(tmp_path, LocalTransport(), engine="airflow")
    done = fleet.run(
        job(
            mark("first"),
            sleep_on({}, default=300),
            mark("never"),
            mark("cleanup", condition="always"),
            timeout="45s",
        )
    )
    assert (done.doc["status"], done.doc["error"]["kind"]) == ("cancelled", "timeout")
    assert done.doc["error"]["message"].startswith("the job ran past its timeout of 45s")
    assert done.statuses("0") == each(S)
    for key in ("1", "2", "3"):
        assert done.statuses(key) == each("cancelled"), key
    assert done.entry("2", "n1")["reason"].startswith("the job ran past its timeout")
    assert done.lines("never") == done.lines("cleanup") == []
    assert 45 <= done.wall_s < 200  # not the 300 s the nodes would have slept


def test_secrets_are_masked_in_xcom_and_the_document(tmp_path: Path) -> None:
    from airflow.models.xcom import XComModel
    from airflow.settings import Session

    secret = "tok-0123456789abcdef"
    spec = job(cmd('echo "token=$API_TOKEN"; echo "again $API_TOKEN" >&2; exit 1'))
    spec["tasks"][0]["params"]["env"] = {"API_TOKEN": secret}
    done = Fleet(tmp_path, LocalTransport(), engine="airflow").run(spec, nodes=("n1",))
    entry = done.entry("0", "n1")
    assert (entry["status"], entry["output"]) == ("failed", "token=***\n")
    assert entry["error"].endswith("exited with 1: again ***")
    assert secret not in str(done.doc)
    assert Session is not None
    with Session() as session:
        rows = session.scalars(XComModel.get_many(run_id=done.run.run_id)).all()
        stored = [str(XComModel.deserialize_value(r)) for r in rows]
    assert any("token=***" in value for value in stored)
    assert not any(secret in value for value in stored)
