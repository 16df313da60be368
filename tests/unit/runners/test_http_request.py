"""http_request and the http_client resource against the real local test server."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError, RetryableError
from gridflow.runners.base import RunContext
from gridflow.runners.http_client import HttpClientArguments, HttpClientResource
from gridflow.runners.http_request import HttpRequestInputs, HttpRequestRunner
from tests.support.http_server import JSON_DOC, LocalHTTPServer
from tests.support.servers import free_port


def request(client: HttpClientResource | None = None, **args: Any) -> dict[str, Any]:
    """Run one request (through ``client`` if given) and return the JSON output."""
    inputs = HttpRequestInputs.model_validate(args)
    resources = {"client": client} if client is not None else {}
    ctx = RunContext(step_id="http_request.t", resources=resources)
    out = asyncio.run(HttpRequestRunner().run(inputs, ctx))
    return out.model_dump(mode="json")


def failure(**args: Any) -> Exception:
    with pytest.raises((ExpectedError, RetryableError)) as info:
        request(**args)
    return info.value


# -- requests and responses ----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "options"])
def test_methods(http_server: LocalHTTPServer, method: str) -> None:
    out = request(url=f"{http_server.url}/echo", method=method)
    assert out["status_code"] == 200
    assert out["json"]["method"] == method.upper()


def test_output_shape(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/json")
    assert out["status_code"] == 200
    assert out["json"] == JSON_DOC
    assert out["headers"]["content-type"].startswith("application/json")
    assert all(name == name.lower() for name in out["headers"])
    assert out["body"].startswith('{"ok": true')
    assert out["url"] == f"{http_server.url}/json"
    assert out["truncated"] is False
    assert 0 < out["duration_ms"] < 5000
    assert set(out) == {
        "status_code", "headers", "body", "json", "url", "duration_ms", "truncated"
    }  # fmt: skip


def test_headers_and_query(http_server: LocalHTTPServer) -> None:
    out = request(
        url=f"{http_server.url}/echo?fixed=1",
        headers={"X-Trace": "abc", "X-Count": 5, "X-Flag": True},
        query={"q": "hello world", "n": 3, "tag": ["a", "b"]},
    )
    echo = out["json"]
    assert echo["headers"]["x-trace"] == "abc"
    assert echo["headers"]["x-count"] == "5"
    assert echo["headers"]["x-flag"] == "true"
    assert echo["query_all"] == {
        "fixed": ["1"],
        "q": ["hello world"],
        "n": ["3"],
        "tag": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("body_args", "expected"),
    [
        ({"json": {"a": [1, 2], "b": None}},
         {"json": {"a": [1, 2], "b": None}, "content-type": "application/json"}),
        ({"body": "plain text é"}, {"body": "plain text é", "json": None}),
        ({"form": {"user": "ann", "n": 2, "multi": ["x", "y"]}},
         {"form": {"user": "ann", "n": "2", "multi": "x"},
          "content-type": "application/x-www-form-urlencoded"}),
    ],
    ids=["json", "body", "form"],
)  # fmt: skip
def test_request_bodies(
    http_server: LocalHTTPServer, body_args: dict[str, Any], expected: dict[str, Any]
) -> None:
    echo = request(url=f"{http_server.url}/echo", method="POST", **body_args)["json"]
    for key, value in expected.items():
        actual = echo["headers"][key] if key == "content-type" else echo[key]
        assert actual == value, key


@pytest.mark.parametrize(
    ("path", "auth", "status"),
    [
        ("/bearer", {"type": "bearer", "token": "t0k"}, 200),
        ("/bearer", None, 401),
        ("/basic-auth/ann/pw", {"type": "basic", "username": "ann", "password": "pw"}, 200),
        ("/basic-auth/ann/pw", {"type": "basic", "username": "ann", "password": "no"}, 401),
    ],
    ids=["bearer", "bearer-missing", "basic", "basic-wrong-password"],
)
def test_auth(http_server: LocalHTTPServer, path: str, auth: Any, status: int) -> None:
    args: dict[str, Any] = {"url": f"{http_server.url}{path}"}
    if auth is not None:
        args["auth"] = auth
    assert request(**args)["status_code"] == status


def test_auth_overrides_an_authorization_header(http_server: LocalHTTPServer) -> None:
    echo = request(
        url=f"{http_server.url}/echo",
        headers={"Authorization": "Bearer old"},
        auth={"type": "bearer", "token": "new"},
    )["json"]
    assert echo["headers"]["authorization"] == "Bearer new"


# -- status handling -------------------------------------------------------------


@pytest.mark.parametrize("code", [201, 404, 500, 503], ids=str)
def test_non_2xx_is_success_without_expect_status(http_server: LocalHTTPServer, code: int) -> None:
    assert request(url=f"{http_server.url}/status/{code}")["status_code"] == code


@pytest.mark.parametrize(
    ("code", "expect", "ok"),
    [
        (200, [200], True),
        (204, ["2xx"], True),
        (404, ["200-299", 404], True),
        (418, "4xx", True),
        (503, ["2xx"], False),
        (200, [201], False),
        (301, ["200-299"], False),
    ],
    ids=["exact", "class", "range-or-code", "single-string", "5xx-vs-2xx", "200-vs-201", "3xx"],
)
def test_expect_status(http_server: LocalHTTPServer, code: int, expect: Any, ok: bool) -> None:
    url = f"{http_server.url}/status/{code}"
    if ok:
        assert request(url=url, expect_status=expect, follow_redirects=False)["status_code"] == code
        return
    err = failure(url=url, expect_status=expect, follow_redirects=False)
    assert isinstance(err, ExpectedError)
    assert err.message.startswith(f"GET {url}: status {code}, expected ")
    output = err.details["output"]
    assert isinstance(output, dict)
    assert output["status_code"] == code


def test_expect_status_message(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/status/503"
    err = failure(url=url, expect_status=["2xx", 304])
    assert str(err) == f"GET {url}: status 503, expected 2xx or 304; body: '{{\"status\": 503}}'"


def test_flaky_endpoint_fails_then_succeeds(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/flaky/{uuid.uuid4().hex}/1"
    assert isinstance(failure(url=url, expect_status=[200]), ExpectedError)
    assert request(url=url, expect_status=[200])["json"]["attempt"] == 2


# -- redirects, TLS --------------------------------------------------------------


@pytest.mark.parametrize(
    ("follow", "status", "final_path"),
    [(None, 200, "/redirect/0"), (True, 200, "/redirect/0"), (False, 302, "/redirect/3")],
    ids=["default-follows", "follow", "no-follow"],
)
def test_follow_redirects(
    http_server: LocalHTTPServer, follow: bool | None, status: int, final_path: str
) -> None:
    args: dict[str, Any] = {"url": f"{http_server.url}/redirect/3"}
    if follow is not None:
        args["follow_redirects"] = follow
    out = request(**args)
    assert out["status_code"] == status
    assert out["url"] == f"{http_server.url}{final_path}"
    if not follow and follow is not None:
        assert out["headers"]["location"] == "/redirect/2"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(tls=True) as server:
        yield server


def test_verify_tls_rejects_a_self_signed_certificate(tls_server: LocalHTTPServer) -> None:
    err = failure(url=f"{tls_server.url}/json")
    assert isinstance(err, ExpectedError)
    assert "the server's TLS certificate does not verify" in err.message
    assert "set verify_tls = false" in err.message
    assert err.details["kind"] == "tls"


def test_verify_tls_false_accepts_it(tls_server: LocalHTTPServer) -> None:
    assert request(url=f"{tls_server.url}/json", verify_tls=False)["json"] == JSON_DOC


# -- failures of the connection ----------------------------------------------------


def test_timeout_is_retryable(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/delay/3000"
    started = time.monotonic()
    err = failure(url=url, timeout="200ms")
    assert time.monotonic() - started < 2
    assert isinstance(err, RetryableError)
    assert err.message == (
        f"GET {url}: timed out after 0.2s (ReadTimeout); raise the step's timeout if the "
        f"server is just slow"
    )
    assert err.details == {"url": url, "kind": "timeout"}


def test_delay_within_timeout_succeeds(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/delay/150", timeout=5)
    assert out["json"] == {"delayed_ms": 150.0}
    assert out["duration_ms"] >= 150


def test_connection_refused_is_retryable() -> None:
    port = free_port()  # nobody listens there
    err = failure(url=f"http://127.0.0.1:{port}/x", timeout=2)
    assert isinstance(err, RetryableError)
    assert err.message.startswith(f"GET http://127.0.0.1:{port}/x: could not connect: ")
    assert err.details["kind"] == "connect"


def test_connection_reset_is_retryable(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/reset"
    err = failure(url=url)
    assert isinstance(err, RetryableError)
    assert err.message.startswith(f"GET {url}: connection failed while exchanging the request")
    assert err.details == {"url": url, "kind": "read"}


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://[::1", "invalid URL"),
        ("/relative/path", "write an absolute http:// or https:// URL"),
        ("ftp://127.0.0.1/x", "write an absolute http:// or https:// URL"),
    ],
    ids=["malformed", "relative-without-client", "unsupported-scheme"],
)
def test_invalid_url_is_expected(url: str, fragment: str) -> None:
    err = failure(url=url)
    assert isinstance(err, ExpectedError)
    assert fragment in err.message
    assert url in err.message


# -- bodies --------------------------------------------------------------------------


def test_large_body_is_kept_whole_under_the_limit(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/bytes/3000000")
    assert len(out["body"]) == 3_000_000
    assert out["body"][:30] == "abcdefghijklmnopqrstuvwxyzabcd"
    assert out["truncated"] is False


def test_body_over_the_limit_is_truncated(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/bytes/200000", max_body_bytes=1000)
    assert len(out["body"]) == 1000
    assert out["truncated"] is True
    assert out["json"] is None


def test_default_limit_is_ten_mebibytes(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/bytes/{10 * 1024 * 1024 + 10}")
    assert len(out["body"]) == 10 * 1024 * 1024
    assert out["truncated"] is True


def test_slow_body_is_read_to_the_end(http_server: LocalHTTPServer) -> None:
    out = request(url=f"{http_server.url}/slow-body/4/60", timeout=5)
    assert out["body"] == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    assert out["duration_ms"] >= 4 * 60


def test_slow_body_past_the_read_timeout(http_server: LocalHTTPServer) -> None:
    err = failure(url=f"{http_server.url}/slow-body/3/800", timeout="300ms")
    assert isinstance(err, RetryableError)
    assert err.details["kind"] == "timeout"


# -- the shared http_client resource ------------------------------------------------------


def with_client(arguments: dict[str, Any], *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Open one resource, run ``requests`` through it concurrently, close it."""

    async def main() -> list[dict[str, Any]]:
        client = HttpClientResource(HttpClientArguments.model_validate(arguments))
        await client.open()
        try:
            runner = HttpRequestRunner()
            ctx = RunContext(step_id="http_request.t", resources={"client": client})
            outs = await asyncio.gather(
                *(runner.run(HttpRequestInputs.model_validate(r), ctx) for r in requests)
            )
        finally:
            await client.close()
        return [o.model_dump(mode="json") for o in outs]

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("base", "url", "path"),
    [
        ("", "/echo", "/echo"),
        ("/", "echo", "/echo"),
        ("/", "/echo", "/echo"),
    ],
    ids=["root-absolute-path", "slash-relative", "slash-absolute"],
)
def test_client_joins_base_url(
    http_server: LocalHTTPServer, base: str, url: str, path: str
) -> None:
    (out,) = with_client({"base_url": http_server.url + base}, {"url": url})
    assert out["json"]["path"] == path


