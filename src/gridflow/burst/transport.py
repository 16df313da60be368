"""The HTTP transports a burst sends its requests through.

A burst sends hundreds of thousands of requests from one process, so the
client library sets the ceiling. :func:`open_transport` gives one
:class:`HttpTransport` over one of three libraries, measured side by side
against one local nginx (``bench/http_burst.py``, 64 in flight, 2 cores;
numbers in docs/benchmarks.md):

=============  =======================  =====================================
library        speed (uvloop)           what it lacks
=============  =======================  =====================================
``pyreqwest``  fastest: ~2.5x aiohttp   Python < 3.11 (no wheels); a typed
                                        TLS error (certificate failures are
                                        told from the error text); rustls
                                        refuses a self-signed certificate
                                        that is also a CA
                                        (``CaUsedAsEndEntity``), which
                                        OpenSSL accepts once trusted
``aiohttp``    second                   nothing the burst needs
``httpx``      ~1/15 of aiohttp         nothing; its pool is slow with many
                                        requests in flight (last fallback;
                                        single requests use it)
=============  =======================  =====================================

``auto`` takes the first of pyreqwest, aiohttp, httpx that imports. All
three support what the interface offers: ``follow_redirects``,
``verify_tls = false``, a per-request timeout and a pool size.

Cheap per request: the request is a frozen, slotted dataclass built once per
distinct request by the caller; a transport builds no per-request objects of
its own beyond what its library needs. The response body is always read to
the end, so the connection goes back to the pool, and dropped unless
``keep_body``; headers are copied only with ``keep_headers``.

Failures are gridflow errors with the same kinds as ``http_request``
(:func:`gridflow.runners.http_request.convert_error`): :class:`RetryableError`
with ``details = {"url", "kind"}``, kind ``"connect"``, ``"timeout"`` or
``"read"``; :class:`ExpectedError` with kind ``"url"``, ``"tls"``,
``"redirects"`` or ``"http"`` (also a method or header the library refuses
to send). A response with status 500 is a response, not an error.

:func:`new_event_loop` gives a uvloop loop where uvloop is installed (not on
Windows): it takes pyreqwest's rate up 1.5-2x; aiohttp gains 0-30 % from
it (within the noise on a busy machine). The burst engine runs its own loop
with it (:func:`run`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import httpx

from gridflow._version import __version__
from gridflow.errors import ExpectedError, RetryableError, RunnerError
from gridflow.runners.http_request import convert_error as _httpx_converted
from gridflow.runtime.loop import new_event_loop

if TYPE_CHECKING:
    # aiohttp is imported only when its transport is opened (it takes
    # ~0.2 s to import, on every `gridflow run` that has a burst).
    import aiohttp

    # pyreqwest has no wheels for Python < 3.11: imported where it is used,
    # so that "auto" can fall back to aiohttp there.
    from pyreqwest.client import Client as PyreqwestClient
    from pyreqwest.request import Request as PyreqwestRequest

__all__ = [
    "AUTO_ORDER",
    "BurstRequest",
    "BurstResponse",
    "HttpTransport",
    "TransportKind",
    "new_event_loop",
    "open_transport",
    "run",
]

TransportKind = Literal["auto", "pyreqwest", "aiohttp", "httpx"]
# Fastest first, by bench/http_burst.py's measurement.
AUTO_ORDER: tuple[Literal["pyreqwest", "aiohttp", "httpx"], ...] = ("pyreqwest", "aiohttp", "httpx")
USER_AGENT = f"gridflow/{__version__}"
_EMPTY: tuple[tuple[str, str], ...] = ()
_SCHEMES = ("http://", "https://")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: methods, header names
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class BurstRequest:
    """One request; ``timeout_s`` None means the transport's timeout."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = _EMPTY
    body: bytes | None = None
    timeout_s: float | None = None


@dataclasses.dataclass(slots=True)
class BurstResponse:
    """Status and size of a response; ``headers`` (lower-case names, repeated
    ones joined with ", ") and ``body`` only when the caller asked for them."""

    status: int
    headers: dict[str, str]
    body: bytes | None
    nbytes: int


