"""wait: sleeping, polling a URL until its status matches, and giving up."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError
from gridflow.runners.base import RunContext
from gridflow.runners.wait import WaitInputs, WaitRunner
from tests.support.http_server import LocalHTTPServer
from tests.support.servers import free_port


def run(**args: Any) -> dict[str, Any]:
    inputs = WaitInputs.model_validate(args)
    out = asyncio.run(WaitRunner().run(inputs, RunContext(step_id="wait.t")))
    return out.model_dump(mode="json")


@pytest.mark.parametrize(("duration", "seconds"), [("300ms", 0.3), (0.2, 0.2), ("0s", 0.0)],
                         ids=["string", "number", "zero"])  # fmt: skip
def test_duration_sleeps(duration: Any, seconds: float) -> None:
    started = time.monotonic()
    out = run(duration=duration)
    elapsed = time.monotonic() - started
    assert seconds <= elapsed < seconds + 1
    assert out["attempts"] == 0
    assert seconds * 1000 <= out["waited_ms"] < (seconds + 1) * 1000


def test_duration_is_cancellable() -> None:
    async def main() -> float:
        task = asyncio.ensure_future(
            WaitRunner().run(WaitInputs(duration=30), RunContext(step_id="wait.t"))
        )
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 1


def test_polls_until_the_status_matches(http_server: LocalHTTPServer) -> None:
    key = uuid.uuid4().hex
    out = run(url=f"{http_server.url}/flaky/{key}/3", interval="50ms", timeout="10s")
    assert out["attempts"] == 4
    assert out["waited_ms"] >= 3 * 50
    assert http_server.count(f"/flaky/{key}/3") == 4


def test_first_answer_that_matches_returns_at_once(http_server: LocalHTTPServer) -> None:
    out = run(url=f"{http_server.url}/json")
    assert out["attempts"] == 1


@pytest.mark.parametrize(
    ("path", "status", "ok"),
    [
        ("/status/302", None, True),
        ("/status/404", None, False),
        ("/status/404", 404, True),
        ("/status/204", ["2xx"], True),
        ("/status/200", "500-599", False),
    ],
    ids=["3xx-default-ok", "4xx-default-not", "explicit-code", "class", "range"],
)
def test_status_sets(http_server: LocalHTTPServer, path: str, status: Any, ok: bool) -> None:
    args: dict[str, Any] = {"url": f"{http_server.url}{path}", "interval": "50ms"}
    if status is not None:
        args["status"] = status
    if ok:
        assert run(**args)["attempts"] == 1
    else:
        with pytest.raises(ExpectedError):
            run(**args, timeout="200ms")


def test_timeout_says_what_it_last_saw(http_server: LocalHTTPServer) -> None:
    url = f"{http_server.url}/status/503"
    started = time.monotonic()
    with pytest.raises(ExpectedError) as info:
        run(url=url, interval="100ms", timeout="450ms")
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 2
    err = info.value
    attempts = err.details["attempts"]
    assert isinstance(attempts, int)
    assert 3 <= attempts <= 6
    assert err.message == (
        f"wait: {url} did not answer with status 200-399 within 0.45s "
        f"({attempts} attempts; last saw status 503)"
    )


def test_connection_errors_count_as_not_yet() -> None:
    port = free_port()
    with pytest.raises(ExpectedError) as info:
        run(url=f"http://127.0.0.1:{port}/", interval="50ms", timeout="300ms")
    assert "last saw ConnectError" in info.value.message


def test_slow_answers_are_bounded_by_the_timeout(http_server: LocalHTTPServer) -> None:
    started = time.monotonic()
    with pytest.raises(ExpectedError, match=r"last saw ReadTimeout"):
        run(url=f"{http_server.url}/delay/5000", timeout="300ms")
    assert time.monotonic() - started < 2


def test_headers_are_sent(http_server: LocalHTTPServer) -> None:
    tag = uuid.uuid4().hex
    run(url=f"{http_server.url}/echo?{tag}=1", headers={"X-Probe": "yes"})
    (req,) = http_server.requests(lambda r: tag in r.query)
    assert req.headers["x-probe"] == "yes"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("/relative", "write an absolute http:// or https:// URL"), ("http://[::1", "invalid url")],
    ids=["relative", "malformed"],
)
def test_bad_url_fails_at_once(url: str, fragment: str) -> None:
    with pytest.raises(ExpectedError, match=fragment):
        run(url=url)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({}, "set exactly one of duration"),
        ({"duration": 1, "url": "http://x"}, "set exactly one of duration"),
        ({"duration": 1, "interval": 2}, "interval only apply when polling a url; remove it"),
        ({"duration": 1, "status": 200, "timeout": 3},
         "status, timeout only apply when polling a url; remove them"),
        ({"duration": "soon"}, "invalid duration"),
        ({"url": "http://x", "interval": 0}, "greater than 0"),
        ({"url": "http://x", "status": "2yy"}, '"2yy" is not a status'),
        ({"url": "http://x", "method": "POST"}, "Extra inputs are not permitted"),
    ],
    ids=["neither", "both", "interval-with-duration", "two-polling-options-with-duration",
         "bad-duration", "zero-interval", "bad-status", "unknown-argument"],
)  # fmt: skip
def test_bad_inputs(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        WaitInputs.model_validate(args)
    assert fragment in str(info.value)
