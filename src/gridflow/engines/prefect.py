"""Plan -> Prefect flow.

The flow drives :class:`gridflow.runtime.GridRun` (the grid semantics) and
runs every step instance as a Prefect task run, so each instance shows in the
Prefect UI with its own state, retries and logs:

* fan-out -> one task run per instance, submitted as soon as its inputs are
  ready (``[each]`` clones start per instance, not per step);
* ``retry`` -> the task's ``retries`` / ``retry_delay_seconds`` (a list for
  exponential backoff), with a ``retry_condition_fn`` that never retries a
  cancellation;
* ``concurrency.limit`` and the run's parallelism -> the driver submits no
  more than that many instances at once;
* ``timeout`` -> enforced around the runner inside the task (Prefect cannot
  stop a thread; the runner's coroutine can be cancelled);
* fail-fast -> the driver cancels the run's in-flight coroutines on the
  shared runner loop; those task runs end Failed with kind "cancelled".

Run inputs that may hold secrets (variable values, evaluated arguments) are
handed to tasks through this process's memory, never as task parameters, so
they are not stored by the Prefect API. That requires the default thread-pool
task runner; distributed task runners come with deployments (see docs).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gridflow.engines.prefect_flow import run_flow
from gridflow.errors import RunnerError, StepCancelled, UsageError, WaitError
from gridflow.plan import Plan, Step
from gridflow.runtime.execute import (
    DEFAULT_WAIT_S,
    MAX_WAITS,
    ResourcePool,
    error_info,
    run_attempt,
)
from gridflow.runtime.loop import RUNNER_LOOP
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import GridRun, Work
from gridflow.runtime.state import ErrorInfo, Instance, Outcome, Status

log = logging.getLogger("gridflow.run")


def configure_prefect_environment(gridflow_home: Path) -> None:
    """Settings for an embedded Prefect run; must happen before importing prefect.

    Without a configured API, Prefect starts a temporary local server; keep its
    database under gridflow's home rather than the user's Prefect home, and
    never phone home (this may run where there is no internet).
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ:
        home = gridflow_home / "prefect"
        # Prefect's SQLite file cannot be created in a folder that does not exist.
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # Prefect waits 20 s for its temporary server by default; on a busy
    # 2-core machine it has been seen to need more (the run then fails with
    # "Timed out while attempting to connect to ephemeral Prefect API server").
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@dataclasses.dataclass
class _Live:
    run: GridRun
    pool: ResourcePool
    works: dict[tuple[str, int], Work] = dataclasses.field(default_factory=dict)


_LIVE: dict[str, _Live] = {}
_LIVE_LOCK = threading.Lock()


def _instance_task_body(token: str, step_id: str, position: int) -> dict[str, Any]:
    """What one Prefect task run does: one attempt of one instance."""
    from prefect.runtime import task_run

    with _LIVE_LOCK:
        live = _LIVE[token]
    work = live.works[(step_id, position)]
    if work.burst is not None:
        return _burst_body(token, live, work)
    attempt = int(task_run.run_count or 1)
    waits = 0
    while True:
        if live.run.cancelling:
            raise _with_attempts(
                StepCancelled("cancelled: the run stopped before this step ran"), attempt
            )
        future = RUNNER_LOOP.submit(
            run_attempt(work, live.pool, attempt=attempt, masker=live.run.masker), run_id=token
        )
        try:
            output = future.result()
        except concurrent.futures.CancelledError:
            raise _with_attempts(
                StepCancelled("cancelled: the run stopped while this step ran"), attempt
            ) from None
        except WaitError as exc:
            waits += 1
            if waits > MAX_WAITS:
                raise _with_attempts(exc, attempt) from None
            threading.Event().wait(exc.wait_for if exc.wait_for is not None else DEFAULT_WAIT_S)
            continue
        except Exception as exc:
            raise _with_attempts(exc, attempt) from None
        return {"output": output, "attempts": attempt}


def _burst_body(token: str, live: _Live, work: Work) -> dict[str, Any]:
    """One burst shard as one Prefect task run: every instance in-process,
    retried per instance inside; cancelling the run keeps what was measured."""
    from gridflow.burst.run import run_burst

    future = RUNNER_LOOP.submit(run_burst(work, live.pool, masker=live.run.masker), run_id=token)
    try:
        outcome: Outcome = future.result()
    except concurrent.futures.CancelledError:
        raise StepCancelled("cancelled: the run stopped before the burst started") from None
    return {
        "burst": True,
        "status": outcome.status.value,
        "output": outcome.output,
        "error": outcome.error.as_dict() if outcome.error else None,
        "attempts": outcome.attempts,
    }


