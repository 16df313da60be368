"""A job run rebuilt from the records of what already ran.

An engine that cannot keep one :class:`~gridflow.jobs.run.JobRun` in memory
for a whole job (Airflow runs every task in a process of its own, maybe on
another machine) rebuilds it instead: :func:`replay` starts a JobRun and
feeds it, in the order they ended, the outcomes the records hold. What the
run then hands out, and what it wants cancelled, *is* the decision for the
work at hand (does node N run task K now, was it skipped and why, is the
phase halted, did the job's time run out), taken by the one rule book every
engine uses. Nothing here knows about Airflow.

A record is small JSON (:func:`task_record`, :func:`check_record`)::

    {"kind": "task", "key": "0.1", "node": "web-02", "attempt": 2,
     "status": "failed", "final": true, "error": "...", "changed": null,
     "started": 1795441076.5, "ended": 1795441077.1}
    {"kind": "check", "scope": 0, "stage": "pre", "index": 0, "node": "web-02",
     "status": "success", "output": "...", "error": null, "started": ..., "ended": ...}

A task record stands for every attempt up to its ``attempt``: the earlier
ones failed (that is why there was another), so they are fed as failures
the run may retry. ``final`` says whether the run stopped retrying after
this attempt. Outputs travel apart (:func:`output_record`), so deciding
never has to read them.

Two differences from a run in one process, both in the rebuilt run's plan:
phases are replayed without their ``concurrency`` (the engine bounds the
nodes in flight itself, so a node whose work is recorded did get a slot),
and work the engine says is over (``done``) but left no record is taken as
failed: its engine task died without saying how it went.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gridflow.jobs.model import JobPlan
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import CheckWork, JobEvent, Outcome, TaskWork, Work
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker

__all__ = [
    "NO_RESULT",
    "Replayed",
    "check_record",
    "output_record",
    "replay",
    "task_record",
    "unbounded",
]

#: The error of work that ended without a record.
NO_RESULT = (
    "its engine task ended without a result (it was killed, or its worker died): see the task's log"
)
_LONG_AGO = -math.inf

TaskKey = tuple[str, str]  # (task key, node)
CheckKey = tuple[int | None, str, int, str | None]  # (scope, stage, index, node)


def task_record(work: TaskWork, outcome: Outcome, *, final: bool) -> dict[str, Any]:
    """What an engine keeps of one task attempt (its output apart)."""
    return {
        "kind": "task",
        "key": work.task.key,
        "node": work.node,
        "attempt": work.attempt,
        "status": outcome.status,
        "final": final,
        "error": outcome.error,
        "changed": outcome.changed,
        "started": outcome.started,
        "ended": outcome.ended,
    }


def check_record(work: CheckWork, outcome: Outcome) -> dict[str, Any]:
    """What an engine keeps of one check run."""
    return {
        "kind": "check",
        "scope": work.scope,
        "stage": work.stage,
        "index": work.index,
        "node": work.node,
        "status": outcome.status,
        "output": outcome.output,
        "error": outcome.error,
        "started": outcome.started,
        "ended": outcome.ended,
    }


def output_record(work: TaskWork, output: str) -> dict[str, Any]:
    """A task attempt's output, kept apart from its record."""
    return {"kind": "output", "key": work.task.key, "node": work.node, "output": output}


def unbounded(plan: JobPlan) -> JobPlan:
    """``plan`` without phase concurrency: the engine keeps that bound itself."""
    if all(p.concurrency is None for p in plan.phases):
        return plan
    phases = [p.model_copy(update={"concurrency": None}) for p in plan.phases]
    return plan.model_copy(update={"phases": phases})


@dataclasses.dataclass
class Replayed:
    """A rebuilt run, and the work it handed out that no record settles yet."""

    run: JobRun
    pending: dict[int, Work]
    cancelled: set[int]  # ids of pending work the run wants stopped

    def task_work(self, key: str, node: str) -> TaskWork | None:
        """The pending attempt of task ``key`` on ``node``, if the run handed one out."""
        for work in self.pending.values():
            if isinstance(work, TaskWork) and work.task.key == key and work.node == node:
                return work
        return None

    def check_works(self, scope: int | None, stage: str) -> list[CheckWork]:
        """The pending checks of ``scope``'s ``stage``, in the order the run made them."""
        return [
            w
            for w in self.pending.values()
            if isinstance(w, CheckWork) and w.scope == scope and w.stage == stage
        ]

    def wanted(self, work: Work) -> bool:
        """Whether ``work`` should still run (not cancelled by a halt or the deadline)."""
        return work.id in self.pending and work.id not in self.cancelled


