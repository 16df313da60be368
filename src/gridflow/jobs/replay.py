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

``during`` checks run in rounds, paced by the run's timers. The engine task
that runs a scope's rounds keeps, instead of one record per check and
round, one :func:`round_record` per round (when it started and ended), the
*last* outcome of each check and node (a check record with its ``round``),
and, once it is over, a :func:`rounds_over_record`::

    {"kind": "round", "scope": 0, "round": 3, "started": ..., "ended": ...}
    {"kind": "check", "scope": 0, "stage": "during", "index": 0, "node": null,
     "round": 3, "status": "failed", "error": "...", ...}
    {"kind": "rounds-over", "scope": 0, "rounds": 3, "ended": ...}

A round stops the scope only by failing, and a failing round is the last,
so every round before a check's last one passed: replaying feeds the k-th
timer of a scope at round k's start, and each check of that round its
recorded outcome (its last round), a success (an earlier round), or
``cancelled`` (it was not part of that round).

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
from gridflow.jobs.state import CheckWork, JobEvent, Outcome, TaskWork, Timer, Work
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker

__all__ = [
    "NO_RESULT",
    "Replayed",
    "check_record",
    "output_record",
    "replay",
    "round_record",
    "rounds_over_record",
    "task_record",
    "unbounded",
]

#: The error of work that ended without a record.
NO_RESULT = (
    "its engine task ended without a result (it was killed, or its worker died): see the task's log"
)
_LONG_AGO = -math.inf

Scope = int | None  # a phase index, or None for the job
TaskKey = tuple[str, str]  # (task key, node)
CheckKey = tuple[Scope, str, int, str | None]  # (scope, stage, index, node)


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