class HttpTransport(Protocol):
    """A connection pool that sends :class:`BurstRequest` s."""

    name: str

    async def send(
        self, request: BurstRequest, *, keep_body: bool = False, keep_headers: bool = False
    ) -> BurstResponse: ...

    async def aclose(self) -> None: ...


async def open_transport(
    kind: TransportKind,
    *,
    pool_size: int,
    timeout_s: float,
    verify_tls: bool = True,
    follow_redirects: bool = True,
) -> HttpTransport:
    """A transport over ``kind``'s library; ``auto`` picks the fastest installed.

    ``pool_size`` bounds the connections (and so the requests in flight),
    ``timeout_s`` is each request's total time unless the request says
    otherwise. Raises :class:`ExpectedError` when ``kind`` is not installed.
    """
    if pool_size < 1:
        raise ExpectedError(f"pool_size must be at least 1, got {pool_size}")
    if not timeout_s > 0:
        raise ExpectedError(f"timeout_s must be more than 0, got {timeout_s}")
    openers: dict[str, Callable[[int, float, bool, bool], HttpTransport]] = {
        "pyreqwest": _PyreqwestTransport.open,
        "aiohttp": _AiohttpTransport.open,
        "httpx": _HttpxTransport.open,
    }
    names = AUTO_ORDER if kind == "auto" else (kind,)
    missing: list[str] = []
    for name in names:
        opener = openers.get(name)
        if opener is None:
            raise ExpectedError(
                f'unknown HTTP transport "{name}"; choose one of auto, {", ".join(AUTO_ORDER)}'
            )
        try:
            return opener(pool_size, timeout_s, verify_tls, follow_redirects)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    raise ExpectedError(
        f"no HTTP transport can be used here: {'; '.join(missing)}; choose transport "
        f'"auto" (it falls back to aiohttp) or install the missing library'
    )


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to the end on a fresh :func:`new_event_loop` loop, then close it."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


# -- errors -----------------------------------------------------------------


def _failure(kind: str, request: BurstRequest, detail: str, timeout_s: float) -> RunnerError:
    """The gridflow error for a failed request; kinds as in ``http_request``."""
    what = f"{request.method} {request.url}"
    details: dict[str, object] = {"url": request.url, "kind": kind}
    if kind == "url":
        return ExpectedError(
            f"{what}: invalid URL: {detail}; write an absolute http:// or https:// URL",
            details=details,
        )
    if kind == "tls":
        return ExpectedError(
            f"{what}: the server's TLS certificate does not verify ({detail}); install its CA "
            f"on the worker, or set verify_tls = false for a test server",
            details=details,
        )
    if kind == "timeout":
        limit = timeout_s if request.timeout_s is None else request.timeout_s
        return RetryableError(
            f"{what}: timed out after {limit:g}s ({detail}); raise the step's timeout if the "
            f"server is just slow",
            details=details,
        )
    if kind == "connect":
        return RetryableError(f"{what}: could not connect: {detail}", details=details)
    if kind == "read":
        return RetryableError(
            f"{what}: connection failed while exchanging the request: {detail}", details=details
        )
    return ExpectedError(f"{what}: {detail}", details=details)


def _malformed(request: BurstRequest) -> str | None:
    """What is wrong with the request's method or headers, if anything.

    Only called once a library has refused a request, to tell a bad method
    or header from a bad URL; never names a header's value (it may be a
    secret).
    """
    if not _TOKEN.fullmatch(request.method):
        return f'method "{request.method}" is not an HTTP method such as GET or POST'
    for name, value in request.headers:
        if not _TOKEN.fullmatch(name):
            return f'header name "{name}" has characters a header name cannot have'
        if any(c in value for c in "\r\n\0"):
            return f'the value of header "{name}" has a line break or NUL character'
    return None


def _refused(request: BurstRequest, detail: str, timeout_s: float) -> RunnerError:
    """A request the library would not send: a bad method or header, else the URL."""
    problem = _malformed(request)
    if problem is not None:
        return _failure("http", request, f"{problem}; fix it in the step's arguments", timeout_s)
    return _failure("url", request, detail, timeout_s)


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


