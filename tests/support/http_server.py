"""A real HTTP server on 127.0.0.1 for tests: aiohttp in a background thread.

Tests talk to it over real sockets, so clients (httpx, aiohttp, the runners,
whole grids on any engine) are exercised exactly as in production; nothing is
mocked. It runs its own event loop in a daemon thread, so it serves requests
from synchronous tests, from ``asyncio.run`` in the test and from engine
worker threads alike.

Usage::

    with LocalHTTPServer() as server:          # or server.start() / server.stop()
        httpx.get(f"{server.url}/status/418")  # url has no trailing slash
        assert server.count("/status/418") == 1

The ``http_server`` session fixture in ``tests/conftest.py`` yields one
started server for the whole session; tests that count requests should use
unique paths or keys (``/flaky/<uuid>/2``, ``/echo?test=<name>``) or call
:meth:`LocalHTTPServer.requests` with a filter, rather than :meth:`clear`.

Endpoints (every method is accepted on every path):

=============================  ==================================================
``/status/{code}``             responds with that status; JSON body
                               ``{"status": code}`` (none for 1xx/204/304)
``/delay/{ms}``                sleeps ``ms`` milliseconds (max 60 000), then 200
                               ``{"delayed_ms": ms}``
``/flaky/{key}/{n}``           503 for the first ``n`` requests per ``key``, then
                               200 ``{"key": key, "attempt": k}`` (k counts from 1)
``/fail-after/{key}/{n}``      the other way round: 200 ``{"key": key, "attempt": k}``
                               for the first ``n`` requests per ``key``, then 503
``/json``                      200 with :data:`JSON_DOC`
``/echo``                      200 JSON of what was received: ``method``, ``path``,
                               ``headers`` (lower-case names), ``query`` (first
                               value per name), ``query_all`` (lists), ``body``
                               (text), ``form`` (urlencoded/multipart fields, first
                               value per name, or null), ``json`` (parsed body or null)
``/bytes/{n}``                 200 with ``n`` bytes (``abc...xyzabc...``), streamed
``/slow-body/{chunks}/{ms}``   200, streams ``chunks`` lines ``chunk <i>\\n``,
                               sleeping ``ms`` before each
``/redirect/{n}``              302 to ``/redirect/{n-1}`` (relative Location);
                               ``/redirect/0`` is 200 ``{"redirects": "done"}``
``/basic-auth/{user}/{pass}``  200 ``{"authenticated": true, "user": user}`` when
                               Basic credentials match, else 401
``/bearer``                    200 ``{"authenticated": true, "token": t}`` with
                               ``Authorization: Bearer t``, else 401
``/reset``                     resets the TCP connection (RST) without responding
=============================  ==================================================

Anything else is 404. Every request is recorded (:class:`RecordedRequest`),
including its client address, so tests can tell whether connections were
reused (:meth:`LocalHTTPServer.connections`). ``max_in_flight`` is the
highest number of requests handled at once since the last :meth:`clear`.

``LocalHTTPServer(tls=True)`` serves HTTPS with a fresh self-signed
certificate (made with the ``openssl`` command), for tests of certificate
verification.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from tests.support.servers import LoopServer

MAX_DELAY_MS = 60_000

JSON_DOC: dict[str, Any] = {
    "ok": True,
    "data": {
        "id": 42,
        "name": "gridflow",
        "tags": ["a", "b"],
        "items": [{"name": "first", "n": 1}, {"name": "second", "n": 2}],
    },
}

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    peer: tuple[str, int]  # client address: one per TCP connection
    at: float  # time.monotonic() when it arrived


class LocalHTTPServer(LoopServer):
    """The test server; see the module docstring for its endpoints."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, tls: bool = False) -> None:
        super().__init__(host=host, port=port, tls=tls)
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._flaky: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Cancel handlers whose client went away (a cancelled /delay/20000
        # must not hold the server), and do not wait long for them on stop.
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what tests read ----------------------------------------------------

    def requests(
        self, predicate: Callable[[RecordedRequest], bool] | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests, oldest first, optionally filtered."""
        with self._lock:
            log = list(self._log)
        return [r for r in log if predicate is None or predicate(r)]

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for exactly ``path``, when given)."""
        return len(self.requests(None if path is None else (lambda r: r.path == path)))

    def connections(self, path_prefix: str = "") -> int:
        """How many distinct TCP connections carried requests under ``path_prefix``."""
        return len({r.peer for r in self.requests(lambda r: r.path.startswith(path_prefix))})

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def clear(self) -> None:
        """Forget recorded requests, flaky counters and ``max_in_flight``."""
        with self._lock:
            self._log.clear()
            self._flaky.clear()
            self._max_in_flight = self._in_flight

    # -- handlers -------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            peer=tuple(peer[:2]) if peer else ("", 0),
            at=time.monotonic(),
        )
        with self._lock:
            self._log.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            parts = [p for p in request.path.split("/") if p]
            return await self._route(request, parts, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _route(
        self, request: web.Request, parts: list[str], body: bytes
    ) -> web.StreamResponse:
        head, args = (parts[0], parts[1:]) if parts else ("", [])
        try:
            if head == "status" and len(args) == 1:
                return _status(int(args[0]))
            if head == "delay" and len(args) == 1:
                ms = min(float(args[0]), MAX_DELAY_MS)
                await asyncio.sleep(ms / 1000)
                return web.json_response({"delayed_ms": float(args[0])})
            if head == "flaky" and len(args) == 2:
                return self._flaky_response(args[0], int(args[1]))
            if head == "fail-after" and len(args) == 2:
                return self._fail_after_response(args[0], int(args[1]))
            if head == "json" and not args:
                return web.json_response(JSON_DOC)
            if head == "echo" and not args:
                return web.json_response(await _echo(request, body))
            if head == "bytes" and len(args) == 1:
                return await _bytes(request, int(args[0]))
            if head == "slow-body" and len(args) == 2:
                return await _slow_body(request, int(args[0]), float(args[1]))
            if head == "redirect" and len(args) == 1:
                n = int(args[0])
                if n <= 0:
                    return web.json_response({"redirects": "done"})
                return web.Response(status=302, headers={"Location": f"/redirect/{n - 1}"})
            if head == "basic-auth" and len(args) == 2:
                return _basic_auth(request, args[0], args[1])
            if head == "bearer" and not args:
                return _bearer(request)
            if head == "reset" and not args:
                return await _reset(request)
        except ValueError as exc:
            return web.json_response({"error": f"bad path argument: {exc}"}, status=400)
        return web.json_response({"error": f"no endpoint {request.path}"}, status=404)

    def _flaky_response(self, key: str, failures: int) -> web.Response:
        with self._lock:
            self._flaky[key] += 1
            attempt = self._flaky[key]
        if attempt <= failures:
            return web.json_response({"key": key, "attempt": attempt, "error": "flaky"}, status=503)
        return web.json_response({"key": key, "attempt": attempt})

    def _fail_after_response(self, key: str, passes: int) -> web.Response:
        with self._lock:
            self._flaky[f"fail-after/{key}"] += 1
            attempt = self._flaky[f"fail-after/{key}"]
        if attempt <= passes:
            return web.json_response({"key": key, "attempt": attempt})
        return web.json_response({"key": key, "attempt": attempt, "error": "broken"}, status=503)


def _status(code: int) -> web.Response:
    if not 100 <= code <= 599:
        raise ValueError(f"status {code} is not between 100 and 599")
    if code < 200 or code in (204, 304):
        return web.Response(status=code)
    return web.json_response({"status": code}, status=code)


async def _echo(request: web.Request, body: bytes) -> dict[str, Any]:
    query_all: dict[str, list[str]] = {}
    for name, value in request.query.items():
        query_all.setdefault(name, []).append(value)
    form: dict[str, Any] | None = None
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        posted = await request.post()
        form = {}
        for field, item in posted.items():
            # the first value of a repeated name, as for query
            form.setdefault(field, item if isinstance(item, str) else getattr(item, "filename", ""))
    parsed: Any = None
    if body:
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
    return {
        "method": request.method,
        "path": request.path,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "query": dict(request.query),
        "query_all": query_all,
        "body": body.decode("utf-8", errors="replace"),
        "form": form,
        "json": parsed,
    }


async def _bytes(request: web.Request, n: int) -> web.StreamResponse:
    if n < 0:
        raise ValueError("byte count must not be negative")
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.content_length = n
    await response.prepare(request)
    block = _ALPHABET * (65536 // len(_ALPHABET))  # a multiple of 26: the pattern continues
    sent = 0
    while sent < n:
        chunk = block[: n - sent]
        await response.write(chunk)
        sent += len(chunk)
    await response.write_eof()
    return response


async def _slow_body(request: web.Request, chunks: int, ms: float) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    for i in range(chunks):
        await asyncio.sleep(min(ms, MAX_DELAY_MS) / 1000)
        await response.write(f"chunk {i}\n".encode())
    await response.write_eof()
    return response


def _unauthorized(challenge: str) -> web.Response:
    return web.json_response(
        {"authenticated": False}, status=401, headers={"WWW-Authenticate": challenge}
    )


def _basic_auth(request: web.Request, user: str, password: str) -> web.Response:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if given == f"{user}:{password}":
            return web.json_response({"authenticated": True, "user": user})
    return _unauthorized('Basic realm="test"')


def _bearer(request: web.Request) -> web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return web.json_response({"authenticated": True, "token": token.strip()})
    return _unauthorized("Bearer")


async def _reset(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: close() sends RST instead of FIN, as a crashed peer would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # The connection is gone; with handler_cancellation this is cancelled.
    await asyncio.sleep(MAX_DELAY_MS / 1000)
    return web.Response(status=500)


@contextlib.contextmanager
def running_server(*, tls: bool = False) -> Iterator[LocalHTTPServer]:
    """A started :class:`LocalHTTPServer`, stopped on exit."""
    with LocalHTTPServer(tls=tls) as server:
        yield server
