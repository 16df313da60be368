"""The Prefect engine for jobs: a job run as one Prefect flow run.

The flow drives :class:`gridflow.jobs.run.JobRun` exactly as the local
engine does (:mod:`gridflow.engines.local_jobs`); only the *how* differs:

* every task attempt on a node is one Prefect task run, named
  ``<key>/<node>`` (``1/web-02``; ``0.1/web-02`` inside a pipeline; later
  attempts add ``(attempt N)``), submitted the moment the run releases it.
  Barriers, pipelines, conditions, budgets, retries (a retry is a new task
  run, after the plan's backoff) and the job's timeout stay the run's
  decisions, so the result is the one the local engine gives;
* ``pre`` and ``post`` checks are task runs too (``job pre-check ping
  hostname on web-01``); ``during`` checks and their pace run on the runner
  loop without task runs (a round every few seconds would flood the UI; a
  failing one is in the result and the progress lines);
* the commands run on the process's shared runner loop
  (:data:`gridflow.runtime.loop.RUNNER_LOOP`), where each node has one
  session for the whole job; a cancellation (a failed phase, the job's
  timeout) cancels the work's coroutine there, which kills the command's
  process group, and the task run ends Failed with "cancelled".

A failed or timed-out node ends its task run Failed, so the Prefect UI shows
where a job went wrong; the task runs themselves never retry. Task runs get
only the run's token and a work number as parameters: commands, outputs and
secrets stay in this process. That needs the default thread-pool task
runner (distributed task runners come with deployments).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from gridflow.engines.prefect_flow import run_flow
from gridflow.errors import UsageError
from gridflow.jobs.execute import HttpClients, NodeSessions, SessionFactory, execute
from gridflow.jobs.model import JobPlan
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import CheckWork, JobEvent, JobStatus, Outcome, TaskWork, Timer, Work
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.loop import RUNNER_LOOP
from gridflow.runtime.masking import Masker

__all__ = ["run_job", "task_run_name"]


@dataclasses.dataclass
class _Live:
    """What the task runs of one job run share with its driver (this process only)."""

    run: JobRun
    sessions: NodeSessions
    http: HttpClients
    works: dict[int, Work] = dataclasses.field(default_factory=dict)
    outcomes: dict[int, Outcome] = dataclasses.field(default_factory=dict)
    running: dict[int, concurrent.futures.Future[Outcome]] = dataclasses.field(default_factory=dict)
    cancelled: set[int] = dataclasses.field(default_factory=set)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def cancel(self, work_id: int) -> None:
        """Stop ``work_id``: now if it runs, at its start if it has not started."""
        with self.lock:
            self.cancelled.add(work_id)
            future = self.running.get(work_id)
        if future is not None:
            future.cancel()


_LIVE: dict[str, _Live] = {}
_LIVE_LOCK = threading.Lock()


def task_run_name(work: Work) -> str:
    """How a work item is named in the Prefect UI."""
    if isinstance(work, TaskWork):
        name = f"{work.task.key}/{work.node}"
        return name if work.attempt == 1 else f"{name} (attempt {work.attempt})"
    return work.label


def _work_body(token: str, work_id: int) -> Any:
    """What one Prefect task run does: one work item, on the runner loop."""
    from prefect.states import Completed, Failed

    with _LIVE_LOCK:
        live = _LIVE[token]
    work = live.works[work_id]
    with live.lock:
        if work_id in live.cancelled:
            outcome = Outcome("cancelled", ended=time.time())
            future = None
        else:
            future = RUNNER_LOOP.submit(execute(work, live.sessions, live.http), run_id=token)
            live.running[work_id] = future
    if future is not None:
        try:
            outcome = future.result()
        except concurrent.futures.CancelledError:
            outcome = Outcome("cancelled", ended=time.time())
        finally:
            with live.lock:
                live.running.pop(work_id, None)
    live.outcomes[work_id] = outcome
    if outcome.status == "success":
        return Completed(message=outcome.status)
    # A Failed state, not an exception: the UI shows the node failed, without
    # a traceback in the log for what is a result (the job goes on).
    what = "" if outcome.status == "cancelled" else f": {outcome.error or ''}"
    return Failed(message=live.run.masker.redact_text(f"{work.label}: {outcome.status}{what}"))


def _prefect_task(cache: dict[str, Any], kind: str) -> Any:
    """One Prefect task per kind of work; every attempt is its own task run."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    if kind not in cache:
        cache[kind] = task(
            name=kind,
            retries=0,  # the JobRun decides retries: each attempt is a new task run
            persist_result=False,
            cache_policy=NO_CACHE,
            log_prints=False,
        )(_work_body)
    return cache[kind]


def _outcome_of(live: _Live, work: Work, state: Any) -> Outcome:
    outcome = live.outcomes.pop(work.id, None)
    if outcome is not None:
        return outcome
    # The task run ended without running our body (Prefect crashed or refused it).
    message = getattr(state, "message", None) or "no result"
    return Outcome(
        "failed",
        error=f"the Prefect task run ended without running: {message}",
        ended=time.time(),
        final=True,
    )


