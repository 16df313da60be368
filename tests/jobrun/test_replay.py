"""A job run rebuilt from records (gridflow.jobs.replay) decides as the run did.

Every scenario of the semantics table runs for real on the local engine
while each work item's outcome is recorded as an engine would record it
(task_record / check_record / output_record). Replaying those records must
give the same document: statuses, attempts, outputs, errors, phases,
dropped nodes. Then the decisions an Airflow task asks for are checked on
partial records: what a node is told before, during and after a stop.

``during`` checks are recorded as the Airflow sensor records them: one
record per round (from its timer) and the last outcome of each check and
node; replaying them must give the same check records (runs, failures,
outputs) and the same stop.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import pytest

from gridflow.engines import local_jobs
from gridflow.jobs import load_job
from gridflow.jobs.replay import (
    NO_RESULT,
    check_record,
    output_record,
    replay,
    round_record,
    rounds_over_record,
    task_record,
)
from gridflow.jobs.state import Outcome, TaskWork, Timer, Work
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import DIR, cmd, fails_on, job, mark, sleep_on
from tests.jobrun.test_semantics import CASES, Case
from tests.support.http_server import LocalHTTPServer

pytestmark = pytest.mark.timeout(60)


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": doc["status"],
        "step": doc["step"],
        "results": {
            key: {
                n: (e["status"], e["attempts"], e["output"], e["error"], e["changed"])
                for n, e in by_node.items()
            }
            for key, by_node in doc["results"].items()
        },
        "phases": {
            i: (p["status"], p["nodes"], p["failed_nodes"], p.get("error"), p.get("reason"))
            for i, p in doc["phases"].items()
        },
        "checks": [(c["scope"], c["stage"], c["node"], c["status"]) for c in doc["checks"]],
        "dropped": doc["dropped"],
        "error": doc.get("error"),
    }


class Recorder:
    """Wraps the local engine's execute(): every outcome, as an engine records it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records: list[dict[str, Any]] = []
        # during checks, per scope: its rounds so far, and the last outcome of
        # each check and node (what the Airflow sensor keeps)
        self.rounds: dict[int | None, list[dict[str, Any]]] = {}
        self.last: dict[tuple[int | None, int, str | None], dict[str, Any]] = {}
        real = local_jobs.execute

        async def recording(work: Work, *args: Any, **kwargs: Any) -> Outcome:
            try:
                outcome = await real(work, *args, **kwargs)
            except asyncio.CancelledError:  # a stopped task: its engine task says so
                if isinstance(work, TaskWork):
                    stopped = Outcome("cancelled", ended=time.time())
                    self.records.append(task_record(work, stopped, final=True))
                raise  # a stopped timer or during check leaves no record, as on Airflow
            if isinstance(work, TaskWork):
                retried = outcome.status in ("failed", "timeout") and not outcome.final
                final = not (retried and work.attempt <= work.task.max_retries)
                self.records.append(task_record(work, outcome, final=final))
                if outcome.output:
                    self.records.append(output_record(work, outcome.output))
            elif isinstance(work, Timer):
                rounds = self.rounds.setdefault(work.scope, [])
                at = outcome.started or 0.0
                rounds.append(round_record(work.scope, len(rounds) + 1, at, at))
            elif work.stage == "during":
                current = self.rounds[work.scope][-1]
                current["ended"] = max(current["ended"], outcome.ended or 0.0)
                record = check_record(work, outcome, round_no=current["round"])
                self.last[(work.scope, work.index, work.node)] = record
            else:
                self.records.append(check_record(work, outcome))
            return outcome

        monkeypatch.setattr(local_jobs, "execute", recording)

    def all(self) -> list[dict[str, Any]]:
        """The records, those of during rounds as the sensor pushes them at its end."""
        out = list(self.records) + list(self.last.values())
        for scope, rounds in self.rounds.items():
            out += rounds
            out.append(rounds_over_record(scope, len(rounds), rounds[-1]["ended"]))
        return out


NO_DURING = [c for c in CASES if "during" not in str(c.job)]


