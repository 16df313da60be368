"""What one Airflow task of a job does, without importing Airflow.

Airflow runs every task in its own process, so no task holds the job's run
in memory. A task instead rebuilds it from the records the tasks before it
pushed (:func:`gridflow.jobs.replay.replay`) and asks it what to do:

* a node task (task K on node N, Airflow try T): the run, replayed up to
  here with T-1 failed attempts of its own, either hands out attempt T of
  K on N (then it runs, and the run says whether a retry follows), or says
  why not: skipped (a condition, a dropped node, a stopped job) or
  cancelled (its phase stopped before it started, the job's time ran out);
* a checks task: runs every check the run hands out for its stage, at once;
* a during-checks task (a sensor beside its scope): each look replays the
  run, with the rounds it ran so far, and either waits for the round the
  run's timer says is due, runs that round, or ends when the run no longer
  wants rounds (its scope ended or stopped); a failing round ends it failed,
  its records telling every later task that the scope was stopped then;
* the result task: the whole run replayed, finished, as its document.

Which earlier work must be over is known from the DAG: every stage before
this one (phases and checks come in order), and in a pipeline the node's
earlier tasks. A record missing there means that work's task died; a
sibling's missing record means it has not ended yet. The job's clock
starts with the DAG run; its deadline is the start plus the job's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gridflow.jobs.execute import HttpClients, NodeSessions, SessionFactory, execute
from gridflow.jobs.model import JobPlan
from gridflow.jobs.replay import (
    Replayed,
    check_record,
    output_record,
    replay,
    round_record,
    rounds_over_record,
    task_record,
)
from gridflow.jobs.state import CheckWork, NodeStatus, Outcome, TaskWork, Timer, Work
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker

__all__ = [
    "DuringPoke",
    "JobContext",
    "TaskResult",
    "Verdict",
    "job_result",
    "poke_during",
    "run_checks",
    "run_node_task",
    "use_session_factory",
]


class Verdict(str, enum.Enum):
    """How the Airflow task ends."""

    SUCCESS = "success"
    SKIP = "skip"  # the node does not run it (skipped or cancelled: the record says which)
    RETRY = "retry"  # failed, and the run retries it: let Airflow try again
    FAIL = "fail"  # failed for good


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """What the task pushes to XCom and how it ends."""

    records: list[dict[str, Any]]  # the return value
    outputs: list[dict[str, Any]]  # pushed apart (key "output")
    verdict: Verdict
    message: str = ""


@dataclasses.dataclass(frozen=True)
class JobContext:
    """What every task of one job run shares."""

    plan: JobPlan
    nodes: Sequence[NodeSpec]
    run_id: str
    started_at: float  # when the DAG run started (Unix time)
    masker: Masker

    @property
    def deadline(self) -> float | None:
        return None if self.plan.timeout_s is None else self.started_at + self.plan.timeout_s


# How a task in this process opens node sessions: the default transport
# unless a caller (gridflow run --engine airflow, tests) runs the DAG here.
_session_factory: list[SessionFactory] = []


@contextlib.contextmanager
def use_session_factory(factory: SessionFactory | None) -> Iterator[None]:
    """Open node sessions with ``factory`` in this process while the block runs."""
    if factory is None:
        yield
        return
    _session_factory.append(factory)
    try:
        yield
    finally:
        _session_factory.remove(factory)


def _sessions(ctx: JobContext) -> NodeSessions:
    factory = _session_factory[-1] if _session_factory else None
    return NodeSessions({n.id: n for n in ctx.nodes}, factory)


# ------------------------------------------------------------------ stages


def _stage(plan: JobPlan, work: Work) -> int:
    """A work item's place in the job's order: job pre-checks, then per
    phase its pre-checks, tasks and post-checks, then the job's post-checks."""
    if isinstance(work, TaskWork):
        return 3 * work.phase + 2
    scope = work.scope
    if scope is None:
        pre = isinstance(work, CheckWork) and work.stage == "pre"
        return 0 if pre else 3 * len(plan.phases) + 1
    stage = work.stage if isinstance(work, CheckWork) else "during"
    return 3 * scope + {"pre": 1, "during": 2, "post": 3}[stage]


