"""Running one instance: inputs, resources, delays, timeout, retries.

Engine-neutral. The local engine awaits :func:`run_with_retries`; engines
with their own retry machinery (Prefect, Airflow) call :func:`run_attempt`
once per attempt and ask :func:`should_retry` / :func:`retry_delay`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from gridflow.errors import (
    ExpectedError,
    GridflowError,
    RetryableError,
    RunnerError,
    StepCancelled,
    StepTimeout,
    WaitError,
)
from gridflow.plan import Retry
from gridflow.runners import registry
from gridflow.runners.base import Resource, RunContext
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import Work
from gridflow.runtime.state import ErrorInfo, Outcome, Status

log = logging.getLogger("gridflow.run")

# A WaitError ("not ready yet") is checked again without counting an attempt;
# this bounds how many times, so a never-ready step cannot hold a run forever.
MAX_WAITS = 1000
DEFAULT_WAIT_S = 5.0


class ResourcePool:
    """The resources of one run in this process, opened on first use.

    Every instance that ``uses`` a resource shares the one object (one
    connection pool for a whole fan-out); :meth:`close` releases them all.
    """

    def __init__(
        self,
        arguments: Callable[[str], tuple[str, dict[str, Any]]],
        masker: Masker | None = None,
    ) -> None:
        # arguments(resource_id) -> (resource type, evaluated arguments)
        self._arguments = arguments
        self._masker = masker
        self._open: dict[str, Resource[Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, resource_id: str) -> Resource[Any]:
        if resource_id in self._open:
            return self._open[resource_id]
        lock = self._locks.setdefault(resource_id, asyncio.Lock())
        async with lock:
            if resource_id not in self._open:
                type_name, args = self._arguments(resource_id)
                cls = registry.get_resource(type_name)
                if cls is None:
                    raise ExpectedError(f"unknown resource type {type_name!r}")
                if self._masker is not None:
                    mask_inputs(self._masker, cls, args)
                try:
                    parsed = cls.Arguments.model_validate(args)
                except ValidationError as exc:
                    raise ExpectedError(
                        f"resource {resource_id}: {validation_message(exc)}"
                    ) from exc
                resource = cls(parsed)
                await resource.open()
                self._open[resource_id] = resource
        return self._open[resource_id]

    async def close(self) -> None:
        for rid, resource in list(self._open.items()):
            try:
                await resource.close()
            except Exception:  # closing must not hide the run's result
                log.warning("closing resource %s failed", rid, exc_info=True)
        self._open.clear()


def mask_inputs(masker: Masker, cls: Any, arguments: Mapping[str, Any]) -> None:
    """Register a runner's or resource's secret inputs with the run's masker."""
    for name in getattr(cls, "sensitive_inputs", ()):
        if name in arguments:
            masker.add(_secret_part(arguments[name]))
    # Secrets a runner finds inside otherwise plain inputs (credential headers).
    finder = getattr(cls, "secret_input_values", None)
    if callable(finder):
        masker.add(finder(arguments))


def _secret_part(value: Any) -> Any:
    # An auth block's "type" ("bearer", "basic") names the scheme, not a secret;
    # masking it would blank that word in every log line.
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "type"}
    return value


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "input"
        parts.append(f'argument "{where}": {err.get("msg", "invalid")}')
    return "; ".join(parts)