@functools.lru_cache(maxsize=64)
def _timedelta(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


# -- pyreqwest --------------------------------------------------------------


class _PyreqwestTransport:
    """pyreqwest (reqwest/hyper in Rust, on its own Tokio thread)."""

    name = "pyreqwest"
    __slots__ = ("_client", "_errors", "_last", "_template", "_timeout_s")

    def __init__(self, client: PyreqwestClient, timeout_s: float) -> None:
        from pyreqwest.exceptions import PyreqwestError

        self._client = client
        self._timeout_s = timeout_s
        # ValueError: pyreqwest's URL parser raises a plain one.
        self._errors: tuple[type[Exception], ...] = (PyreqwestError, ValueError)
        # The last request built, kept to be copied: a load test sends the
        # same request over and over, and copying a built one costs about
        # what a bare GET does, where setting headers and a timeout again
        # each time adds ~40 % CPU per request (measured, 2026-11-23).
        self._last: BurstRequest | None = None
        self._template: PyreqwestRequest | None = None

    def _built(self, request: BurstRequest) -> PyreqwestRequest:
        builder = self._client.request(request.method, request.url)
        if request.headers:
            builder = builder.headers(request.headers)
        if request.body is not None:
            builder = builder.body_bytes(request.body)
        if request.timeout_s is not None and request.timeout_s != self._timeout_s:
            builder = builder.timeout(_timedelta(request.timeout_s))
        return builder.build()

    @classmethod
    def open(
        cls, pool_size: int, timeout_s: float, verify_tls: bool, follow_redirects: bool
    ) -> _PyreqwestTransport:
        from pyreqwest.client import ClientBuilder

        client = (
            ClientBuilder()
            # reqwest's max_connections bounds requests in flight, so the
            # pool never opens more than pool_size connections.
            .max_connections(pool_size)
            .pool_max_idle_per_host(pool_size)
            .timeout(_timedelta(timeout_s))
            .danger_accept_invalid_certs(not verify_tls)
            .follow_redirects(follow_redirects)
            .user_agent(USER_AGENT)
            .build()
        )
        return cls(client, timeout_s)

    async def send(
        self, request: BurstRequest, *, keep_body: bool = False, keep_headers: bool = False
    ) -> BurstResponse:
        try:
            template = self._template
            if request is not self._last or template is None:
                template = self._built(request)
                self._last, self._template = request, template
            response = await template.copy().send()
            data = await response.bytes()
        except self._errors as exc:
            raise self._converted(exc, request) from exc
        return BurstResponse(
            response.status,
            _joined(response.headers.items()) if keep_headers else {},
            bytes(data) if keep_body else None,
            len(data),
        )

    def _converted(self, exc: Exception, request: BurstRequest) -> RunnerError:
        from pyreqwest import exceptions as px

        causes = [c["message"] for c in (getattr(exc, "details", None) or {}).get("causes") or []]
        detail = causes[-1] if causes else str(exc)
        if isinstance(exc, px.BuilderError) or not isinstance(exc, px.PyreqwestError):
            return _refused(request, detail, self._timeout_s)
        if isinstance(exc, px.RedirectError):
            return _failure("redirects", request, detail, self._timeout_s)
        if isinstance(exc, px.RequestTimeoutError):
            return _failure("timeout", request, detail, self._timeout_s)
        # pyreqwest has no certificate error type; rustls's message names it.
        if any("certificate" in c for c in causes):
            return _failure("tls", request, detail, self._timeout_s)
        if isinstance(exc, px.ConnectError):
            # hyper reports a connection reset while the request was being
            # sent on a reused connection as a ConnectError too.
            sending = any("(SendRequest)" in c for c in causes)
            return _failure("read" if sending else "connect", request, detail, self._timeout_s)
        if isinstance(exc, px.TransportError | px.DecodeError):
            return _failure("read", request, detail, self._timeout_s)
        return _failure("http", request, detail, self._timeout_s)

    async def aclose(self) -> None:
        await self._client.close()


# -- aiohttp ----------------------------------------------------------------


class _AiohttpTransport:
    """aiohttp's client (pure asyncio; C-accelerated HTTP parser)."""

    name = "aiohttp"
    __slots__ = ("_default", "_errors", "_follow", "_session", "_timeout_s", "_timeouts")

    def __init__(self, session: aiohttp.ClientSession, timeout_s: float, follow: bool) -> None:
        import aiohttp

        # ValueError: aiohttp refuses a bad method or header value with one.
        self._errors = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)
        self._session = session
        self._timeout_s = timeout_s
        self._follow = follow
        self._default = aiohttp.ClientTimeout(total=timeout_s)
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    @classmethod
    def open(
        cls, pool_size: int, timeout_s: float, verify_tls: bool, follow_redirects: bool
    ) -> _AiohttpTransport:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, ssl=verify_tls)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers={"User-Agent": USER_AGENT},
        )
        return cls(session, timeout_s, follow_redirects)

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    async def send(
        self, request: BurstRequest, *, keep_body: bool = False, keep_headers: bool = False
    ) -> BurstResponse:
        url = request.url
        if not url.startswith(_SCHEMES) and not url.lower().startswith(_SCHEMES):
            # aiohttp fails an assert on a scheme-less "//host/path".
            raise _failure("url", request, "not an http:// or https:// URL", self._timeout_s)
        timeout = self._default if request.timeout_s is None else self._timeout(request.timeout_s)
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=request.headers or None,
                data=request.body,
                allow_redirects=self._follow,
                timeout=timeout,
            ) as response:
                data = await response.read()
                status = response.status
                headers = _joined(response.headers.items()) if keep_headers else {}
        except self._errors as exc:
            raise self._converted(exc, request) from exc
        return BurstResponse(status, headers, data if keep_body else None, len(data))

    def _converted(self, exc: Exception, request: BurstRequest) -> RunnerError:
        import aiohttp

        detail = str(exc) or type(exc).__name__
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError) or not isinstance(
            exc, aiohttp.ClientError | asyncio.TimeoutError
        ):
            return _refused(request, detail, self._timeout_s)
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            kind = "tls"
        elif isinstance(exc, aiohttp.TooManyRedirects):
            kind = "redirects"
        elif isinstance(exc, asyncio.TimeoutError):  # ServerTimeoutError is one too
            kind = "timeout"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            kind = "connect"
        elif isinstance(
            exc,
            aiohttp.ClientConnectionError
            | aiohttp.ClientPayloadError
            | aiohttp.ClientResponseError,
        ):
            kind = "read"  # reset, disconnected, broken body or status line
        else:
            kind = "http"
        return _failure(kind, request, detail, self._timeout_s)

    async def aclose(self) -> None:
        await self._session.close()