@pytest.mark.parametrize("case", NO_DURING, ids=[c.id for c in NO_DURING])
def test_replaying_the_records_gives_the_same_document(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    recorder = Recorder(monkeypatch)
    done = fleet.run(case.job)
    plan, nodes = load_job(fleet.dir / "job.yaml", fleet.dir / "inventory.yaml")
    plan = plan.model_copy(update={"backoff": done.run.plan.backoff})
    replayed = replay(
        plan,
        nodes,
        recorder.records,
        started_at=done.run.started or 0.0,
        done=lambda _: True,
    )
    replayed.run.finish()
    assert comparable(replayed.run.result()) == comparable(done.doc)
    assert replayed.run.result()["started"] == done.doc["started"]


def anonymous(doc: Any) -> Any:
    """``doc`` without the node in check failures: when every node's check
    fails in one round, which failure the local engine takes first is a
    matter of which finishes first (the replay takes the first to end)."""
    return json.loads(re.sub(r"check (.*?) on n\d", r"check \1 on NODE", json.dumps(doc)))


def checks_of(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    fields = ("scope", "stage", "name", "node", "status", "runs", "failures", "output", "error")
    return [tuple(c.get(f) for f in fields) for c in doc["checks"]]


DURING = {
    "phase-check-stops-its-phase": job(
        cmd(
            f"sleep 1; touch {DIR}/broken; sleep 20",
            checks={"during": {"interval": "100ms", "checks": [cmd(f"test ! -e {DIR}/broken")]}},
        ),
        mark("next"),
        mark("rollback", condition="on_failure"),
    ),
    "job-check-stops-the-running-phase": job(
        mark("first"),
        cmd(f"sleep 0.5; touch {DIR}/broken; sleep 20"),
        mark("cleanup", condition="always"),
        checks={"during": {"interval": "100ms", "checks": [cmd(f"test ! -e {DIR}/broken")]}},
    ),
    "passing-checks-through-two-phases": job(
        sleep_on({}, default=0.45, checks={"during": {"interval": "100ms", "checks": [
            {"backend": "ping", "action": "echo", "params": {"message": "up"}}]}}),
        sleep_on({"n2": 0.6}, default=0.2),
        checks={"during": {"interval": "150ms", "checks": [
            {"backend": "ping", "action": "hostname"}]}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(DURING))
def test_replaying_during_rounds_gives_the_same_checks_and_stop(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    recorder = Recorder(monkeypatch)
    done = fleet.run(DURING[name])
    assert any(c["stage"] == "during" and c["runs"] >= 2 for c in done.doc["checks"])
    plan, nodes = load_job(fleet.dir / "job.yaml", fleet.dir / "inventory.yaml")
    plan = plan.model_copy(update={"backoff": done.run.plan.backoff})
    replayed = replay(
        plan, nodes, recorder.all(), started_at=done.run.started or 0.0, done=lambda _: True
    )
    replayed.run.finish()
    again = replayed.run.result()
    assert anonymous(comparable(again)) == anonymous(comparable(done.doc))
    assert checks_of(again) == checks_of(done.doc)


def test_an_http_during_round_replays_once_per_round(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, http_server: LocalHTTPServer
) -> None:
    recorder = Recorder(monkeypatch)
    url = f"{http_server.url}/fail-after/{uuid.uuid4().hex}/3"
    during = {"interval": "100ms", "checks": [{"http": {"url": url}}]}
    done = fleet.run(job(cmd("sleep 20", checks={"during": during}), mark("after")))
    [check] = done.doc["checks"]
    assert (check["node"], check["runs"], check["failures"]) == (None, 4, 1)
    plan, nodes = load_job(fleet.dir / "job.yaml", fleet.dir / "inventory.yaml")
    replayed = replay(
        plan, nodes, recorder.all(), started_at=done.run.started or 0.0, done=lambda _: True
    )
    replayed.run.finish()
    assert comparable(replayed.run.result()) == comparable(done.doc)
    assert checks_of(replayed.run.result()) == checks_of(done.doc)


def _records(plan_job: dict[str, Any], fleet: Fleet) -> Any:
    fleet.write(plan_job)
    return load_job(fleet.dir / "job.yaml", fleet.dir / "inventory.yaml")


def test_a_node_starting_after_its_phase_stopped_is_cancelled(fleet: Fleet) -> None:
    plan, nodes = _records(job(cmd(fails_on("n2")), mark("undo", condition="on_failure")), fleet)
    t0 = time.time()
    n2_failed = {
        "kind": "task", "key": "0", "node": "n2", "attempt": 1, "status": "failed",
        "final": True, "error": "boom", "started": t0, "ended": t0 + 1,
    }  # fmt: skip
    # Before n2's failure, n1 is handed out and wanted ...
    before = replay(plan, nodes, [], started_at=t0, now=t0 + 0.5)
    n1 = before.task_work("0", "n1")
    assert n1 is not None
    assert before.wanted(n1)
    # ... after it, n1's attempt (not started yet) is to be cancelled, and the
    # phase's failure is the job's.
    after = replay(plan, nodes, [n2_failed], started_at=t0, now=t0 + 2)
    n1 = after.task_work("0", "n1")
    assert n1 is not None
    assert not after.wanted(n1)
    assert after.run.failure is not None
    assert after.run.failure.message.startswith("phase 0: 1 of 3 nodes failed (n2)")
    # Once every node of phase 0 has ended, the rollback runs on all three.
    n1_ok = {**n2_failed, "node": "n1", "status": "success", "error": None}
    n3_cancelled = {**n2_failed, "node": "n3", "status": "cancelled", "error": None}
    later = replay(plan, nodes, [n2_failed, n1_ok, n3_cancelled], started_at=t0, now=t0 + 3)
    assert {w.node for w in later.pending.values() if isinstance(w, TaskWork)} == {
        "n1",
        "n2",
        "n3",
    }
    assert all(w.task.key == "1" for w in later.pending.values() if isinstance(w, TaskWork))
    assert later.run.records["0"]["n3"].status.value == "cancelled"


def test_a_retry_is_handed_out_after_a_failed_attempt_that_was_not_final(fleet: Fleet) -> None:
    plan, nodes = _records(job(cmd(fails_on("n2"), max_retries=2)), fleet)
    t0 = time.time()
    failed_once = {
        "kind": "task", "key": "0", "node": "n2", "attempt": 1, "status": "failed",
        "final": False, "error": "boom", "started": t0, "ended": t0 + 1,
    }  # fmt: skip
    replayed = replay(plan, nodes, [failed_once], started_at=t0, now=t0 + 2)
    retry = replayed.task_work("0", "n2")
    assert retry is not None
    assert (retry.attempt, replayed.wanted(retry)) == (2, True)


def test_work_that_ended_without_a_record_failed(fleet: Fleet) -> None:
    plan, nodes = _records(job(mark("a"), mark("b")), fleet)
    t0 = time.time()
    replayed = replay(
        plan,
        nodes,
        [],
        started_at=t0,
        done=lambda w: isinstance(w, TaskWork) and w.phase == 0,
        now=t0 + 1,
    )
    assert replayed.run.records["0"]["n1"].status.value == "failed"
    assert replayed.run.records["0"]["n1"].error == NO_RESULT
    assert replayed.task_work("1", "n1") is None  # the job stopped: b never runs


def test_the_deadline_cancels_what_had_not_ended(fleet: Fleet) -> None:
    plan, nodes = _records(job(mark("a"), mark("b"), timeout="10s"), fleet)
    t0 = time.time()
    ok = [
        {"kind": "task", "key": "0", "node": n, "attempt": 1, "status": "success",
         "final": True, "error": None, "started": t0, "ended": t0 + 1}
        for n in ("n1", "n2", "n3")
    ]  # fmt: skip
    replayed = replay(plan, nodes, ok, started_at=t0, deadline=t0 + 10, now=t0 + 11)
    assert replayed.run.cancelled is not None
    assert replayed.run.cancelled.kind == "timeout"
    b = replayed.task_work("1", "n1")
    assert b is not None
    assert not replayed.wanted(b)


def test_during_rounds_owed_by_a_task_that_died_fail_their_phase(fleet: Fleet) -> None:
    # Phase 0 ran 5 s with a round due every second, and no round was
    # recorded: the sensor's task either said it was over (the phase ended
    # first, from its view) or died, owing round 1 at t0 + 1 s.
    during = {"interval": "1s", "checks": [{"backend": "ping", "action": "hostname"}]}
    plan, nodes = _records(job(mark("a", checks={"during": during}), mark("b")), fleet)
    t0 = time.time()
    tasks = [
        {"kind": "task", "key": key, "node": n, "attempt": 1, "status": "success",
         "final": True, "error": None, "started": t0 + start, "ended": t0 + start + 5}
        for key, start in (("0", 0.0), ("1", 5.0)) for n in ("n1", "n2", "n3")
    ]  # fmt: skip
    said_over = [*tasks, rounds_over_record(0, 0, t0 + 5)]
    over = replay(plan, nodes, said_over, started_at=t0, done=lambda _: True, now=t0 + 11)
    over.run.finish()
    assert (over.run.result()["status"], over.run.result()["checks"]) == ("success", [])
    died = replay(plan, nodes, tasks, started_at=t0, done=lambda _: True, now=t0 + 11)
    died.run.finish()
    doc = died.run.result()
    assert doc["status"] == "failed"
    assert doc["phases"]["0"]["error"]["message"] == (
        f"phase 0 during-check ping hostname on n1 failed: {NO_RESULT}"
    )
    # the phase was stopped at the owed round, its tasks ran on (as on Airflow)
    assert {n: e["status"] for n, e in doc["results"]["0"].items()} == dict.fromkeys(
        ("n1", "n2", "n3"), "success"
    )
    assert doc["phases"]["1"]["status"] == "skipped"