def _with_attempts(exc: BaseException, attempt: int) -> BaseException:
    exc.gridflow_attempts = attempt  # type: ignore[attr-defined]
    return exc


def _never_retry_cancelled(task: Any, task_run: Any, state: Any) -> bool:
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the state's data may be unavailable: be conservative
        return True
    return not isinstance(exc, StepCancelled)


def _retry_delays(step: Step) -> list[float]:
    retry = step.retry
    return [retry.delay_before_attempt(a) for a in range(2, retry.attempts + 1)] or [0.0]


def _task_for(step: Step, cache: dict[str, Any], *, burst: bool = False) -> Any:
    """The Prefect task of a step: retries are Prefect's for one instance; a
    burst retries each of its instances itself, so its task never retries."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    key = f"{step.id}#burst" if burst else step.id
    if key not in cache:
        cache[key] = task(
            name=f"{step.id} (burst)" if burst else step.id,
            retries=0 if burst else max(0, step.retry.attempts - 1),
            retry_delay_seconds=[0.0] if burst else _retry_delays(step),
            retry_condition_fn=_never_retry_cancelled,
            persist_result=False,
            cache_policy=NO_CACHE,
            log_prints=False,
        )(_instance_task_body)
    return cache[key]


def _outcome(future: Any) -> Outcome:
    future.wait()
    state = future.state
    if state.is_completed():
        data = future.result()
        if data.get("burst"):
            error = data.get("error")
            return Outcome(
                Status(data["status"]),
                output=data["output"],
                error=ErrorInfo(error["kind"], error["message"]) if error else None,
                attempts=data["attempts"],
            )
        return Outcome(Status.SUCCESS, output=data["output"], attempts=data["attempts"])
    exc = future.result(raise_on_failure=False)
    attempts = int(getattr(exc, "gridflow_attempts", 1))
    if isinstance(exc, BaseException):
        info = error_info(exc)
        status = Status.CANCELLED if isinstance(exc, StepCancelled) else Status.FAILED
        return Outcome(status, error=info, attempts=attempts)
    return Outcome(
        Status.FAILED,
        error=error_info(RunnerError(f"task ended in state {state.type.value}: {state.message}")),
        attempts=attempts,
    )


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
    """Run ``plan`` as a Prefect flow in this process and return the finished run."""
    try:
        import prefect  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UsageError(
            'the prefect engine needs Prefect: pip install "gridflow[prefect]"'
        ) from exc

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
    shown = {
        name: ("***" if plan.variables[name].sensitive else value)
        for name, value in values.items()
        if name in plan.variables
    }

    def drive(variables: dict[str, Any]) -> Any:
        return drive_grid(run)

    run_flow(
        drive,
        shown,
        name=plan.name,
        fallback_name="grid",
        token=run.run_id,
        max_parallel=max_parallel,
    )
    return run


def drive_grid(run: GridRun) -> Any:
    """Run every instance of ``run`` as a task run of the current flow run.

    Called inside a Prefect flow whose task runner is a thread pool (tasks
    reach the run through this process's memory, see the module docstring):
    the flow :func:`run_grid` makes, or the deployed flow of
    :mod:`gridflow.engines.prefect_deployed`. Returns the flow's final state,
    Completed or Failed with the run's failure as its message.
    """
    from prefect.states import Completed, Failed

    token = run.run_id
    live = _Live(run, ResourcePool(run.resource_arguments, run.masker))
    with _LIVE_LOCK:
        _LIVE[token] = live
    tasks: dict[str, Any] = {}
    done: queue.Queue[Any] = queue.Queue()
    inflight: dict[int, tuple[Any, Work]] = {}
    try:
        while True:
            for work in run.ready():
                live.works[(work.step.id, work.position)] = work
                future = (
                    _task_for(work.step, tasks, burst=work.burst is not None)
                    .with_options(task_run_name=work.label)
                    .submit(token, work.step.id, work.position)
                )
                inflight[id(future)] = (future, work)
                future.add_done_callback(done.put)
            if not inflight:
                break
            finished = done.get()
            _, work = inflight.pop(id(finished))
            run.complete(work, _outcome(finished))
            if run.cancelling and inflight:
                RUNNER_LOOP.cancel_run(token)
                while inflight:
                    finished = done.get()
                    _, work = inflight.pop(id(finished))
                    run.complete(work, _outcome(finished))
    finally:
        RUNNER_LOOP.run(live.pool.close())
        run.finish()
        with _LIVE_LOCK:
            _LIVE.pop(token, None)
    if run.status is Status.SUCCESS:
        return Completed(message="grid succeeded")
    failure = run.failure.message if run.failure else "grid failed"
    return Failed(message=masker_text(run, failure))


def masker_text(run: GridRun, text: str) -> str:
    return run.masker.redact_text(text)