def _replay_upto(
    ctx: JobContext,
    records: list[dict[str, Any]],
    stage: int,
    now: float,
    *,
    also_done: Any = None,
) -> Replayed:
    plan = ctx.plan

    def done(work: Work) -> bool:
        return _stage(plan, work) < stage or bool(also_done and also_done(work))

    return replay(
        plan,
        ctx.nodes,
        records,
        started_at=ctx.started_at,
        run_id=ctx.run_id,
        masker=ctx.masker,
        done=done,
        deadline=ctx.deadline,
        now=now,
    )


# -------------------------------------------------------------- node tasks


async def run_node_task(
    ctx: JobContext,
    key: str,
    node: str,
    attempt: int,
    records: list[dict[str, Any]],
    *,
    now: float | None = None,
) -> TaskResult:
    """One Airflow try of task ``key`` on ``node`` (``attempt`` = its try number)."""
    plan = ctx.plan
    task = next(t for t in plan.tasks() if t.key == key)
    phase = plan.phases[int(key.split(".")[0])]
    position = phase.tasks.index(task)
    earlier = {t.key for t in phase.tasks[:position]}
    # This node's records of this task are its earlier tries: what they were is
    # known (they failed, that is why Airflow tries again), so they are stood in.
    others = [r for r in records if not (r.get("key") == key and r.get("node") == node)]
    if attempt > 1:
        others.append(
            {"kind": "task", "key": key, "node": node, "attempt": attempt - 1}
            | {"status": "failed", "final": False, "error": None, "started": None, "ended": None}
        )

    def own_chain(work: Work) -> bool:  # the node's earlier tasks of its pipeline
        return isinstance(work, TaskWork) and work.node == node and work.task.key in earlier

    at = time.time() if now is None else now
    replayed = _replay_upto(ctx, others, 3 * phase.index + 2, at, also_done=own_chain)
    run = replayed.run
    work = replayed.task_work(key, node)
    if work is None or work.attempt != attempt:
        rec = run.records[key][node]
        if rec.status is NodeStatus.SKIPPED:
            return TaskResult([], [], Verdict.SKIP, f"skipped: {rec.reason}")
        if rec.status is NodeStatus.CANCELLED:
            return _cancelled(key, node, attempt, rec.reason)
        if work is None:  # the run does not see this work at all: a bug of ours
            raise RuntimeError(
                f"task {key} on {node}: the job's run does not hand it out (status "
                f"{rec.status.value}), though every task before it has ended"
            )
        raise RuntimeError(f"task {key} on {node}: try {attempt} but the run is at {work.attempt}")
    if not replayed.wanted(work):
        return _cancelled(key, node, attempt, _cancel_reason(replayed))
    outcome = await _execute(ctx, dataclasses.replace(work, delay_s=0.0), replayed)
    run.complete(work, outcome)
    retry = any(
        isinstance(w, TaskWork) and w.task.key == key and w.node == node for w in run.ready()
    )
    record = ctx.masker.redact(task_record(work, outcome, final=not retry))
    outputs = [ctx.masker.redact(output_record(work, outcome.output))] if outcome.output else []
    label = f"{work.label} (attempt {attempt})"
    if outcome.status == "success":
        return TaskResult([record], outputs, Verdict.SUCCESS)
    if outcome.status == "cancelled":
        message = f"{label}: cancelled: the job's time ran out"
        return TaskResult([record], outputs, Verdict.SKIP, message)
    message = ctx.masker.redact_text(f"{label}: {outcome.status}: {outcome.error}")
    return TaskResult([record], outputs, Verdict.RETRY if retry else Verdict.FAIL, message)


def _cancelled(key: str, node: str, attempt: int, reason: str | None) -> TaskResult:
    """Not started: its phase stopped first, or the job's time ran out."""
    record = {"kind": "task", "key": key, "node": node, "attempt": attempt}
    record |= {"status": "cancelled", "final": True, "error": None, "started": None}
    record |= {"ended": time.time()}
    why = reason or "the job stopped"
    message = why if why.startswith("cancelled") else f"cancelled: {why}"
    return TaskResult([record], [], Verdict.SKIP, message)


def _cancel_reason(replayed: Replayed) -> str:
    run = replayed.run
    if run.cancelled is not None:
        return run.cancelled.message
    if run.failure is not None:
        return f"never started: {run.failure.message}"
    return "never started"


