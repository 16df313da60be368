"""``wait``: sleep for a while, or poll a URL until it answers as expected.

- ``duration = "5s"``: sleep (cancellable: a cancelled run does not wait).
- ``url = "http://..."``: GET it every ``interval`` (default 1s) until the
  status is in ``status`` (default ``"200-399"``), for at most ``timeout``
  (default 60s). Connection errors count as "not yet". On timeout the step
  fails with an :class:`~gridflow.errors.ExpectedError` saying what the last
  attempt saw. ``headers`` and ``verify_tls`` apply to every poll.

Output: ``{"waited_ms": ..., "attempts": n}`` (``attempts`` is 0 for a
plain sleep).
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import Field, model_validator

from gridflow.errors import ExpectedError
from gridflow.runners._http import StatusSet, StatusSpec, lower_headers
from gridflow.runners._types import Duration, PositiveDuration, Text
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

DEFAULT_STATUS = StatusSet.parse("200-399")


class WaitInputs(RunnerInputs):
    duration: Duration | None = None
    url: str | None = None
    status: StatusSpec = DEFAULT_STATUS
    interval: PositiveDuration = 1.0
    timeout: PositiveDuration = 60.0
    headers: dict[str, Text] = Field(default_factory=dict)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_mode(self) -> WaitInputs:
        if (self.duration is None) == (self.url is None):
            raise ValueError(
                'set exactly one of duration (sleep, e.g. "5s") and url (poll until its '
                "status matches)"
            )
        polling = {"status", "interval", "timeout", "headers", "verify_tls"} & self.model_fields_set
        if self.duration is not None and polling:
            raise ValueError(
                f"{', '.join(sorted(polling))} only apply when polling a url; remove "
                f"{'them' if len(polling) > 1 else 'it'} or set url instead of duration"
            )
        return self


class WaitOutputs(RunnerOutputs):
    waited_ms: float
    attempts: int


class WaitRunner(Runner[WaitInputs, WaitOutputs]):
    """Sleeps, or polls a URL until its status matches."""

    name = "wait"
    Inputs = WaitInputs
    Outputs = WaitOutputs
    description = "Sleep for a duration, or poll a URL until it answers with a wanted status."

    async def run(self, inputs: WaitInputs, ctx: RunContext) -> WaitOutputs:
        started = time.monotonic()
        if inputs.duration is not None:
            await asyncio.sleep(inputs.duration)
            return WaitOutputs(waited_ms=(time.monotonic() - started) * 1000, attempts=0)
        return await poll(inputs, started)


async def poll(inputs: WaitInputs, started: float) -> WaitOutputs:
    url = inputs.url or ""  # the validator guarantees a url in this mode
    deadline = started + inputs.timeout
    attempts = 0
    last = "no attempt finished"
    async with httpx.AsyncClient(
        verify=inputs.verify_tls, headers=lower_headers(inputs.headers), follow_redirects=False
    ) as client:
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            try:
                response = await client.get(url, timeout=max(remaining, 0.001))
            except httpx.InvalidURL as exc:
                raise ExpectedError(f"wait: invalid url {url!r}: {exc}") from exc
            except httpx.UnsupportedProtocol as exc:
                raise ExpectedError(
                    f"wait: {url!r}: {exc}; write an absolute http:// or https:// URL"
                ) from exc
            except httpx.HTTPError as exc:
                # An attempt cut short by the wait's own deadline says nothing
                # about the server: what it answered before is what to report.
                cut = isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline
                if not (cut and attempts > 1):
                    last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code in inputs.status:
                    return WaitOutputs(
                        waited_ms=(time.monotonic() - started) * 1000, attempts=attempts
                    )
                last = f"status {response.status_code}"
            pause = min(inputs.interval, deadline - time.monotonic())
            if pause <= 0:
                raise ExpectedError(
                    f"wait: {url} did not answer with status {inputs.status} within "
                    f"{inputs.timeout:g}s ({attempts} attempt{'s' if attempts != 1 else ''}; "
                    f"last saw {last})",
                    details={"url": url, "attempts": attempts, "last": last},
                )
            await asyncio.sleep(pause)
