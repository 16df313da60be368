"""What one Airflow task of a grid does, without importing Airflow.

Airflow runs each task in its own process, so a task cannot hold the run in
memory as the local and Prefect engines do. A task of step S at map index p
instead rebuilds the part of the run it needs:

1. a :class:`GridRun` from the Plan and the run's variable values;
2. the instances of the steps S reads (``GridRun.needs``), restored from the
   records their tasks pushed to XCom (:class:`RecordSource`);
3. ``prepare_one``: the same ``if``, argument and masking rules every engine
   uses; then one attempt of the runner.

It returns the instance's record (for XCom) and what Airflow should do with
the task (:class:`Verdict`). No step semantics live in the operator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from gridflow.errors import ExpressionError, WaitError
from gridflow.plan import Plan
from gridflow.runtime.execute import (
    ResourcePool,
    attempt_until_ready,
    error_info,
    should_retry,
)
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import GridRun, Work
from gridflow.runtime.state import ErrorInfo, Outcome, Status

from .names import burst_head, count_source


class RecordSource(Protocol):
    """Where a task finds what other tasks of the same run produced."""

    def records(self, step_id: str) -> list[dict[str, Any]]:
        """Every record pushed so far by ``step_id``'s task(s), any order."""

    def count(self, step_id: str) -> int:
        """How many instances the ``.instances`` task of ``step_id`` counted."""


class Verdict(str, Enum):
    """How the Airflow task ends."""

    SUCCESS = "success"
    SKIP = "skip"  # ``if`` was false: shown skipped, dependents still run
    RETRY = "retry"  # failed, attempts remain: let Airflow retry the task
    FAIL = "fail"  # failed for good: fails the run (fail-fast)
    CONTINUE = "continue"  # failed for good, continue_on_error: the run goes on


@dataclass(frozen=True)
class InstanceResult:
    record: dict[str, Any]
    verdict: Verdict
    message: str = ""


@dataclass(frozen=True)
class RunContext:
    """What every task of one run shares."""

    plan: Plan
    values: Mapping[str, Any]
    run_id: str | None = None
    base_dir: str | None = None
    masker: Masker | None = None


def rebuild(
    ctx: RunContext, step_id: str, source: RecordSource, needs: list[str] | None = None
) -> GridRun:
    """A GridRun holding the restored instances ``step_id`` reads (or ``needs``)."""
    # Every Airflow try evaluates the arguments again, in a new process:
    # uuid() must give the value it gave the first try.
    run = GridRun(
        ctx.plan,
        ctx.values,
        run_id=ctx.run_id,
        base_dir=ctx.base_dir,
        masker=ctx.masker,
        uuid_seed=ctx.run_id,
    )
    for up in run.needs(step_id) if needs is None else needs:
        if burst_head(ctx.plan, up) is not None:
            pulled = source.records(up)
            record = pulled[0].get(up) if pulled else None
            if record is not None:
                run.restore_burst(up, record)
            continue
        counter = count_source(ctx.plan, up)
        count = source.count(counter) if counter is not None else 1
        run.restore(up, source.records(up), count=count)
    return run


def count_instances(ctx: RunContext, step_id: str, source: RecordSource) -> int:
    """The number of instances of ``step_id`` (a fanned-out step or chain root).

    Raises :class:`~gridflow.errors.ExpressionError` when ``count`` /
    ``for_each`` cannot be evaluated.
    """
    run = rebuild(ctx, step_id, source)
    if run.failure is not None:  # locals failed to evaluate
        raise ExpressionError(run.failure.message)
    return len(run.instance_keys(step_id))


async def run_instance(
    ctx: RunContext,
    step_id: str,
    position: int,
    source: RecordSource,
    *,
    attempt: int = 1,
    logger: logging.Logger | None = None,
) -> InstanceResult:
    """One attempt of one instance; Airflow's own retries make the next."""
    run = rebuild(ctx, step_id, source)
    step = ctx.plan.steps[step_id]
    if run.failure is not None:  # locals failed to evaluate
        record = {"position": position, "status": "failed", "error": run.failure.as_dict()}
        return InstanceResult(record, Verdict.FAIL, run.failure.message)
    prepared = run.prepare_one(step_id, position)
    if isinstance(prepared, Work):
        outcome, retry = await _attempt(run, prepared, attempt, logger)
        run.complete(prepared, outcome)
    else:
        outcome, retry = prepared, False
    record = run.records(step_id)[position]
    if outcome.status is Status.SUCCESS:
        return InstanceResult(record, Verdict.SUCCESS)
    if outcome.status is Status.SKIPPED:
        return InstanceResult(record, Verdict.SKIP, "the if condition is false")
    message = outcome.error.message if outcome.error else "failed"
    if retry:
        verdict = Verdict.RETRY
    elif step.continue_on_error:
        verdict = Verdict.CONTINUE
    else:
        verdict = Verdict.FAIL
    return InstanceResult(record, verdict, message)