def run_job(
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    *,
    session_factory: SessionFactory | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    masker: Masker | None = None,
    run_id: str | None = None,
    max_parallel: int = 100,
) -> JobRun:
    """Run ``plan`` on ``nodes`` as a Prefect flow in this process; returns
    the finished :class:`JobRun` (same arguments and result as the local
    engine's :func:`~gridflow.engines.local_jobs.run_job`)."""
    try:
        from prefect.states import Completed, Failed
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UsageError(
            'the prefect engine needs Prefect: pip install "gridflow[prefect]"'
        ) from exc

    run = JobRun(plan, nodes, run_id=run_id, masker=masker, on_event=on_event)
    token = run.run_id

    def drive() -> Any:
        live = _Live(run, NodeSessions({n.id: n for n in nodes}, session_factory), HttpClients())
        with _LIVE_LOCK:
            _LIVE[token] = live
        try:
            with _task_runs_off_the_console():
                _drive(live, token)
        finally:
            RUNNER_LOOP.run(_close(live))
            run.finish()
            with _LIVE_LOCK:
                _LIVE.pop(token, None)
        if run.status is JobStatus.SUCCESS:
            return Completed(message="job succeeded")
        problem = run.cancelled or run.failure
        text = problem.message if problem else f"job {run.status.value}"
        return Failed(message=run.masker.redact_text(text))

    run_flow(
        drive,
        name=plan.name,
        fallback_name="job",
        token=token,
        max_parallel=max_parallel,
        description=f"gridflow job {plan.name} ({plan.target}, strategy {plan.strategy})",
    )
    return run


def _drive(live: _Live, token: str) -> None:
    """The driver loop: hand out what the run releases, report what ends."""
    run = live.run
    tasks: dict[str, Any] = {}
    done: queue.Queue[int] = queue.Queue()
    inflight: dict[int, tuple[Work, Any]] = {}
    deadline = None if run.timeout_s is None else time.monotonic() + run.timeout_s
    try:
        run.start()
        while True:
            for work in run.ready():
                live.works[work.id] = work
                inflight[work.id] = (work, _start(live, token, work, tasks, done))
            for work in run.cancellations():
                live.cancel(work.id)
            if not inflight:
                break
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                finished = done.get(timeout=timeout)
            except queue.Empty:  # the job's deadline
                deadline = None
                run.expire()
                continue
            work, handle = inflight.pop(finished)
            run.complete(work, _finished_outcome(live, work, handle))
    except BaseException:
        # Interrupted (Ctrl-C) or a bug: stop everything, then account for it.
        run.cancel("the job was interrupted")
        for work_id in inflight:
            live.cancel(work_id)
        for work, handle in inflight.values():
            _wait(handle)
            run.complete(work, _finished_outcome(live, work, handle))
        raise


def _start(
    live: _Live, token: str, work: Work, tasks: dict[str, Any], done: queue.Queue[int]
) -> Any:
    """Start one work item; its id goes to ``done`` when it ends."""
    if isinstance(work, Timer) or (isinstance(work, CheckWork) and work.stage == "during"):
        # The pace and rounds of during-checks (every few seconds while a phase
        # runs) would flood the UI as task runs; a failing one is in the result.
        future = RUNNER_LOOP.submit(execute(work, live.sessions, live.http), run_id=token)
        with live.lock:
            live.running[work.id] = future
        future.add_done_callback(lambda _: done.put(work.id))
        return future
    kind = "node task" if isinstance(work, TaskWork) else "check"
    prefect_future = (
        _prefect_task(tasks, kind)
        .with_options(task_run_name=task_run_name(work))
        .submit(token, work.id)
    )
    prefect_future.add_done_callback(lambda _: done.put(work.id))
    return prefect_future


def _finished_outcome(live: _Live, work: Work, handle: Any) -> Outcome:
    if isinstance(handle, concurrent.futures.Future):  # a timer on the runner loop
        with live.lock:
            live.running.pop(work.id, None)
        if handle.cancelled():
            return Outcome("cancelled", ended=time.time())
        return cast(Outcome, handle.result())
    return _outcome_of(live, work, handle.state)


def _wait(handle: Any) -> None:
    if isinstance(handle, concurrent.futures.Future):
        concurrent.futures.wait([handle])
    else:
        handle.wait()


class _NoTaskRuns(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_TASK_RUN_LOGGER)


_TASK_RUN_LOGGER = "prefect.task_runs"


@contextlib.contextmanager
def _task_runs_off_the_console() -> Iterator[None]:
    """Prefect logs every failed task run at ERROR on the console; a node that
    fails is a result here, and the job's progress lines already say it. The
    task runs' logs still reach Prefect (its API handler is not a console)."""
    consoles = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    quiet = _NoTaskRuns()
    for handler in consoles:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(quiet)


async def _close(live: _Live) -> None:
    await live.sessions.close()
    await live.http.close()
