"""Running a burst: every instance of a fanned-out step (and its ``[each]``
chain) concurrently on one asyncio loop, measured call by call.

Closed model: ``concurrency.limit`` workers (default
:data:`DEFAULT_LIMIT`) each take the next instance as soon as they finish
one, like k6's VUs or wrk's connections. Open model (``rate``): instance
*j* is due at ``start + j / rate``; a worker that picks it up more than
:data:`DROP_AFTER_S` after that time drops it (counted, as k6 counts
dropped iterations), and the latency of an instance started late is measured
from when it was *due*, so the generator's own queueing is never hidden
(coordinated omission).

Nothing is kept per instance unless a step outside the burst reads that
member's outputs: memory grows with the run's length in seconds, not with
its number of requests. Per instance, arguments that do not vary are
evaluated and validated once per burst.

The result is JSON (see :mod:`gridflow.burst.results`); thresholds are
judged on the merged result of every shard, not here, except for
``abort_on_fail``, which checks this shard's own numbers once a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from gridflow.burst.metrics import BurstMetrics
from gridflow.burst.results import judge
from gridflow.errors import ExpectedError, GridflowError, RunnerError, WaitError
from gridflow.plan.models import Step
from gridflow.runners import registry
from gridflow.runners.base import RunContext, Runner
from gridflow.runtime.execute import (
    DEFAULT_WAIT_S,
    MAX_WAITS,
    ResourcePool,
    error_info,
    mask_inputs,
    retry_delay,
    should_retry,
    to_json_value,
    validation_message,
)
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import ABORTED, BurstPart, CountedPairs, Work
from gridflow.runtime.state import ErrorInfo, Outcome, Status

log = logging.getLogger("gridflow.burst")

DEFAULT_LIMIT = 100  # instances in flight when the step sets no concurrency.limit
DROP_AFTER_S = 0.1  # open model: an arrival picked up later than this is dropped
LATE_AFTER_S = 0.01  # ... and one picked up later than this counts as late
MONITOR_EVERY_S = 0.25
LAG_WARN_MS = 50.0
BUSY_WARN = 0.9  # share of one core the generator may use before it warns

Kernel = Callable[[Any, RunContext], Awaitable[Any]]


@dataclasses.dataclass
class _Member:
    step: Step
    runner: Runner[Any, Any]
    inputs_model: type[BaseModel]
    constant: dict[str, Any]
    fixed_inputs: BaseModel | None  # when no argument varies and there is no `if`
    resources: dict[str, Any]
    metrics: BurstMetrics
    records: list[dict[str, Any]] | None
    kernel: Any = None  # HttpKernel: http_request through the fast transport
    need_output: bool = True  # something reads this member's outputs


async def run_burst(
    work: Work,
    pool: ResourcePool,
    *,
    masker: Masker | None = None,
    logger: logging.Logger | None = None,
) -> Outcome:
    """Run one burst work item (one shard) to its end; see the module doc."""
    assert work.burst is not None
    burst = _Burst(work.burst, pool, masker or Masker(), logger or log)
    return await burst.run()


class _Burst:
    def __init__(
        self, part: BurstPart, pool: ResourcePool, masker: Masker, logger: logging.Logger
    ) -> None:
        self.part = part
        self.pool = pool
        self.masker = masker
        self.log = logger
        self.root = part.members[0]
        self.members: list[_Member] = []
        self.stop_reason: str | None = None  # abort_on_fail, or cancelled
        self.fail_fast = False  # a failure ended the burst (no thresholds to judge it)
        self.lag_ms_max = 0.0
        self.busy_samples: list[float] = []
        self.own_resources: list[Any] = []  # opened by the burst, closed when it ends
        # count = N: instance i's key and value are i (no lookup per instance)
        self.counted = isinstance(part.pairs, CountedPairs)
        self.kernels: list[Any] = []

    # ------------------------------------------------------------------ set-up
    async def _prepare(self) -> ErrorInfo | None:
        evaluator = self.part.evaluator
        for step in self.part.members:
            cls = registry.get_runner(step.runner)
            if cls is None:
                return ErrorInfo("expected", f"{step.id}: unknown runner {step.runner!r}")
            try:
                constant = evaluator.constant_arguments(step)
            except GridflowError as exc:
                return ErrorInfo("expression", f"{step.id}: {exc}")
            fixed: BaseModel | None = None
            if not evaluator.varying(step) and step.if_ is None:
                mask_inputs(self.masker, cls, constant)
                try:
                    fixed = cls.Inputs.model_validate(constant)
                except ValidationError as exc:
                    return ErrorInfo("expected", f"{step.id}: {validation_message(exc)}")
            try:
                resources = {slot: await self.pool.get(rid) for slot, rid in step.uses.items()}
            except RunnerError as exc:
                return ErrorInfo(exc.kind, f"{step.id}: {exc.message}")
            member = _Member(
                step=step,
                runner=cls(),
                inputs_model=cls.Inputs,
                constant=constant,
                fixed_inputs=fixed,
                resources=resources,
                metrics=BurstMetrics(),
                records=[] if step.id in self.part.keep else None,
                # A later step of the chain may read it ([each]), or a step after the burst.
                need_output=step.id in self.part.keep or step is not self.part.members[-1],
            )
            if step.runner == "http_request":
                member.kernel = await self._http_kernel(step, constant, resources)
            shared = getattr(cls, "burst_resources", None)
            if member.kernel is None and not step.uses and callable(shared):
                # No fast path (e.g. verify_tls differs per instance): the
                # runner still gets one pool for the burst, not one per call.
                member.resources = shared(constant, self.root.concurrency_limit or DEFAULT_LIMIT)
                for resource in member.resources.values():
                    self.own_resources.append(resource)
                    await resource.open()
            self.members.append(member)
        return None

    async def _http_kernel(
        self, step: Step, constant: dict[str, Any], resources: dict[str, Any]
    ) -> Any:
        from gridflow.burst.http_kernel import HttpKernel
        from gridflow.runners.http_client import HttpClientResource

        client = resources.get("client")
        if client is not None and not isinstance(client, HttpClientResource):
            return None
        kernel = await HttpKernel.open(
            constant,
            self.part.evaluator.varying(step),
            client if step.uses else None,
            self.root.concurrency_limit or DEFAULT_LIMIT,
            step.timeout_s,
        )
        if kernel is not None:
            self.kernels.append(kernel)
        return kernel

    # --------------------------------------------------------------------- run
    async def run(self) -> Outcome:
        try:
            return await self._run()
        finally:
            for resource in [*self.kernels, *self.own_resources]:
                try:
                    await resource.close()
                except Exception:  # closing must not hide the burst's result
                    self.log.warning("closing a burst's client failed", exc_info=True)

    async def _run(self) -> Outcome:
        started = time.time()
        problem = await self._prepare()
        if problem is not None:
            return Outcome(Status.FAILED, error=problem, attempts=0, started=started)
        load = self.root.load
        limit = self.root.concurrency_limit or DEFAULT_LIMIT
        positions = self.part.positions
        t0 = time.perf_counter()
        for m in self.members:
            m.metrics.started = time.time()
        if load.rate_per_s is None:
            feed = iter(positions)
            # Closed model with a duration: no instance starts after it.
            deadline = t0 + load.duration_s if load.duration_s is not None else None
            worker = self._lean_worker if self._lean() else self._closed_worker
            workers = [worker(feed, deadline) for _ in range(min(limit, len(positions)) or 1)]
        else:
            interval = self.part.shards / load.rate_per_s
            arrivals = iter(enumerate(positions))
            workers = [
                self._open_worker(arrivals, t0, interval)
                for _ in range(min(limit, len(positions)) or 1)
            ]
        tasks = [asyncio.ensure_future(w) for w in workers]
        monitor = asyncio.ensure_future(self._monitor())
        status = Status.SUCCESS
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            # The run stopped (fail-fast elsewhere, Ctrl-C): keep what was
            # measured so far instead of losing it with the task.
            self.stop_reason = self.stop_reason or "cancelled: the run stopped during the burst"
            status = Status.CANCELLED
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)
        ended = time.time()
        for m in self.members:
            m.metrics.ended = ended
        error = None
        if status is Status.CANCELLED:
            error = ErrorInfo("cancelled", self.stop_reason or "cancelled")
        return Outcome(
            status,
            output=self._result(),
            error=error,
            attempts=sum(m.metrics.requests for m in self.members),
            started=started,
            ended=ended,
        )

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None or self.fail_fast

    async def _closed_worker(self, feed: Any, deadline: float | None) -> None:
        for position in feed:
            if self.stopping or (deadline is not None and time.perf_counter() >= deadline):
                return
            await self._instance(position, None)

    def _lean(self) -> bool:
        """Whether the burst is the plain load-test case the lean loop serves:
        one http_request step, the same request every time, no retries or
        delays, nothing kept, nothing after it in the burst."""
        if len(self.members) != 1:
            return False
        m = self.members[0]
        step = m.step
        return (
            self.counted
            and m.kernel is not None
            and m.fixed_inputs is not None
            and m.records is None
            and step.retry.attempts == 1
            and not step.delay_before_s
            and not step.delay_after_s
        )

    async def _lean_worker(self, feed: Any, deadline: float | None) -> None:
        """:meth:`_closed_worker` for the plain case (:meth:`_lean`), with the
        same results: per request one send, one latency sample, two counters.
        A failure goes through the general path's bookkeeping."""
        m = self.members[0]
        kernel = m.kernel
        inputs = m.fixed_inputs
        assert inputs is not None
        request = kernel.request(inputs)
        send = kernel.transport.send
        expected = getattr(inputs, "expect_status", None)
        metrics = m.metrics
        record = metrics.record
        clock = time.perf_counter
        for position in feed:
            if self.stopping or (deadline is not None and clock() >= deadline):
                return
            start = clock()
            try:
                response = await send(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lean_failure(m, position, clock() - start, exc)
                continue
            status = response.status
            if expected is not None and status not in expected:
                failure = ExpectedError(
                    f"{request.method} {request.url}: status {status}, expected {expected}",
                    details={"output": {"status_code": status}, "kind": "status"},
                )
                self._lean_failure(m, position, clock() - start, failure)
                continue
            record(clock() - start, status_code=status)
            metrics.instances += 1
            metrics.succeeded += 1

    def _lean_failure(self, m: _Member, position: int, elapsed: float, exc: Exception) -> None:
        """A failed request of the lean loop, counted as :meth:`_attempts` and
        :meth:`_instance` count one (no retries: the lean loop has none)."""
        info = error_info(exc)
        m.metrics.record(elapsed, status_code=_status_of(info.details.get("output")),
                         error_kind=str(info.details.get("kind") or info.kind))  # fmt: skip
        if not isinstance(exc, RunnerError):
            self.log.error("%s: the transport raised an unexpected error", m.step.id, exc_info=exc)
        m.metrics.sample_error(position, info.kind, info.message)
        self._finish(m, position, position, position, Status.FAILED, None, info, 1, 0.0)
        if not m.step.continue_on_error and not self.root.load.thresholds:
            self.fail_fast = True

    async def _open_worker(self, arrivals: Any, t0: float, interval: float) -> None:
        root = self.members[0].metrics
        for j, position in arrivals:
            if self.stopping:
                return
            due = t0 + j * interval
            now = time.perf_counter()
            if now < due:
                await asyncio.sleep(due - now)
            else:
                behind = now - due
                if behind > DROP_AFTER_S:
                    root.dropped += 1
                    continue
                if behind > LATE_AFTER_S:
                    root.late += 1
            await self._instance(position, due)

    # ----------------------------------------------------------- one instance
    async def _instance(self, position: int, due: float | None) -> None:
        # The hot loop of a load test: nothing is built here that is not used.
        if self.counted:
            key = value = position
        else:
            key, value = self.part.pairs[position]
        each: dict[str, Any] = {}
        last = len(self.members) - 1
        for index, m in enumerate(self.members):
            step = m.step
            started = time.time() if m.records is not None else 0.0
            try:
                inputs = self._inputs(m, position, key, value, each)
            except _Settled as settled:
                self._finish(m, position, key, value, settled.status, None, settled.error, 0,
                             started)  # fmt: skip
                if index < last:
                    each[step.id] = _as_value(settled.status, None, settled.error)
                continue
            origin = due if index == 0 else None
            status, output, error, attempts = await self._attempts(m, inputs, key, origin)
            self._finish(m, position, key, value, status, output, error, attempts, started)
            if index < last:
                each[step.id] = _as_value(status, output, error)
            if (
                status is Status.FAILED
                and not step.continue_on_error
                and not self.root.load.thresholds
            ):
                self.fail_fast = True

    def _inputs(
        self, m: _Member, position: int, key: Any, value: Any, each: Mapping[str, Any]
    ) -> BaseModel:
        if m.fixed_inputs is not None:
            return m.fixed_inputs
        try:
            varying = self.part.evaluator.evaluate(m.step, position, key, value, each)
        except GridflowError as exc:
            raise _Settled(Status.FAILED, ErrorInfo("expression", str(exc))) from exc
        if varying == "skip":
            raise _Settled(Status.SKIPPED, None)
        if varying == "abort":
            raise _Settled(Status.FAILED, ABORTED)
        assert isinstance(varying, dict)
        arguments = {**m.constant, **varying}
        mask_inputs(self.masker, type(m.runner), arguments)
        try:
            return m.inputs_model.model_validate(arguments)
        except ValidationError as exc:
            raise _Settled(Status.FAILED, ErrorInfo("expected", validation_message(exc))) from exc

    async def _attempts(
        self, m: _Member, inputs: BaseModel, key: Any, origin: float | None
    ) -> tuple[Status, Any, ErrorInfo | None, int]:
        step = m.step
        attempt = 1
        waits = 0
        metrics = m.metrics
        kernel = m.kernel
        while True:
            if step.delay_before_s:
                await asyncio.sleep(step.delay_before_s)
            start = time.perf_counter()
            try:
                if kernel is not None:  # the step's timeout is the request's
                    result = await kernel.call(inputs, m.need_output)
                else:
                    ctx = RunContext(step_id=step.id, instance=key, attempt=attempt,
                                     resources=m.resources, logger=self.log)  # fmt: skip
                    if step.timeout_s is not None:
                        result = await asyncio.wait_for(m.runner.run(inputs, ctx), step.timeout_s)
                    else:
                        result = await m.runner.run(inputs, ctx)
            except asyncio.CancelledError:
                raise
            except WaitError as exc:
                waits += 1
                if waits <= MAX_WAITS and not self.stopping:
                    await asyncio.sleep(
                        exc.wait_for if exc.wait_for is not None else DEFAULT_WAIT_S
                    )
                    continue
                return Status.FAILED, None, error_info(exc), attempt
            except Exception as exc:
                elapsed = time.perf_counter() - (origin if origin is not None else start)
                info = error_info(_as_timeout(exc, step))
                metrics.record(elapsed, status_code=_status_of(info.details.get("output")),
                               error_kind=str(info.details.get("kind") or info.kind))  # fmt: skip
                if not isinstance(exc, RunnerError):
                    self.log.error("%s: runner raised an unexpected error", step.id, exc_info=exc)
                if should_retry(exc, attempt, step.retry) and not self.stopping:
                    await asyncio.sleep(retry_delay(exc, attempt, step.retry))
                    attempt += 1
                    origin = None
                    continue
                metrics.sample_error(key, info.kind, info.message)
                return Status.FAILED, None, info, attempt
            elapsed = time.perf_counter() - (origin if origin is not None else start)
            output = result if kernel is not None else to_json_value(result)
            metrics.record(elapsed, status_code=_status_of(output))
            if step.delay_after_s:
                await asyncio.sleep(step.delay_after_s)
            return Status.SUCCESS, output, None, attempt

    def _finish(
        self,
        m: _Member,
        position: int,
        key: Any,
        value: Any,
        status: Status,
        output: Any,
        error: ErrorInfo | None,
        attempts: int,
        started: float,
    ) -> None:
        metrics = m.metrics
        metrics.instances += 1
        if status is Status.SUCCESS:
            metrics.succeeded += 1
        elif status is Status.FAILED:
            metrics.failed += 1
            if error is not None and attempts == 0:  # failed before any call
                metrics.sample_error(key, error.kind, error.message)
        elif status is Status.SKIPPED:
            metrics.skipped += 1
        if m.records is not None:
            m.records.append(
                {
                    "position": position,
                    "key": key,
                    "value": value,
                    "status": status.value,
                    "output": output,
                    "error": error.as_dict() if error else None,
                    "attempts": attempts,
                    "started": started,
                    "ended": time.time(),
                }
            )

    # ----------------------------------------------------------------- monitor
    async def _monitor(self) -> None:
        """Watch the generator itself (event-loop lag, CPU) and, with
        ``abort_on_fail``, this shard's thresholds."""
        wall, cpu = time.perf_counter(), time.process_time()
        last_check = wall
        while True:
            expected = time.perf_counter() + MONITOR_EVERY_S
            await asyncio.sleep(MONITOR_EVERY_S)
            now = time.perf_counter()
            for member in self.members:
                member.metrics.tick()
            self.lag_ms_max = max(self.lag_ms_max, (now - expected) * 1000)
            now_cpu = time.process_time()
            self.busy_samples.append((now_cpu - cpu) / max(now - wall, 1e-9))
            wall, cpu = now, now_cpu
            if self.root.load.abort_on_fail and now - last_check >= 1.0:
                last_check = now
                self._check_abort()

    def _check_abort(self) -> None:
        metrics = self.members[0].metrics
        if metrics.requests == 0:
            return
        summary = metrics.summary()
        summary["_percentile"] = metrics.percentile_ms
        failed = [j for j in judge(self.root.load.thresholds, summary) if not j["ok"]]
        if failed and self.stop_reason is None:
            first = failed[0]
            self.stop_reason = (
                f'abort_on_fail: threshold {first["metric"]} "{first["condition"]}" failed '
                f"after {metrics.requests} requests (measured {first['measured']})"
            )
            self.log.warning("%s: %s", self.root.id, self.stop_reason)

    # ------------------------------------------------------------------ result
    def _result(self) -> dict[str, Any]:
        busy = sorted(self.busy_samples)
        busy_p50 = busy[len(busy) // 2] if busy else 0.0
        warnings = []
        if self.lag_ms_max > LAG_WARN_MS:
            warnings.append(
                f"the generator's event loop lagged up to {self.lag_ms_max:.0f} ms: latencies "
                f"include time spent waiting for the generator itself"
            )
        if busy_p50 >= BUSY_WARN:
            warnings.append(
                f"the generator kept a CPU core {busy_p50:.0%} busy: it may be the bottleneck, "
                f"not the system under test; add shards (or processes)"
            )
        root = self.members[0].metrics if self.members else None
        if root is not None and root.dropped:
            warnings.append(
                f"{root.dropped} arrivals were dropped: every one of the "
                f"{self.root.concurrency_limit or DEFAULT_LIMIT} slots was busy; raise "
                f"concurrency.limit or lower the rate"
            )
        return {
            "shard": self.part.shard,
            "shards": self.part.shards,
            "stopped": self.stop_reason if self.stop_reason and not self.fail_fast else None,
            "generator": {
                "loop_lag_ms_max": round(self.lag_ms_max, 3),
                "cpu_busy": round(busy_p50, 3),
                "warnings": warnings,
            },
            "steps": {
                m.step.id: {"metrics": m.metrics.to_json(), "instances": m.records}
                for m in self.members
            },
        }


class _Settled(Exception):
    """An instance settled before its runner was called (skipped, or bad arguments)."""

    def __init__(self, status: Status, error: ErrorInfo | None) -> None:
        super().__init__(status.value)
        self.status = status
        self.error = error


def _as_value(status: Status, output: Any, error: ErrorInfo | None) -> dict[str, Any]:
    return {"output": output, "error": error.as_dict() if error else None, "status": status.value}


def _status_of(output: Any) -> int | None:
    if isinstance(output, dict):
        code = output.get("status_code")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def _as_timeout(exc: Exception, step: Step) -> Exception:
    if isinstance(exc, asyncio.TimeoutError) and step.timeout_s is not None:
        from gridflow.errors import StepTimeout

        return StepTimeout(f"timed out after {step.timeout_s:g}s")
    return exc