def to_json_value(value: Any) -> Any:
    """A runner's return value as JSON-like data for expressions and results."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


async def run_attempt(
    work: Work,
    pool: ResourcePool,
    *,
    attempt: int = 1,
    masker: Masker | None = None,
    logger: logging.Logger | None = None,
) -> Any:
    """One attempt of ``work``; returns the JSON output or raises a RunnerError
    (``StepTimeout`` past the step's timeout), or the runner's own bug."""
    step = work.step
    runner_cls = registry.get_runner(step.runner)
    if runner_cls is None:
        raise ExpectedError(f"unknown runner {step.runner!r}")
    if masker is not None:
        mask_inputs(masker, runner_cls, work.arguments)
    try:
        inputs = runner_cls.Inputs.model_validate(work.arguments)
    except ValidationError as exc:
        raise ExpectedError(f"{validation_message(exc)}") from exc
    resources = {slot: await pool.get(rid) for slot, rid in work.uses.items()}
    ctx = RunContext(
        step_id=step.id,
        instance=work.key,
        attempt=attempt,
        resources=resources,
        logger=logger or logging.getLogger("gridflow.runner"),
    )
    if masker is not None:
        ctx.mask = masker.add
    if step.delay_before_s:
        await asyncio.sleep(step.delay_before_s)
    runner = runner_cls()
    try:
        if step.timeout_s is not None:
            result = await asyncio.wait_for(runner.run(inputs, ctx), step.timeout_s)
        else:
            result = await runner.run(inputs, ctx)
    except asyncio.TimeoutError as exc:
        raise StepTimeout(f"timed out after {step.timeout_s:g}s") from exc
    output = to_json_value(result)
    if masker is not None and runner_cls.sensitive_outputs and isinstance(output, Mapping):
        for name in runner_cls.sensitive_outputs:
            if name in output:
                masker.add(output[name])
    secret_values = getattr(runner_cls, "secret_values", None)
    if masker is not None and callable(secret_values):
        masker.add(secret_values(output))
    if step.delay_after_s:
        await asyncio.sleep(step.delay_after_s)
    return output


def error_info(exc: BaseException) -> ErrorInfo:
    """How a failure shows in results and to downstream expressions."""
    if isinstance(exc, RunnerError):
        details = {k: v for k, v in exc.details.items() if _jsonable(v)}
        return ErrorInfo(exc.kind, exc.message, details)
    if isinstance(exc, asyncio.CancelledError):
        return ErrorInfo("cancelled", "cancelled: the run stopped while this step ran")
    if isinstance(exc, GridflowError):
        return ErrorInfo("error", str(exc))
    return ErrorInfo("bug", f"{type(exc).__name__}: {exc}")


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict) or value is None


def should_retry(exc: BaseException, attempt: int, retry: Retry) -> bool:
    """Retry transient failures (by type, never by message) while attempts remain.

    Expected failures, timeouts and runner failures all count: a user who
    wrote ``retry { attempts = 3 }`` expects a failing request to be tried
    three times. Cancellation is never retried.
    """
    if isinstance(exc, StepCancelled | asyncio.CancelledError):
        return False
    return attempt < retry.attempts


def retry_delay(exc: BaseException, attempt: int, retry: Retry) -> float:
    """Seconds before attempt ``attempt + 1``."""
    delay = retry.delay_before_attempt(attempt + 1)
    if isinstance(exc, RetryableError) and exc.retry_after is not None:
        delay = max(delay, exc.retry_after)
    return delay


async def attempt_until_ready(
    work: Work,
    pool: ResourcePool,
    *,
    attempt: int,
    masker: Masker | None = None,
    logger: logging.Logger | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """One attempt of ``work``. A runner that says "not ready yet"
    (:class:`WaitError`) is asked again after the wait it names, without using
    up the attempt; after ``MAX_WAITS`` such answers its WaitError is raised."""
    waits = 0
    while True:
        try:
            return await run_attempt(work, pool, attempt=attempt, masker=masker, logger=logger)
        except WaitError as exc:
            waits += 1
            if waits > MAX_WAITS:
                raise
            await sleep(exc.wait_for if exc.wait_for is not None else DEFAULT_WAIT_S)


async def run_with_retries(
    work: Work,
    pool: ResourcePool,
    *,
    masker: Masker | None = None,
    logger: logging.Logger | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Every attempt of ``work`` under its retry policy, as one Outcome."""
    started = time.time()
    attempt = 1
    log_ = logger or log
    while True:
        try:
            output = await attempt_until_ready(
                work, pool, attempt=attempt, masker=masker, logger=logger, sleep=sleep
            )
        except asyncio.CancelledError:
            raise
        except WaitError as exc:  # still not ready after MAX_WAITS checks
            return Outcome(
                Status.FAILED,
                error=error_info(exc),
                attempts=attempt,
                started=started,
                ended=time.time(),
            )
        except Exception as exc:
            if not isinstance(exc, RunnerError):
                log_.error("%s: runner raised an unexpected error", work.label, exc_info=exc)
            if should_retry(exc, attempt, work.step.retry):
                delay = retry_delay(exc, attempt, work.step.retry)
                log_.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.3gs",
                    work.label,
                    attempt,
                    work.step.retry.attempts,
                    _short(exc),
                    delay,
                )
                await sleep(delay)
                attempt += 1
                continue
            return Outcome(
                Status.FAILED,
                error=error_info(exc),
                attempts=attempt,
                started=started,
                ended=time.time(),
            )
        return Outcome(
            Status.SUCCESS, output=output, attempts=attempt, started=started, ended=time.time()
        )


def _short(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, RunnerError) else str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


async def run_work(
    work: Work,
    pool: ResourcePool,
    *,
    masker: Masker | None = None,
    logger: logging.Logger | None = None,
) -> Outcome:
    """Run one work item to its Outcome: one instance with its retries, or
    one burst (shard) with all of its instances."""
    if work.burst is not None:
        # Imported here: the burst machinery (HDR histograms) loads only when used.
        from gridflow.burst.run import run_burst

        return await run_burst(work, pool, masker=masker, logger=logger)
    return await run_with_retries(work, pool, masker=masker, logger=logger)
