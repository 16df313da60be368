"""The local engine for jobs: a job run on one asyncio loop, in this process.

It drives :class:`gridflow.jobs.run.JobRun` with asyncio tasks, as
:mod:`gridflow.engines.local` drives a grid: every work item the run hands
out becomes a task, cancellations are ``Task.cancel()`` (which kills a
running command's process group), and at the job's timeout everything left
is cancelled. Each node gets one session, opened on first use, reused by all
of its tasks and checks, and closed when the job ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from gridflow.jobs.execute import HttpClients, NodeSessions, SessionFactory, execute
from gridflow.jobs.model import JobPlan
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import JobEvent, Outcome, Work
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker

__all__ = ["run_job", "run_job_async"]


async def run_job_async(
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    *,
    session_factory: SessionFactory | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    masker: Masker | None = None,
    run_id: str | None = None,
) -> JobRun:
    """Run ``plan`` on ``nodes`` to the end and return the finished :class:`JobRun`.

    ``session_factory`` opens a node's session (default:
    :func:`gridflow.jobs.execute.open_session`: local nodes here, ssh nodes
    through the SSH transport).
    """
    run = JobRun(plan, nodes, run_id=run_id, masker=masker, on_event=on_event)
    sessions = NodeSessions({n.id: n for n in nodes}, session_factory, masker=run.masker)
    http = HttpClients()
    tasks: dict[asyncio.Task[Outcome], Work] = {}
    by_id: dict[int, asyncio.Task[Outcome]] = {}
    deadline = None if run.timeout_s is None else time.monotonic() + run.timeout_s
    try:
        run.start()
        while True:
            for work in run.ready():
                task = asyncio.create_task(execute(work, sessions, http), name=work.label)
                tasks[task] = work
                by_id[work.id] = task
            for work in run.cancellations():
                by_id[work.id].cancel()
            if not tasks:
                break
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            done, _ = await asyncio.wait(
                tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # the job's deadline
                deadline = None
                run.expire()
                continue
            for task in done:
                work = tasks.pop(task)
                del by_id[work.id]
                run.complete(work, _outcome_of(task))
    except asyncio.CancelledError:
        run.cancel("the job was interrupted")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task, work in tasks.items():
            run.complete(work, _outcome_of(task))
        raise
    finally:
        await sessions.close()
        await http.close()
        run.finish()
    return run


def _outcome_of(task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        return Outcome("cancelled", ended=time.time())
    exc = task.exception()
    if exc is not None:  # execute() turns failures into outcomes; this is a bug
        return Outcome(
            "failed",
            error=f"internal error: {type(exc).__name__}: {exc}",
            ended=time.time(),
            final=True,
        )
    return task.result()


def run_job(
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    *,
    session_factory: SessionFactory | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    masker: Masker | None = None,
    run_id: str | None = None,
) -> JobRun:
    """Synchronous wrapper of :func:`run_job_async`."""
    return asyncio.run(
        run_job_async(
            plan,
            nodes,
            session_factory=session_factory,
            on_event=on_event,
            masker=masker,
            run_id=run_id,
        )
    )