async def _attempt(
    run: GridRun, work: Work, attempt: int, logger: logging.Logger | None
) -> tuple[Outcome, bool]:
    """(outcome, whether Airflow should try again)."""
    pool = ResourcePool(run.resource_arguments, run.masker)
    started = time.time()
    try:
        output = await attempt_until_ready(
            work, pool, attempt=attempt, masker=run.masker, logger=logger
        )
    except WaitError as exc:  # never became ready: failed, not retried
        return _failed(exc, attempt, started), False
    except Exception as exc:
        return _failed(exc, attempt, started), should_retry(exc, attempt, work.step.retry)
    finally:
        await pool.close()
    outcome = Outcome(
        Status.SUCCESS, output=output, attempts=attempt, started=started, ended=time.time()
    )
    return outcome, False


def _failed(exc: BaseException, attempt: int, started: float) -> Outcome:
    return Outcome(
        Status.FAILED, error=error_info(exc), attempts=attempt, started=started, ended=time.time()
    )


# ------------------------------------------------------------------- bursts


def burst_members(plan: Plan, head: str) -> list[str]:
    return [s for s in plan.steps if burst_head(plan, s) == head]


def _burst_needs(plan: Plan, head: str) -> list[str]:
    members = burst_members(plan, head)
    inside = set(members)
    needs: dict[str, None] = {}
    for sid in members:
        for up in plan.steps[sid].upstream_ids:
            if up not in inside:
                needs.setdefault(up, None)
    return list(needs)


async def run_burst_shard(
    ctx: RunContext,
    head: str,
    shard: int,
    source: RecordSource,
    *,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Run one shard of the burst headed by ``head``: its outcome as JSON
    (``status``, ``error``, ``attempts``, ``output`` = the shard result)."""
    from gridflow.burst.run import run_burst  # loads HDR histograms only here

    run = rebuild(ctx, head, source, _burst_needs(ctx.plan, head))
    if run.failure is not None:
        return _outcome_json(Outcome(Status.FAILED, error=run.failure, attempts=0))
    work = run.burst_work(head, shard)
    pool = ResourcePool(run.resource_arguments, run.masker)
    try:
        outcome = await run_burst(work, pool, masker=run.masker, logger=logger)
    finally:
        await pool.close()
    return _outcome_json(outcome)


def merge_burst(
    ctx: RunContext, head: str, shard_results: list[dict[str, Any]], source: RecordSource
) -> tuple[dict[str, Any], Verdict, str]:
    """Merge every shard's result: the members' records (for XCom), and how
    the task ends (thresholds judged on the merged numbers)."""
    run = rebuild(ctx, head, source, _burst_needs(ctx.plan, head))
    if run.failure is not None:
        return {}, Verdict.FAIL, run.failure.message
    outcomes = [_outcome_from_json(r) for r in shard_results]
    shards = max(1, ctx.plan.steps[head].load.shards)
    missing = Outcome(Status.CANCELLED, error=ErrorInfo("cancelled", "this shard did not run"))
    outcomes += [missing] * (shards - len(outcomes))
    run.finish_burst(head, outcomes)
    records = run.burst_records(head)
    failed = [
        (mid, rec)
        for mid, rec in records.items()
        if (rec.get("summary") or {}).get("status") == Status.FAILED.value
    ]
    if not failed:
        return records, Verdict.SUCCESS, ""
    message = run.failure.message if run.failure is not None else f"{failed[0][0]} failed"
    fatal = any(not ctx.plan.steps[mid].continue_on_error for mid, _ in failed)
    return records, Verdict.FAIL if fatal else Verdict.CONTINUE, message


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "error": outcome.error.as_dict() if outcome.error else None,
        "attempts": outcome.attempts,
        "output": outcome.output,
    }


def _outcome_from_json(data: Mapping[str, Any]) -> Outcome:
    error = data.get("error")
    return Outcome(
        Status(data["status"]),
        output=data.get("output"),
        error=ErrorInfo(error["kind"], error["message"]) if error else None,
        attempts=int(data.get("attempts") or 0),
    )