def test_client_base_url_with_a_path(http_server: LocalHTTPServer) -> None:
    (out,) = with_client({"base_url": f"{http_server.url}/status"}, {"url": "/418"})
    assert out["status_code"] == 418


def test_client_absolute_url_wins(http_server: LocalHTTPServer) -> None:
    (out,) = with_client({"base_url": "http://127.0.0.1:9"}, {"url": f"{http_server.url}/json"})
    assert out["json"] == JSON_DOC


def test_client_headers_and_auth_merge_under_the_step(http_server: LocalHTTPServer) -> None:
    outs = with_client(
        {
            "base_url": http_server.url,
            "headers": {"X-Team": "perf", "X-Over": "client"},
            "auth": {"type": "basic", "username": "u", "password": "p"},
        },
        {"url": "/echo", "headers": {"x-over": "step"}},
        {"url": "/echo", "auth": {"type": "bearer", "token": "step-token"}},
    )
    first, second = (o["json"]["headers"] for o in outs)
    assert first["x-team"] == "perf"
    assert first["x-over"] == "step"
    assert first["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert second["x-over"] == "client"
    assert second["authorization"] == "Bearer step-token"


def test_client_reuses_connections(http_server: LocalHTTPServer) -> None:
    tag = uuid.uuid4().hex
    n = 30
    outs = with_client(
        {"base_url": http_server.url, "pool_size": 4},
        *({"url": f"/echo?{tag}={i}"} for i in range(n)),
    )
    assert [o["status_code"] for o in outs] == [200] * n
    mine = http_server.requests(lambda r: tag in r.query)
    assert len(mine) == n
    peers = {r.peer for r in mine}
    assert 1 <= len(peers) <= 4, peers


def test_without_client_each_request_has_its_own_connection(http_server: LocalHTTPServer) -> None:
    tag = uuid.uuid4().hex
    for i in range(3):
        request(url=f"{http_server.url}/echo?{tag}={i}")
    assert len({r.peer for r in http_server.requests(lambda r: tag in r.query)}) == 3


def test_client_timeout_and_step_override(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/delay/600"
    with pytest.raises(RetryableError, match=r"timed out after 0\.2s"):
        with_client({"timeout": "200ms"}, {"url": url})
    (out,) = with_client({"timeout": "200ms"}, {"url": url, "timeout": "5s"})
    assert out["status_code"] == 200


def test_client_follow_redirects_and_step_override(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/redirect/1"
    a, b = with_client(
        {"follow_redirects": False}, {"url": url}, {"url": url, "follow_redirects": True}
    )
    assert (a["status_code"], b["status_code"]) == (302, 200)


def test_client_verify_tls(tls_server: LocalHTTPServer) -> None:
    (out,) = with_client({"verify_tls": False, "base_url": tls_server.url}, {"url": "/json"})
    assert out["status_code"] == 200
    with pytest.raises(ExpectedError, match="verify_tls differs from the http_client resource"):
        with_client({"verify_tls": False}, {"url": f"{tls_server.url}/json", "verify_tls": True})


def test_client_must_be_an_http_client() -> None:
    ctx = RunContext(step_id="x.y", resources={"client": object()})
    inputs = HttpRequestInputs(url="http://127.0.0.1:9/")
    with pytest.raises(ExpectedError, match=r"uses\.client must be an http_client resource"):
        asyncio.run(HttpRequestRunner().run(inputs, ctx))


def test_resource_used_before_open_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="before open"):
        _ = HttpClientResource(HttpClientArguments()).client


def test_resource_close_is_idempotent() -> None:
    async def main() -> None:
        client = HttpClientResource(HttpClientArguments())
        await client.close()
        await client.open()
        await client.close()
        await client.close()

    asyncio.run(main())


# -- inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"url": "http://x", "json": {}, "body": "b"}, "json and body are both set"),
        ({"url": "http://x", "body": "b", "form": {}}, "body and form are both set"),
        ({"url": "http://x", "method": "GE T"}, 'method "GE T" is not an HTTP method'),
        ({"url": ""}, "at least 1 character"),
        ({}, "Field required"),
        ({"url": "http://x", "timeout": "soon"}, "timeout"),
        ({"url": "http://x", "timeout": 0}, "greater than 0"),
        ({"url": "http://x", "expect_status": "2yy"}, '"2yy" is not a status'),
        ({"url": "http://x", "auth": {"type": "digest"}}, "does not match any of the expected"),
        ({"url": "http://x", "auth": {"type": "bearer"}}, "token"),
        ({"url": "http://x", "auth": {"type": "basic", "user": "u"}}, "username"),
        ({"url": "http://x", "query_params": {}}, "Extra inputs are not permitted"),
        ({"url": "http://x", "headers": {"a": {"b": 1}}}, "headers.a"),
    ],
    ids=["json-and-body", "body-and-form", "bad-method", "empty-url", "no-url", "bad-timeout",
         "zero-timeout", "bad-expect-status", "unknown-auth-type", "bearer-without-token",
         "basic-without-username", "unknown-argument", "header-not-scalar"],
)  # fmt: skip
def test_bad_inputs(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        HttpRequestInputs.model_validate(args)
    assert fragment in str(info.value)


def test_secret_input_values() -> None:
    args = {
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k123", "Accept": "text/plain",
                    "Cookie": "sid=1"},
    }  # fmt: skip
    assert sorted(HttpRequestRunner.secret_input_values(args)) == ["Bearer abc", "k123", "sid=1"]
    assert HttpRequestRunner.secret_input_values({}) == []
    assert "auth" in HttpRequestRunner.sensitive_inputs