async def _execute(ctx: JobContext, work: Work, replayed: Replayed) -> Outcome:
    """Run one work item here, within what is left of the job's time."""
    sessions = _sessions(ctx)
    http = HttpClients()
    left = None if ctx.deadline is None else max(ctx.deadline - time.time(), 0.0)
    try:
        return await asyncio.wait_for(execute(work, sessions, http), left)
    except asyncio.TimeoutError:
        replayed.run.expire()
        return Outcome("cancelled", ended=time.time())
    finally:
        await sessions.close()
        await http.close()


# ------------------------------------------------------------------- checks


async def run_checks(
    ctx: JobContext,
    scope: int | None,
    stage: str,
    records: list[dict[str, Any]],
    *,
    now: float | None = None,
) -> TaskResult:
    """Every ``stage`` check of ``scope`` the run hands out, run at once."""
    plan = ctx.plan
    if scope is None:
        mine = 0 if stage == "pre" else 3 * len(plan.phases) + 1
    else:
        mine = 3 * scope + (1 if stage == "pre" else 3)
    at = time.time() if now is None else now
    replayed = _replay_upto(ctx, records, mine, at)
    works = [w for w in replayed.check_works(scope, stage) if replayed.wanted(w)]
    where = "the job's" if scope is None else f"phase {scope}'s"
    if not works:
        return TaskResult([], [], Verdict.SKIP, f"{where} {stage}-checks do not run")
    outcomes = await asyncio.gather(*(_execute(ctx, w, replayed) for w in works))
    out = [ctx.masker.redact(check_record(w, o)) for w, o in zip(works, outcomes, strict=True)]
    failed = [
        f"{w.label}: {o.status}: {o.error}"
        for w, o in zip(works, outcomes, strict=True)
        if o.status != "success"
    ]
    if failed:
        return TaskResult(out, [], Verdict.FAIL, ctx.masker.redact_text("; ".join(failed)))
    return TaskResult(out, [], Verdict.SUCCESS)


# ------------------------------------------------------------------- during


@dataclasses.dataclass(frozen=True)
class DuringPoke:
    """What one look at a scope's ``during`` checks found or did.

    ``rounds`` are the records of every round so far, which the engine task
    keeps between looks. While ``result`` is None the checks go on, the next
    look due in ``wait_s``; otherwise they are over and ``result`` says what
    to push and how the task ends.
    """

    rounds: list[dict[str, Any]]
    wait_s: float = 0.0
    result: TaskResult | None = None


def _during_stage(scope: int | None) -> int:
    """The first stage a scope's ``during`` checks run beside: its phase's
    tasks, or (the job's) phase 0's pre-checks."""
    return 1 if scope is None else 3 * scope + 2


def _scope_work(ctx: JobContext, scope: int | None) -> Callable[[Work], bool]:
    """The work of the scope a ``during`` task runs beside, its own excluded:
    a phase's node tasks; for the job, everything of every phase."""
    plan = ctx.plan
    last = 3 * len(plan.phases)

    def inside(work: Work) -> bool:
        own = isinstance(work, Timer) or (isinstance(work, CheckWork) and work.stage == "during")
        if own and work.scope == scope:
            return False
        if scope is None:
            return 1 <= _stage(plan, work) <= last
        return isinstance(work, TaskWork) and work.phase == scope

    return inside


