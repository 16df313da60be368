"""Every burst transport against the real local test server.

Each test runs on the burst's own loop (:func:`transport.run`, uvloop here);
one also runs on asyncio's default loop. Failures must come out as gridflow
errors with the same kinds as ``http_request``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from gridflow.burst import transport
from gridflow.burst.transport import BurstRequest, BurstResponse, HttpTransport, open_transport
from gridflow.errors import ExpectedError, RetryableError, RunnerError
from tests.support.http_server import JSON_DOC, LocalHTTPServer
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
HAS_PYREQWEST = sys.version_info >= (3, 11)
KINDS = [
    pytest.param(
        "pyreqwest",
        marks=pytest.mark.skipif(not HAS_PYREQWEST, reason="pyreqwest needs Python >= 3.11"),
    ),
    "aiohttp",
    "httpx",
]


def with_transport(
    kind: str,
    body: Callable[[HttpTransport], Coroutine[Any, Any, T]],
    *,
    loop: str = "burst",
    **options: Any,
) -> T:
    """Open a ``kind`` transport, run ``body`` with it, close it."""
    options = {"pool_size": 8, "timeout_s": 10.0, **options}

    async def main() -> T:
        t = await open_transport(kind, **options)  # type: ignore[arg-type]
        try:
            return await body(t)
        finally:
            await t.aclose()

    return transport.run(main()) if loop == "burst" else asyncio.run(main())


def send(kind: str, request: BurstRequest, **options: Any) -> BurstResponse:
    keep = {k: options.pop(k) for k in ("keep_body", "keep_headers") if k in options}
    return with_transport(kind, lambda t: t.send(request, **keep), **options)


def failure(kind: str, request: BurstRequest, **options: Any) -> RunnerError:
    with pytest.raises(RunnerError) as info:
        send(kind, request, **options)
    assert isinstance(info.value, ExpectedError | RetryableError)
    assert info.value.details["url"] == request.url
    return info.value


def get(url: str, **fields: Any) -> BurstRequest:
    return BurstRequest("GET", url, **fields)


# -- requests and responses ------------------------------------------------


@pytest.mark.parametrize("loop", ["burst", "asyncio"])
@pytest.mark.parametrize("kind", KINDS)
def test_get_reads_the_body_and_drops_it(
    http_server: LocalHTTPServer, kind: str, loop: str
) -> None:
    response = with_transport(kind, lambda t: t.send(get(f"{http_server.url}/json")), loop=loop)
    assert response.status == 200
    assert response.nbytes == len(json.dumps(JSON_DOC).encode())
    assert response.body is None
    assert response.headers == {}


@pytest.mark.parametrize("kind", KINDS)
def test_post_sends_body_and_headers(http_server: LocalHTTPServer, kind: str) -> None:
    payload = b'{"n": 1, "text": "h\xc3\xa9"}'
    request = BurstRequest(
        "POST",
        f"{http_server.url}/echo",
        headers=(("X-Burst", "yes"), ("Content-Type", "application/json")),
        body=payload,
    )
    response = send(kind, request, keep_body=True, keep_headers=True)
    assert response.status == 200
    assert response.body is not None
    assert response.nbytes == len(response.body)
    echo = json.loads(response.body)
    assert echo["method"] == "POST"
    assert echo["headers"]["x-burst"] == "yes"
    assert echo["headers"]["user-agent"] == transport.USER_AGENT
    assert echo["body"].encode() == payload
    assert response.headers["content-type"].startswith("application/json")
    assert all(name == name.lower() for name in response.headers)


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_sent_again_is_sent_whole_each_time(
    http_server: LocalHTTPServer, kind: str
) -> None:
    # Transports may keep a built request to copy it (pyreqwest does): every
    # send of the same request, and of others between them, must carry its
    # own method, headers, body and timeout.
    post = BurstRequest(
        "POST", f"{http_server.url}/echo", headers=(("X-N", "post"),), body=b"payload"
    )
    put = BurstRequest("PUT", f"{http_server.url}/echo", headers=(("X-N", "put"),), body=b"other")
    slow = get(f"{http_server.url}/delay/20000", timeout_s=0.3)

    async def body(t: HttpTransport) -> list[Any]:
        out: list[Any] = []
        for request in (post, post, put, post, slow, slow, post):
            try:
                r = await t.send(request, keep_body=True)
            except RunnerError as exc:
                out.append(exc.details["kind"])
                continue
            assert r.body is not None
            echo = json.loads(r.body)
            out.append((echo["method"], echo["headers"]["x-n"], echo["body"]))
        return out

    post_seen = ("POST", "post", "payload")
    started = time.monotonic()
    assert with_transport(kind, body) == [
        post_seen, post_seen, ("PUT", "put", "other"), post_seen, "timeout", "timeout", post_seen
    ]  # fmt: skip
    # Both slow sends stopped at their own 0.3 s, not at the transport's 10 s.
    assert time.monotonic() - started < 8.0


@pytest.mark.parametrize("kind", KINDS)
def test_keep_body_returns_every_byte(http_server: LocalHTTPServer, kind: str) -> None:
    response = send(kind, get(f"{http_server.url}/bytes/100000"), keep_body=True)
    assert response.nbytes == 100_000
    assert response.body == (b"abcdefghijklmnopqrstuvwxyz" * 4000)[:100_000]


@pytest.mark.parametrize("status", [201, 204, 302, 404, 500, 503])
@pytest.mark.parametrize("kind", KINDS)
def test_status_codes_are_responses_not_errors(
    http_server: LocalHTTPServer, kind: str, status: int
) -> None:
    assert send(kind, get(f"{http_server.url}/status/{status}")).status == status


@pytest.mark.parametrize(("follow", "status"), [(True, 200), (False, 302)], ids=["follow", "stay"])
@pytest.mark.parametrize("kind", KINDS)
def test_follow_redirects(
    http_server: LocalHTTPServer, kind: str, follow: bool, status: int
) -> None:
    response = send(
        kind, get(f"{http_server.url}/redirect/2"), follow_redirects=follow, keep_headers=True
    )
    assert response.status == status
    if not follow:
        assert response.headers["location"] == "/redirect/1"


@pytest.mark.parametrize("kind", KINDS)
def test_pool_reuses_its_connections(kind: str) -> None:
    with LocalHTTPServer() as server:
        request = get(f"{server.url}/delay/20")

        async def burst(t: HttpTransport) -> list[int]:
            # 40 requests at once through 4 connections: 10 rounds of 20 ms.
            responses = await asyncio.gather(*(t.send(request) for _ in range(40)))
            return [r.status for r in responses]

        statuses = with_transport(kind, burst, pool_size=4)
        assert statuses == [200] * 40
        assert server.count("/delay/20") == 40
        assert 1 <= server.connections("/delay/") <= 4
        assert server.max_in_flight <= 4


# -- failures -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_is_retryable_connect(kind: str) -> None:
    err = failure(kind, get(f"http://127.0.0.1:{free_port()}/"))
    assert isinstance(err, RetryableError)
    assert err.details["kind"] == "connect"
    assert "could not connect" in err.message


@pytest.mark.parametrize("where", ["transport", "request"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_stalled_server_times_out(http_server: LocalHTTPServer, kind: str, where: str) -> None:
    url = f"{http_server.url}/delay/20000"
    if where == "transport":
        request, options = get(url), {"timeout_s": 0.3}
    else:  # the request's own timeout wins over the transport's 10 s
        request, options = get(url, timeout_s=0.3), {}
    started = time.monotonic()
    err = failure(kind, request, **options)
    elapsed = time.monotonic() - started
    assert isinstance(err, RetryableError)
    assert err.details["kind"] == "timeout"
    assert "timed out after 0.3s" in err.message
    assert 0.25 < elapsed < 3.0


@pytest.mark.parametrize("kind", KINDS)
def test_a_reset_connection_is_retryable(http_server: LocalHTTPServer, kind: str) -> None:
    err = failure(kind, get(f"{http_server.url}/reset"))
    assert isinstance(err, RetryableError)
    assert err.details["kind"] in ("read", "connect")


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://127.0.0.1/file", "http://", "//127.0.0.1/no-scheme"],
    ids=["words", "ftp", "no-host", "no-scheme"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_an_invalid_url_is_expected_error(kind: str, url: str) -> None:
    err = failure(kind, get(url))
    assert isinstance(err, ExpectedError)
    assert err.details["kind"] == "url"
    assert "http://" in err.message  # says how to fix it


@pytest.mark.parametrize(
    ("method", "headers", "said"),
    [
        ("GE T", (), 'method "GE T" is not an HTTP method'),
        ("GET", (("Authorization", "Bearer s3cret\nX-Injected: 1"),), 'header "Authorization"'),
    ],
    ids=["method", "header-value"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_request_is_expected_error(
    http_server: LocalHTTPServer, kind: str, method: str, headers: tuple[tuple[str, str]], said: str
) -> None:
    err = failure(kind, BurstRequest(method, f"{http_server.url}/echo", headers=headers))
    assert isinstance(err, ExpectedError)
    assert err.details["kind"] == "http"
    assert said in err.message
    assert "s3cret" not in err.message  # header values may be secrets


@pytest.fixture(scope="module")
def tls_server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(tls=True) as server:
        yield server


@pytest.mark.parametrize("kind", KINDS)
def test_an_unverified_certificate_is_expected_error(
    tls_server: LocalHTTPServer, kind: str
) -> None:
    err = failure(kind, get(f"{tls_server.url}/json"))
    assert isinstance(err, ExpectedError)
    assert err.details["kind"] == "tls"
    assert "verify_tls = false" in err.message


@pytest.mark.parametrize("kind", KINDS)
def test_verify_tls_false_accepts_it(tls_server: LocalHTTPServer, kind: str) -> None:
    assert send(kind, get(f"{tls_server.url}/json"), verify_tls=False).status == 200


# -- choosing and configuring ---------------------------------------------


def test_auto_picks_the_fastest_installed() -> None:
    async def name() -> str:
        t = await open_transport("auto", pool_size=1, timeout_s=1.0)
        await t.aclose()
        return t.name

    assert transport.run(name()) == ("pyreqwest" if HAS_PYREQWEST else "aiohttp")


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("curl", {}, 'unknown HTTP transport "curl"'),
        ("aiohttp", {"pool_size": 0}, "pool_size must be at least 1"),
        ("aiohttp", {"timeout_s": 0.0}, "timeout_s must be more than 0"),
    ],
    ids=["unknown-kind", "no-pool", "no-timeout"],
)
def test_bad_options_are_expected_errors(kind: str, options: dict[str, Any], message: str) -> None:
    options = {"pool_size": 1, "timeout_s": 1.0, **options}
    with pytest.raises(ExpectedError, match=message):
        transport.run(open_transport(kind, **options))  # type: ignore[arg-type]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")
def test_the_burst_loop_is_uvloop() -> None:
    import uvloop

    loop = transport.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