class _Records:
    """The records by what they settle, and the outputs to put back."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.tasks: dict[TaskKey, dict[str, Any]] = {}
        self.checks: dict[CheckKey, dict[str, Any]] = {}
        self.outputs: dict[TaskKey, str] = {}
        for rec in records:
            kind = rec.get("kind")
            if kind == "task":
                key = (str(rec["key"]), str(rec["node"]))
                known = self.tasks.get(key)
                if known is None or int(rec["attempt"]) >= int(known["attempt"]):
                    self.tasks[key] = rec
            elif kind == "check":
                scope = None if rec["scope"] is None else int(rec["scope"])
                self.checks[(scope, rec["stage"], int(rec["index"]), rec["node"])] = rec
            elif kind == "output":
                self.outputs[(str(rec["key"]), str(rec["node"]))] = str(rec["output"])

    def outcome(self, work: Work) -> tuple[float, Outcome] | None:
        """(when it ended, how) for ``work``, if a record settles it."""
        if isinstance(work, TaskWork):
            return self._task_outcome(work)
        if isinstance(work, CheckWork):
            rec = self.checks.get((work.scope, work.stage, work.index, work.node))
            if rec is None:
                return None
            return _when(rec), _outcome(rec, output=str(rec.get("output") or ""), final=True)
        return None  # a Timer: engines replaying runs have no during-checks

    def _task_outcome(self, work: TaskWork) -> tuple[float, Outcome] | None:
        key = (work.task.key, work.node)
        rec = self.tasks.get(key)
        if rec is None:
            return None
        last = int(rec["attempt"])
        if work.attempt < last:  # an earlier attempt: it failed, or there was no other
            started = rec.get("started")
            when = float(started) if started is not None else _LONG_AGO
            return when, Outcome(
                "failed",
                error=f"attempt {work.attempt} failed",
                started=started,
                ended=started,
            )
        if work.attempt > last:
            return None  # a retry no record speaks of yet
        return _when(rec), _outcome(
            rec, output=self.outputs.get(key, ""), final=bool(rec.get("final", True))
        )


def _when(rec: dict[str, Any]) -> float:
    for field in ("ended", "started"):
        value = rec.get(field)
        if value is not None:
            return float(value)
    return _LONG_AGO


def _outcome(rec: dict[str, Any], *, output: str, final: bool) -> Outcome:
    status = rec["status"]
    if status == "cancelled":
        return Outcome("cancelled", started=rec.get("started"), ended=rec.get("ended"))
    return Outcome(
        status,
        output=output,
        error=rec.get("error"),
        changed=rec.get("changed"),
        started=rec.get("started"),
        ended=rec.get("ended"),
        final=final,
    )


def replay(
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    records: Iterable[dict[str, Any]],
    *,
    started_at: float,
    run_id: str | None = None,
    masker: Masker | None = None,
    done: Callable[[Work], bool] | None = None,
    deadline: float | None = None,
    now: float | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> Replayed:
    """Rebuild the run of ``plan`` on ``nodes`` from ``records``.

    ``started_at`` is when the job started (Unix time); ``done(work)`` says
    whether the engine task of a work item is over (a missing record then
    means it died); ``deadline`` is when the job's timeout passes (``now``,
    default the wall clock, decides whether it has). The run's clock follows
    the records, so phases and events (to ``on_event``) carry the times
    things happened.
    """
    feed = _Records(records)
    clock = [started_at]
    run = JobRun(
        unbounded(plan),
        nodes,
        run_id=run_id,
        masker=masker,
        on_event=on_event,
        clock=lambda: clock[0],
    )
    run.start()
    pending: dict[int, Work] = {}
    cancelled: set[int] = set()
    expired = False
    while True:
        for work in run.ready():
            pending[work.id] = work
        for work in run.cancellations():
            cancelled.add(work.id)
        nxt = _next(pending, feed, done, clock[0])
        if nxt is None:
            break
        when, work, outcome = nxt
        if deadline is not None and not expired and when > deadline:
            clock[0] = max(clock[0], deadline)
            run.expire()  # the job's time ran out before this ended
            expired = True
            continue
        clock[0] = max(clock[0], when)
        del pending[work.id]
        cancelled.discard(work.id)
        run.complete(work, outcome)
    at = time.time() if now is None else now
    if deadline is not None and not expired and at > deadline:
        clock[0] = max(clock[0], deadline)
        run.expire()
        cancelled.update(w.id for w in run.cancellations())
    clock[0] = max(clock[0], min(at, deadline) if deadline is not None else at)
    return Replayed(run, pending, cancelled)


def _next(
    pending: dict[int, Work],
    feed: _Records,
    done: Callable[[Work], bool] | None,
    now: float,
) -> tuple[float, Work, Outcome] | None:
    """The pending work whose recorded end comes first."""
    best: tuple[float, Work, Outcome] | None = None
    for work in pending.values():
        found = feed.outcome(work)
        if found is None:
            if done is None or not done(work):
                continue
            found = (now, Outcome("failed", error=NO_RESULT, ended=now, final=True))
        when, outcome = found
        if best is None or (when, work.id) < (best[0], best[1].id):
            best = (when, work, outcome)
    return best