# -- httpx ------------------------------------------------------------------


class _HttpxTransport:
    """httpx, the client single ``http_request`` steps use; slowest under load."""

    name = "httpx"
    __slots__ = ("_client", "_timeout_s")

    def __init__(self, client: httpx.AsyncClient, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    @classmethod
    def open(
        cls, pool_size: int, timeout_s: float, verify_tls: bool, follow_redirects: bool
    ) -> _HttpxTransport:
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            timeout=timeout_s,
            verify=verify_tls,
            follow_redirects=follow_redirects,
            headers={"User-Agent": USER_AGENT},
        )
        return cls(client, timeout_s)

    async def send(
        self, request: BurstRequest, *, keep_body: bool = False, keep_headers: bool = False
    ) -> BurstResponse:
        try:
            built = self._client.build_request(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body,
                timeout=self._timeout_s if request.timeout_s is None else request.timeout_s,
            )
        except httpx.InvalidURL as exc:
            raise _refused(request, str(exc), self._timeout_s) from exc
        try:
            response = await self._client.send(built)  # reads the whole body
        except httpx.LocalProtocolError as exc:  # h11 refused the method or a header
            raise _refused(request, str(exc), self._timeout_s) from exc
        except httpx.HTTPError as exc:
            # The one conversion of httpx errors, shared with http_request.
            raise _httpx_converted(exc, request.method, request.url, built) from exc
        data = response.content
        return BurstResponse(
            response.status_code,
            _joined(response.headers.multi_items()) if keep_headers else {},
            data if keep_body else None,
            len(data),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