async def poke_during(
    ctx: JobContext,
    scope: int | None,
    records: list[dict[str, Any]],
    rounds: list[dict[str, Any]],
    *,
    scope_over: bool,
    fresh: Callable[[], list[dict[str, Any]]],
    now: float | None = None,
) -> DuringPoke:
    """One look at ``scope``'s ``during`` checks.

    ``records`` are every other task's, ``rounds`` this task's own so far;
    ``scope_over`` says the engine saw every task of the scope end (one
    that left no record then died). When a round fails, ``fresh()`` gives
    the records as they are then: the failure stops the scope only if the
    run, rebuilt from them, still had the scope running when the round went
    off (a task may have ended it a moment before, its record not yet seen).
    """
    at = time.time() if now is None else now
    mine = _during_stage(scope)
    also_done = _scope_work(ctx, scope) if scope_over else None
    replayed = _replay_upto(ctx, records + rounds, mine, at, also_done=also_done)
    timer = replayed.during_timer(scope)
    if timer is None:
        return _rounds_over(ctx, scope, rounds, replayed, at)
    due = replayed.due(timer)
    if at < due:
        until = due if ctx.deadline is None else min(due, ctx.deadline)
        return DuringPoke(rounds, wait_s=max(until - at, 0.0))
    round_no = replayed.rounds[timer.id]
    run = replayed.run
    run.complete(timer, Outcome("success", started=at, ended=at))
    works = [w for w in run.ready() if isinstance(w, CheckWork)]
    outcomes = await asyncio.gather(*(_execute(ctx, w, replayed) for w in works))
    ended = max((o.ended for o in outcomes if o.ended is not None), default=at)
    kept = _with_round(ctx, rounds, scope, round_no, at, ended, works, outcomes)
    failed = [
        f"{w.label}: {o.status}: {o.error}"
        for w, o in zip(works, outcomes, strict=True)
        if o.status in ("failed", "timeout")
    ]
    if run.cancelled is not None:  # the job's time ran out during the round
        return _rounds_over(ctx, scope, kept, replayed, ended)
    if not failed:
        interval = timer.delay_s
        return DuringPoke(kept, wait_s=max(ended + interval - time.time(), 0.0))
    confirmed = _replay_upto(ctx, fresh() + kept, mine, time.time(), also_done=also_done)
    if not any(
        rec.failures
        for (s, stage, _, _), rec in confirmed.run.check_records.items()
        if s == scope and stage == "during"
    ):  # the scope had ended before this round: it does not count
        return _rounds_over(ctx, scope, rounds, replayed, at)
    message = ctx.masker.redact_text("; ".join(failed))
    over = rounds_over_record(scope, _count_rounds(kept), ended)
    return DuringPoke(kept, result=TaskResult([*kept, over], [], Verdict.FAIL, message))


def _with_round(
    ctx: JobContext,
    rounds: list[dict[str, Any]],
    scope: int | None,
    round_no: int,
    started: float,
    ended: float,
    works: list[CheckWork],
    outcomes: list[Outcome],
) -> list[dict[str, Any]]:
    """The records with round ``round_no`` added: its own record, and each of
    its checks' outcome in place of that check's earlier last one. A check
    cut by the job's deadline did not run: its earlier outcome stays."""
    ran = [(w, o) for w, o in zip(works, outcomes, strict=True) if o.status != "cancelled"]
    replaced = {(w.index, w.node) for w, _ in ran}
    kept = [
        r for r in rounds if not (r.get("kind") == "check" and (r["index"], r["node"]) in replaced)
    ]
    kept += [ctx.masker.redact(check_record(w, o, round_no=round_no)) for w, o in ran]
    kept.append(round_record(scope, round_no, started, ended))
    return kept


def _count_rounds(rounds: list[dict[str, Any]]) -> int:
    return sum(1 for r in rounds if r.get("kind") == "round")


def _rounds_over(
    ctx: JobContext,
    scope: int | None,
    rounds: list[dict[str, Any]],
    replayed: Replayed,
    at: float,
) -> DuringPoke:
    """The run wants no more rounds: the scope ended, stopped or never ran."""
    where = "the job's" if scope is None else f"phase {scope}'s"
    if not replayed.during_started(scope):
        message = f"{where} during-checks do not run: the {'job' if scope is None else 'phase'} "
        return DuringPoke(rounds, result=TaskResult([], [], Verdict.SKIP, message + "did not run"))
    count = _count_rounds(rounds)
    records = [*rounds, rounds_over_record(scope, count, at)]
    if replayed.run.cancelled is not None:
        message = f"{where} during-checks stopped: {replayed.run.cancelled.message}"
        return DuringPoke(rounds, result=TaskResult(records, [], Verdict.SKIP, message))
    message = f"{where} during-checks passed {count} round{'' if count == 1 else 's'}"
    return DuringPoke(rounds, result=TaskResult(records, [], Verdict.SUCCESS, message))


# ------------------------------------------------------------------- result


def job_result(
    ctx: JobContext, records: list[dict[str, Any]], *, now: float | None = None
) -> tuple[Replayed, dict[str, Any]]:
    """The whole run, replayed from every record and finished, and its document."""
    at = time.time() if now is None else now
    replayed = _replay_upto(ctx, records, 3 * len(ctx.plan.phases) + 2, at)
    run = replayed.run
    run.finish()
    return replayed, run.result()