def check_record(
    work: CheckWork, outcome: Outcome, *, round_no: int | None = None
) -> dict[str, Any]:
    """What an engine keeps of one check run (of a ``during`` check: its last,
    in round ``round_no``)."""
    record = {
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
    if round_no is not None:
        record["round"] = round_no
    return record


def round_record(scope: Scope, round_no: int, started: float, ended: float) -> dict[str, Any]:
    """Round ``round_no`` (from 1) of ``scope``'s ``during`` checks ran from
    ``started`` (its timer went off) to ``ended`` (its last check ended)."""
    return {"kind": "round", "scope": scope, "round": round_no, "started": started, "ended": ended}


def rounds_over_record(scope: Scope, rounds: int, ended: float) -> dict[str, Any]:
    """The engine task running ``scope``'s rounds is over, after ``rounds`` rounds.

    Without it, a timer no round answers, of a task that is over, means the
    task died: the round it owed is taken as failed.
    """
    return {"kind": "rounds-over", "scope": scope, "rounds": rounds, "ended": ended}


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
    handed_at: dict[int, float]  # when the run handed each pending work out (records' clock)
    rounds: dict[int, int]  # timers and during checks: the round they belong to
    timers: dict[Scope, int]  # per scope, how many during timers the run set

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

    def during_timer(self, scope: Scope) -> Timer | None:
        """The timer of ``scope``'s next ``during`` round, while the run wants one."""
        for work in self.pending.values():
            if isinstance(work, Timer) and work.scope == scope and self.wanted(work):
                return work
        return None

    def due(self, timer: Timer) -> float:
        """When ``timer`` goes off: its delay after the run set it."""
        return self.handed_at[timer.id] + timer.delay_s

    def during_started(self, scope: Scope) -> bool:
        """Whether the run started ``scope``'s ``during`` checks at all."""
        return self.timers.get(scope, 0) > 0


class _Records:
    """The records by what they settle, and the outputs to put back."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.tasks: dict[TaskKey, dict[str, Any]] = {}
        self.checks: dict[CheckKey, dict[str, Any]] = {}
        self.outputs: dict[TaskKey, str] = {}
        self.rounds: dict[tuple[Scope, int], dict[str, Any]] = {}
        self.over: set[Scope] = set()  # scopes whose rounds' engine task is over
        for rec in records:
            kind = rec.get("kind")
            if kind == "task":
                key = (str(rec["key"]), str(rec["node"]))
                known = self.tasks.get(key)
                if known is None or int(rec["attempt"]) >= int(known["attempt"]):
                    self.tasks[key] = rec
            elif kind == "check":
                self.checks[(_scope(rec), rec["stage"], int(rec["index"]), rec["node"])] = rec
            elif kind == "output":
                self.outputs[(str(rec["key"]), str(rec["node"]))] = str(rec["output"])
            elif kind == "round":
                self.rounds[(_scope(rec), int(rec["round"]))] = rec
            elif kind == "rounds-over":
                self.over.add(_scope(rec))

    def outcome(self, work: Work, round_no: int) -> tuple[float, Outcome] | None:
        """(when it ended, how) for ``work``, if a record settles it; ``round_no``
        is the round of a timer or ``during`` check."""
        if isinstance(work, TaskWork):
            return self._task_outcome(work)
        if isinstance(work, Timer):
            rec = self.rounds.get((work.scope, round_no))
            if rec is None:
                return None
            started = float(rec["started"])
            return started, Outcome("success", started=started, ended=started)
        if work.stage == "during":
            return self._during_outcome(work, round_no)
        rec = self.checks.get((work.scope, work.stage, work.index, work.node))
        if rec is None:
            return None
        return _when(rec), _outcome(rec, output=str(rec.get("output") or ""), final=True)

    def _during_outcome(self, work: CheckWork, round_no: int) -> tuple[float, Outcome] | None:
        this_round = self.rounds.get((work.scope, round_no))
        if this_round is None:
            return None
        rec = self.checks.get((work.scope, "during", work.index, work.node))
        last = int(rec.get("round") or 0) if rec is not None else 0
        if rec is not None and last == round_no:
            return _when(rec), _outcome(rec, output=str(rec.get("output") or ""), final=True)
        ended = float(this_round["ended"])
        if last > round_no:  # an earlier round of a check that ran again: it passed
            return ended, Outcome("success", started=float(this_round["started"]), ended=ended)
        return ended, Outcome("cancelled", ended=ended)  # not part of that round

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


def _scope(rec: dict[str, Any]) -> Scope:
    scope = rec.get("scope")
    return None if scope is None else int(scope)


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

    Timers exist only in the run: one the run cancels (its scope ended) is
    settled at once; one no round answers waits for its round, unless the
    engine task running the rounds is over: then, if that task said so, the
    timer is settled last (the scope ended after all), else it goes off at
    its due time and its round fails (the task died).
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
    out = Replayed(run, {}, set(), {}, {}, {})
    pending, cancelled = out.pending, out.cancelled
    expired = False
    while True:
        _collect(out, clock[0])
        settled = _settle_cancelled_timers(out, clock[0])
        if settled:
            continue
        nxt = _next(out, feed, done, clock[0])
        if nxt is None:
            if _settle_orphan_timers(out, feed, done, clock[0]):
                continue
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
        _collect(out, clock[0])
        _settle_cancelled_timers(out, clock[0])
    clock[0] = max(clock[0], min(at, deadline) if deadline is not None else at)
    return out


def _collect(out: Replayed, now: float) -> None:
    """Take what the run hands out and wants cancelled; number the rounds."""
    for work in out.run.ready():
        out.pending[work.id] = work
        out.handed_at[work.id] = now
        if isinstance(work, Timer):
            out.timers[work.scope] = out.timers.get(work.scope, 0) + 1
            out.rounds[work.id] = out.timers[work.scope]
        elif isinstance(work, CheckWork) and work.stage == "during":
            out.rounds[work.id] = out.timers.get(work.scope, 0)
    for work in out.run.cancellations():
        out.cancelled.add(work.id)


def _settle_cancelled_timers(out: Replayed, now: float) -> bool:
    """A timer the run cancelled never reaches the engine: settle it now."""
    stopped = [w for w in out.pending.values() if isinstance(w, Timer) and w.id in out.cancelled]
    for work in stopped:
        del out.pending[work.id]
        out.cancelled.discard(work.id)
        out.run.complete(work, Outcome("cancelled", ended=now))
    return bool(stopped)


def _settle_orphan_timers(
    out: Replayed, feed: _Records, done: Callable[[Work], bool] | None, now: float
) -> bool:
    """Timers of scopes whose rounds are over though the run still waits for
    one (the engine task saw its scope end a moment earlier than the records
    say): nothing else can settle them, so they end, cancelled."""
    orphans = [
        w
        for w in out.pending.values()
        if isinstance(w, Timer) and w.scope in feed.over and done is not None and done(w)
    ]
    for work in orphans:
        del out.pending[work.id]
        out.cancelled.discard(work.id)
        out.run.complete(work, Outcome("cancelled", ended=now))
    return bool(orphans)


def _next(
    out: Replayed,
    feed: _Records,
    done: Callable[[Work], bool] | None,
    now: float,
) -> tuple[float, Work, Outcome] | None:
    """The pending work whose recorded end comes first."""
    best: tuple[float, Work, Outcome] | None = None
    for work in out.pending.values():
        found = feed.outcome(work, out.rounds.get(work.id, 0))
        if found is None:
            if done is None or not done(work):
                continue
            if isinstance(work, Timer):
                if work.scope in feed.over:
                    continue  # settled last, if the scope's end does not cancel it
                # the rounds' task died: the round it owed, at its due time, fails
                due = max(out.due(work), now)
                found = (due, Outcome("failed", error=NO_RESULT, started=due, ended=due))
            else:
                found = (now, Outcome("failed", error=NO_RESULT, ended=now, final=True))
        when, outcome = found
        if best is None or (when, work.id) < (best[0], best[1].id):
            best = (when, work, outcome)
    return best
