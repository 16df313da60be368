"""``http_request`` inside a burst: the same request, a faster client.

A burst of ``http_request`` instances sends through one
:mod:`gridflow.burst.transport` pool (pyreqwest where installed) instead of
httpx, whose pool slows down badly with many requests in flight. What is
sent is decided exactly as for a single request: the step's inputs are
turned into an ``httpx.Request`` by :func:`gridflow.runners.http_request.build_request`
(base URL, client headers and auth, query merging, JSON/form bodies), once
per distinct request; only the sending differs. The output, when something
reads it, has the runner's shape; otherwise only the status is kept.

Not taken (the burst then calls the runner itself, with its shared httpx
pool): ``verify_tls`` or ``follow_redirects`` that differ between instances
(they belong to a pool). ``url`` in the output is the request's URL: the
transports do not report where redirects led.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gridflow.burst.transport import BurstRequest, HttpTransport, open_transport
from gridflow.errors import ExpectedError
from gridflow.runners.http_client import DEFAULT_TIMEOUT_S, HttpClientArguments, HttpClientResource
from gridflow.runners.http_request import HttpRequestInputs, build_request

TRANSPORT_ENV = "GRIDFLOW_BURST_TRANSPORT"  # auto (default), pyreqwest, aiohttp, httpx


class HttpKernel:
    def __init__(
        self,
        transport: HttpTransport,
        builder: HttpClientResource,
        own_builder: bool,
        step_timeout_s: float | None,
    ) -> None:
        self.transport = transport
        self._builder = builder
        self._own_builder = own_builder
        self._step_timeout_s = step_timeout_s
        self._cached: tuple[HttpRequestInputs, BurstRequest] | None = None

    @classmethod
    async def open(
        cls,
        constant: Mapping[str, Any],
        varying: Sequence[str],
        client: HttpClientResource | None,
        pool_size: int,
        step_timeout_s: float | None,
    ) -> HttpKernel | None:
        """A kernel for one burst member, or None when it cannot take the step."""
        if {"verify_tls", "follow_redirects"} & set(varying):
            return None
        pool = client.arguments if client is not None else HttpClientArguments()
        verify = constant.get("verify_tls")
        follow = constant.get("follow_redirects")
        if client is not None and verify is not None and verify != pool.verify_tls:
            return None  # the runner reports this conflict itself
        transport = await open_transport(
            os.environ.get(TRANSPORT_ENV, "auto"),  # type: ignore[arg-type]
            pool_size=pool_size,
            timeout_s=pool.timeout if client is not None else DEFAULT_TIMEOUT_S,
            verify_tls=pool.verify_tls if verify is None else bool(verify),
            follow_redirects=pool.follow_redirects if follow is None else bool(follow),
        )
        builder = client
        if builder is None:
            # Only builds requests, never sends one: no TLS context to load
            # (a quarter of a second of CA certificates).
            builder = HttpClientResource(HttpClientArguments(pool_size=1, verify_tls=False))
            await builder.open()
        return cls(transport, builder, client is None, step_timeout_s)

    async def close(self) -> None:
        await self.transport.aclose()
        if self._own_builder:
            await self._builder.close()

    def request(self, inputs: HttpRequestInputs) -> BurstRequest:
        cached = self._cached
        if cached is not None and cached[0] is inputs:
            return cached[1]
        built = build_request(self._builder, inputs)
        timeout = inputs.timeout
        if self._step_timeout_s is not None:
            timeout = min(timeout, self._step_timeout_s) if timeout else self._step_timeout_s
        request = BurstRequest(
            method=built.method,
            url=str(built.url),
            headers=tuple(built.headers.items()),
            body=built.read() or None,
            timeout_s=timeout,
        )
        self._cached = (inputs, request)
        return request

    async def call(self, inputs: HttpRequestInputs, need_output: bool) -> dict[str, Any]:
        request = self.request(inputs)
        started = time.perf_counter()
        response = await self.transport.send(
            request, keep_body=need_output, keep_headers=need_output
        )
        status = response.status
        if not need_output:
            output: dict[str, Any] = {"status_code": status}
        else:
            raw = response.body or b""
            truncated = len(raw) > inputs.max_body_bytes
            raw = raw[: inputs.max_body_bytes]
            text = raw.decode("utf-8", errors="replace")
            parsed: Any = None
            if raw and not truncated:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            output = {
                "status_code": status,
                "headers": response.headers,
                "body": text,
                "json": parsed,
                "url": request.url,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "truncated": truncated,
            }
        if inputs.expect_status is not None and status not in inputs.expect_status:
            raise ExpectedError(
                f"{request.method} {request.url}: status {status}, expected {inputs.expect_status}",
                details={"output": output, "kind": "status"},
            )
        return output
