"""JobRun driven by hand, without an engine: the protocol and its decisions.

No processes, no clock to wait for: each test plays the engine, taking work
from ``ready()`` and completing it with the outcome it chooses, and checks
what the state machine asks for next.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gridflow.jobs import read_job
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import CheckWork, JobEvent, Outcome, TaskWork, Timer, Work
from gridflow.nodes.base import NodeSpec

pytestmark = pytest.mark.timeout(30)

NODES = [NodeSpec("n1"), NodeSpec("n2"), NodeSpec("n3")]
OK = Outcome("success", output="ok", started=1.0, ended=2.0)
BOOM = Outcome("failed", error="boom", started=1.0, ended=2.0)


def machine(tmp_path: Path, spec: dict[str, object], nodes: list[NodeSpec] = NODES) -> JobRun:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"target": "all", **spec}, sort_keys=False))
    run = JobRun(read_job(path), nodes)
    run.start()
    return run


def task(backend: str = "test", action: str = "succeed", **keys: object) -> dict[str, object]:
    return {"backend": backend, "action": action, **keys}


def by_node(works: list[Work]) -> dict[str, TaskWork]:
    return {w.node: w for w in works if isinstance(w, TaskWork)}


def test_a_barrier_hands_out_one_attempt_per_node(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task(), task("ping", "echo")]})
    first = run.ready()
    assert [
        (w.task.key, w.node, w.attempt, w.delay_s) for w in first if isinstance(w, TaskWork)
    ] == [
        ("0", "n1", 1, 0.0),
        ("0", "n2", 1, 0.0),
        ("0", "n3", 1, 0.0),
    ]
    assert run.ready() == []
    run.complete(first[0], OK)
    run.complete(first[1], OK)
    assert run.ready() == []  # the barrier waits for n3
    run.complete(first[2], OK)
    assert [w.task.key for w in run.ready() if isinstance(w, TaskWork)] == ["1", "1", "1"]


def test_a_retry_is_only_for_the_failed_node_after_the_backoff(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task(max_retries=3)]})
    works = by_node(run.ready())
    run.complete(works["n2"], BOOM)
    again = run.ready()
    assert [(w.node, w.attempt, w.delay_s) for w in again if isinstance(w, TaskWork)] == [
        ("n2", 2, 1.0)  # JobPlan.backoff: 1 s before the first retry
    ]
    run.complete(again[0], BOOM)
    third = run.ready()
    assert [(w.node, w.attempt, w.delay_s) for w in third if isinstance(w, TaskWork)] == [
        ("n2", 3, 2.0)
    ]


def test_a_final_failure_is_not_retried(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task(max_retries=3)], "strategy": "continue"})
    works = by_node(run.ready())
    run.complete(works["n1"], Outcome("failed", error="host key rejected", final=True))
    assert run.ready() == []


def test_fail_fast_asks_to_cancel_the_phase_and_nothing_else(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task(concurrency=2), task(condition="on_failure")]})
    works = by_node(run.ready())
    assert set(works) == {"n1", "n2"}  # n3 waits for a free slot
    run.complete(works["n1"], BOOM)
    assert run.cancellations() == [works["n2"]]
    assert run.ready() == []  # n3 will never start in this phase
    run.complete(works["n2"], Outcome("cancelled"))
    rollback = by_node(run.ready())
    assert set(rollback) == {"n1", "n2", "n3"}
    for w in rollback.values():
        run.complete(w, OK)
    assert run.finished
    doc = run.result()
    assert {n: e["status"] for n, e in doc["results"]["0"].items()} == {
        "n1": "failed",
        "n2": "cancelled",
        "n3": "cancelled",
    }
    assert doc["results"]["0"]["n3"]["attempts"] == 0
    assert doc["results"]["0"]["n3"]["reason"] == "never started: phase 0 failed first"
    assert doc["results"]["0"]["n2"]["reason"].startswith("phase 0 was aborted: phase 0: 1 of 3")


def test_cancel_from_outside_cancels_everything_running(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task(), task()]})
    works = run.ready()
    run.complete(works[0], OK)
    run.cancel("stopped by the user")
    assert sorted(w.id for w in run.cancellations()) == sorted(w.id for w in works[1:])
    for w in works[1:]:
        run.complete(w, Outcome("cancelled"))
    assert run.finished
    run.finish()
    doc = run.result()
    assert doc["status"] == "cancelled"
    assert doc["error"] == {"kind": "cancelled", "message": "stopped by the user"}
    assert doc["results"]["1"]["n1"] | {"duration": "", "duration_s": 0} == {
        "status": "cancelled",
        "output": "",
        "error": None,
        "duration": "",
        "duration_s": 0,
        "attempts": 0,
        "changed": None,
        "started": None,
        "ended": None,
        "reason": "stopped by the user",
    }


def test_expire_ends_the_job_cancelled_with_a_timeout_error(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task()], "timeout": "2m"})
    assert run.timeout_s == 120.0
    works = run.ready()
    run.expire()
    for w in run.cancellations():
        run.complete(w, Outcome("cancelled"))
    run.finish()
    assert run.result()["status"] == "cancelled"
    assert run.result()["error"]["kind"] == "timeout"
    assert run.result()["error"]["message"].startswith("the job ran past its timeout of 2m")
    assert len(works) == 3


def test_during_checks_are_paced_by_timers_and_stop_with_the_phase(tmp_path: Path) -> None:
    during = {"interval": "5s", "checks": [task("ping", "hostname")]}
    run = machine(tmp_path, {"tasks": [task(checks={"during": during})]}, nodes=NODES[:2])
    first = run.ready()
    timers = [w for w in first if isinstance(w, Timer)]
    assert [(t.scope, t.delay_s) for t in timers] == [(0, 5.0)]
    run.complete(timers[0], OK)
    round_ = [w for w in run.ready() if isinstance(w, CheckWork)]
    assert [(c.stage, c.node) for c in round_] == [("during", "n1"), ("during", "n2")]
    for c in round_:
        run.complete(c, OK)
    [next_timer] = run.ready()
    assert isinstance(next_timer, Timer)
    for w in by_node(first).values():
        run.complete(w, OK)
    assert run.cancellations() == [next_timer]  # the phase is over: no more rounds
    run.complete(next_timer, Outcome("cancelled"))
    assert run.finished
    assert run.status.value == "success"


def test_every_work_is_completed_once(tmp_path: Path) -> None:
    run = machine(tmp_path, {"tasks": [task()]})
    work = run.ready()[0]
    run.complete(work, OK)
    with pytest.raises(ValueError, match="completed twice"):
        run.complete(work, OK)


def test_events_tell_the_story(tmp_path: Path) -> None:
    events: list[JobEvent] = []
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"target": "all", "tasks": [task(max_retries=1)]}))
    run = JobRun(read_job(path), NODES[:1], on_event=events.append, run_id="r1")
    run.start()
    [w] = run.ready()
    run.complete(w, BOOM)
    [w2] = run.ready()
    run.complete(w2, OK)
    run.finish()
    assert [(e.kind, e.node, e.status, e.attempt) for e in events] == [
        ("job-started", None, None, 0),
        ("phase-started", None, None, 0),
        ("node-started", "n1", "running", 1),
        ("node-retry", "n1", "failed", 1),
        ("node-finished", "n1", "success", 2),
        ("phase-finished", None, "success", 0),
        ("job-finished", None, "success", 0),
    ]
    assert events[3].message == "0 test succeed on n1: attempt 1 of 2 failed, retrying in 1s: boom"
    assert events[4].message == "0 test succeed on n1: success after 2 attempts in 1s"


def test_a_job_needs_nodes(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"target": "all", "tasks": [task()]}))
    with pytest.raises(ValueError, match="at least one node"):
        JobRun(read_job(path), [])


def test_a_cancel_after_the_job_concluded_changes_nothing(tmp_path: Path) -> None:
    during = {"interval": "1h", "checks": [task("ping", "hostname")]}
    run = machine(tmp_path, {"tasks": [task()], "checks": {"during": during}}, nodes=NODES[:1])
    works = run.ready()
    [tw] = [w for w in works if isinstance(w, TaskWork)]
    run.complete(tw, OK)
    [timer] = run.cancellations()  # the job's during timer is all that is left
    run.expire()  # the deadline passes while it winds down
    run.complete(timer, Outcome("cancelled"))
    run.finish()
    assert run.result()["status"] == "success"
    assert "error" not in run.result()
