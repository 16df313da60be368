"""The local engine: a grid run on one asyncio loop, in this process.

No scheduler, no database: it drives :class:`gridflow.runtime.GridRun` with
asyncio tasks. It is what the other engines are compared against in tests and
what ``gridflow run --engine local`` uses when start-up time matters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gridflow.plan import Plan
from gridflow.runtime import loop
from gridflow.runtime.execute import ResourcePool, error_info, run_work
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import GridRun, Work
from gridflow.runtime.state import Instance, Outcome, Status

log = logging.getLogger("gridflow.run")


async def run_grid_async(
    plan: Plan,
    values: Mapping[str, Any],
    *,
    run_id: str | None = None,
    base_dir: str | None = None,
    environ: Mapping[str, str] | None = None,
    max_parallel: int = 100,
    masker: Masker | None = None,
    on_event: Callable[[str, Instance], None] | None = None,
) -> GridRun:
    """Run ``plan`` to the end and return the finished :class:`GridRun`."""
    run = GridRun(
        plan,
        values,
        run_id=run_id,
        base_dir=base_dir,
        environ=environ,
        max_parallel=max_parallel,
        masker=masker,
        on_event=on_event,
    )
    pool = ResourcePool(run.resource_arguments, run.masker)
    tasks: dict[asyncio.Task[Outcome], Work] = {}
    try:
        while True:
            for work in run.ready():
                task = asyncio.create_task(run_work(work, pool, masker=run.masker))
                tasks[task] = work
            if not tasks:
                break
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                work = tasks.pop(task)
                run.complete(work, _outcome_of(task))
            if run.cancelling and tasks:
                await _cancel(tasks, run)
    except asyncio.CancelledError:
        run.cancel("the run was interrupted")
        await _cancel(tasks, run)
        raise
    finally:
        await pool.close()
        run.finish()
    return run


def _outcome_of(task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        return Outcome(Status.CANCELLED, error=error_info(asyncio.CancelledError()))
    exc = task.exception()
    if exc is not None:
        return Outcome(Status.FAILED, error=error_info(exc))
    return task.result()


async def _cancel(tasks: dict[asyncio.Task[Outcome], Work], run: GridRun) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task, work in tasks.items():
        outcome = _outcome_of(task)
        if outcome.status is Status.FAILED and outcome.error and outcome.error.kind == "cancelled":
            outcome = Outcome(Status.CANCELLED, error=outcome.error)
        run.complete(work, outcome)
    tasks.clear()


def run_grid(
    plan: Plan,
    values: Mapping[str, Any],
    *,
    run_id: str | None = None,
    base_dir: str | None = None,
    environ: Mapping[str, str] | None = None,
    max_parallel: int = 100,
    masker: Masker | None = None,
    on_event: Callable[[str, Instance], None] | None = None,
) -> GridRun:
    """Synchronous wrapper of :func:`run_grid_async` (same signature as the Prefect engine's)."""
    return loop.run(
        run_grid_async(
            plan,
            values,
            run_id=run_id,
            base_dir=base_dir,
            environ=environ,
            max_parallel=max_parallel,
            masker=masker,
            on_event=on_event,
        )
    )
