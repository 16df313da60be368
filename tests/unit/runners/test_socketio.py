"""The socketio runner against a real python-socketio server on 127.0.0.1.

The server (:mod:`tests.support.socketio_server`) is the session fixture
``socketio_server``; every client sends a unique ``X-Client-Id`` so a test can
ask the server what it saw of that client (auth, headers, whether it left).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError, RetryableError
from gridflow.hooks.arguments import socketio_arguments
from gridflow.runners import registry
from gridflow.runners._socketio_exchange import Action, Emit, Expect, Settings, exchange
from gridflow.runners.base import RunContext
from gridflow.runners.socketio import SocketIOInputs, SocketIORunner
from gridflow.runtime.execute import mask_inputs
from gridflow.runtime.masking import Masker
from tests.support.servers import free_port
from tests.support.socketio_server import SECRET_TOKEN, LocalSocketIOServer

Server = LocalSocketIOServer


def client_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def run(**args: Any) -> dict[str, Any]:
    """Run the runner once with ``args``; return its JSON output."""
    inputs = SocketIOInputs.model_validate(args)
    out = asyncio.run(SocketIORunner().run(inputs, RunContext(step_id="socketio.t")))
    return out.model_dump(mode="json")


def failure(**args: Any) -> RetryableError | ExpectedError:
    with pytest.raises((RetryableError, ExpectedError)) as info:
        run(**args)
    assert isinstance(info.value, RetryableError | ExpectedError)
    return info.value


def test_registered() -> None:
    assert registry.get_runner("socketio") is SocketIORunner


# -- exchanges that succeed ----------------------------------------------------

# name -> (arguments given the server URL, check of the output)
SUCCESSES: dict[str, tuple[Callable[[str], dict[str, Any]], dict[str, Any]]] = {
    "echo": (
        lambda url: {"url": url, "emit_event": "echo", "emit_data": {"text": "hi", "n": [1, 2]},
                     "on_event": "echo_reply"},
        {"response_data": {"namespace": "/", "data": {"text": "hi", "n": [1, 2]}}, "events": 1},
    ),
    "string-data": (
        lambda url: {"url": url, "emit_event": "echo", "emit_data": "plain",
                     "on_event": "echo_reply"},
        {"response_data": {"namespace": "/", "data": "plain"}, "events": 1},
    ),
    "no-data": (
        lambda url: {"url": url, "emit_event": "echo", "on_event": "echo_reply"},
        {"response_data": {"namespace": "/", "data": None}, "events": 1},
    ),
    "delayed-reply": (
        lambda url: {"url": url, "emit_event": "delayed", "emit_data": {"ms": 150, "data": [7]},
                     "on_event": "delayed_reply", "timeout": "5s"},
        {"response_data": [7], "events": 1},
    ),
    "two-arguments": (
        lambda url: {"url": url, "emit_event": "pair", "on_event": "pair_reply"},
        {"response_data": [1, 2], "events": 1},
    ),
    "binary-as-base64": (
        lambda url: {"url": url, "emit_event": "binary", "on_event": "binary_reply"},
        {"response_data": "AAFhYmM=", "events": 1},
    ),
    "namespace": (
        lambda url: {"url": url, "namespace": "/chat", "emit_event": "echo", "emit_data": 5,
                     "on_event": "echo_reply"},
        {"response_data": {"namespace": "/chat", "data": 5}, "events": 1},
    ),
    "auth-accepted": (
        lambda url: {"url": url, "namespace": "/secure", "auth": {"token": SECRET_TOKEN},
                     "emit_event": "echo", "emit_data": "in", "on_event": "echo_reply"},
        {"response_data": {"namespace": "/secure", "data": "in"}, "events": 1},
    ),
    "ws-scheme": (
        lambda url: {"url": url.replace("http://", "ws://"), "emit_event": "echo",
                     "on_event": "echo_reply"},
        {"response_data": {"namespace": "/", "data": None}, "events": 1},
    ),
    "socket-io-path": (
        lambda url: {"url": f"{url}/socket.io/", "emit_event": "echo", "on_event": "echo_reply"},
        {"response_data": {"namespace": "/", "data": None}, "events": 1},
    ),
    "emit-only": (
        lambda url: {"url": url, "emit_event": "ignore", "emit_data": 1},
        {"response_data": None, "received": [], "events": 0},
    ),
    "connect-only": (
        lambda url: {"url": url},
        {"response_data": None, "received": [], "events": 0},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", SUCCESSES)
def test_successful_exchanges(socketio_server: Server, name: str) -> None:
    make_args, expected = SUCCESSES[name]
    out = run(**make_args(socketio_server.url))
    assert {k: out[k] for k in expected} == expected
    assert set(out) == {"response_data", "received", "events", "connect_ms", "duration_ms"}
    assert 0 < out["connect_ms"] <= out["duration_ms"] < 5000
    for item in out["received"]:
        assert out["connect_ms"] <= item["after_ms"] <= out["duration_ms"]


def test_simple_form_reports_the_event_received(socketio_server: Server) -> None:
    out = run(url=socketio_server.url, emit_event="echo", emit_data=1, on_event="echo_reply")
    [item] = out["received"]
    assert item["event"] == "echo_reply"
    assert item["data"] == out["response_data"] == {"namespace": "/", "data": 1}


def test_delay_shows_in_timings(socketio_server: Server) -> None:
    out = run(url=socketio_server.url, emit_event="delayed", emit_data={"ms": 300, "data": 1},
              on_event="delayed_reply")  # fmt: skip
    assert out["received"][0]["after_ms"] - out["connect_ms"] >= 290
    assert out["duration_ms"] >= 300


def test_headers_and_auth_reach_the_server(socketio_server: Server) -> None:
    cid = client_id()
    out = run(
        url=socketio_server.url,
        namespace="/secure",
        auth={"token": SECRET_TOKEN, "user": "ada"},
        headers={"X-Client-Id": cid, "X-Trace": "abc", "X-Count": 3},
        emit_event="headers",
        on_event="headers_reply",
    )
    assert out["response_data"]["x-trace"] == "abc"
    assert out["response_data"]["x-count"] == "3"
    seen = socketio_server.session(cid, "/secure")
    assert seen is not None
    assert seen.auth == {"token": SECRET_TOKEN, "user": "ada"}


@pytest.fixture(scope="module")
def tls_server() -> Iterator[LocalSocketIOServer]:
    with LocalSocketIOServer(tls=True) as server:
        yield server


@pytest.mark.parametrize("scheme", ["https", "wss"])
def test_self_signed_certificate(tls_server: Server, scheme: str) -> None:
    url = tls_server.url.replace("https", scheme)
    exc = failure(url=url, emit_event="echo", on_event="echo_reply", timeout="5s")
    assert exc.details["kind"] == "connect"
    assert "certificate verify failed" in exc.message
    assert exc.message.endswith(
        "; for a test server with a self-signed certificate set insecure_skip_verify = true"
    )
    out = run(url=url, insecure_skip_verify=True, emit_event="echo", emit_data=1,
              on_event="echo_reply", timeout="5s")  # fmt: skip
    assert out["response_data"] == {"namespace": "/", "data": 1}


# -- the sequence form ---------------------------------------------------------


def test_sequence_runs_in_order_and_keeps_early_events(socketio_server: Server) -> None:
    out = run(
        url=socketio_server.url,
        namespace="/chat",
        sequence=[
            {"emit": "echo", "data": {"step": 1}},
            {"expect": "echo_reply", "timeout": "2s"},
            {"emit": "burst", "data": {"n": 3}},
            {"expect": "done"},
            # The ticks arrived before "done" was taken: they are still there,
            # and each expect takes the earliest one left.
            {"expect": "tick"},
            {"expect": "tick"},
            {"emit": "pair"},
            {"expect": "pair_reply", "timeout": "2s"},
        ],
    )
    assert [(r["event"], r["data"]) for r in out["received"]] == [
        ("echo_reply", {"namespace": "/chat", "data": {"step": 1}}),
        ("done", {"n": 3}),
        ("tick", {"i": 0}),
        ("tick", {"i": 1}),
        ("pair_reply", [1, 2]),
    ]
    assert out["response_data"] == [1, 2]
    assert out["events"] == 6  # echo_reply, 3 ticks (one never taken), done, pair_reply
    times = [r["after_ms"] for r in out["received"]]
    assert times[2] <= times[1]  # tick 0 arrived before done
    assert out["connect_ms"] <= min(times) <= max(times) <= out["duration_ms"]


@pytest.mark.parametrize("repeat", range(5))
def test_emits_reach_the_server_before_disconnecting(socketio_server: Server, repeat: int) -> None:
    # Nothing is waited for after the last emit: the runner must still let
    # the queued packets out before it closes the connection.
    cid = client_id()
    out = run(url=socketio_server.url, headers={"X-Client-Id": cid},
              sequence=[{"emit": "note", "data": "a"}, {"emit": "note", "data": [1]}])  # fmt: skip
    assert out["received"] == []
    assert out["response_data"] is None
    assert socketio_server.wait_disconnected(cid)
    seen = socketio_server.session(cid)
    assert seen is not None
    assert seen.notes == ["a", [1]]


# -- failures --------------------------------------------------------------------


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class Failure:
    args: Callable[[str], dict[str, Any]]
    kind: str
    message: str  # a fragment of the message; {url} is the server URL
    min_s: float = 0.0  # a timeout must really have been waited for
    max_s: float = 3.0  # and every failure must come at least this fast


FAILURES: dict[str, Failure] = {
    "reply-never-comes": Failure(
        lambda url: {"url": url, "emit_event": "ignore", "on_event": "never", "timeout": "0.3s"},
        "timeout",
        'Socket.IO {url} namespace /: no "never" event within 0.3s (timeout, which bounds the '
        'whole exchange); check that the server sends that event name, or raise the timeout if '
        "it is just slow",
        min_s=0.3,
    ),
    "expect-timeout": Failure(
        lambda url: {"url": url, "sequence": [{"emit": "ignore"},
                                              {"expect": "never", "timeout": "0.2s"}]},
        "timeout",
        'no "never" event within 0.2s (its expect timeout)',
        min_s=0.2,
    ),
    "reply-too-late": Failure(
        lambda url: {"url": url, "emit_event": "delayed", "emit_data": {"ms": 2000},
                     "on_event": "delayed_reply", "timeout": "0.3s"},
        "timeout",
        'no "delayed_reply" event within 0.3s',
        min_s=0.3,
    ),
    "server-drops-client": Failure(
        lambda url: {"url": url, "emit_event": "drop_me", "on_event": "never", "timeout": "5s"},
        "disconnect",
        'Socket.IO {url} namespace /: the connection closed (server disconnect) while waiting '
        'for "never"',
        max_s=2.0,
    ),
    "auth-refused": Failure(
        lambda url: {"url": url, "namespace": "/secure", "auth": {"token": "wrong"},
                     "on_event": "x"},
        "connect",
        "Socket.IO {url} namespace /secure: could not connect: invalid token; the server "
        "refused namespace /secure: check auth (and that the namespace exists)",
    ),
    "auth-missing": Failure(
        lambda url: {"url": url, "namespace": "/secure", "on_event": "x"},
        "connect",
        "could not connect: invalid token",
    ),
    "unknown-namespace": Failure(
        lambda url: {"url": url, "namespace": "/nope", "on_event": "x"},
        "connect",
        "namespace /nope: could not connect:",
    ),
    "wrong-path": Failure(
        lambda url: {"url": f"{url}/chat", "on_event": "x"},
        "connect",
        'could not connect: Unexpected status code 404 in server response; the URL path "/chat" '
        'is read as where the server is mounted ("/chat/socket.io"); if it names a namespace, '
        'write namespace = "/chat"',
    ),
    "connection-refused": Failure(
        lambda url: {"url": f"http://127.0.0.1:{free_port()}", "on_event": "x"},
        "connect",
        "could not connect: Cannot connect to host 127.0.0.1:",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", FAILURES)
def test_failures(socketio_server: Server, name: str) -> None:
    case = FAILURES[name]
    args = case.args(socketio_server.url)
    cid = client_id()
    args["headers"] = {"X-Client-Id": cid}
    started = time.monotonic()
    exc = failure(**args)
    elapsed = time.monotonic() - started
    assert isinstance(exc, RetryableError)
    assert exc.details["kind"] == case.kind
    assert case.message.format(url=socketio_server.url) in exc.message
    assert case.min_s <= elapsed < case.max_s
    seen = socketio_server.session(cid)
    if seen is not None:  # it got as far as a namespace
        assert socketio_server.wait_disconnected(cid), "the client must always disconnect"
        expected = "server disconnect" if case.kind == "disconnect" else "client disconnect"
        assert seen.disconnect_reason == expected


def test_disconnect_details_name_what_was_pending(socketio_server: Server) -> None:
    exc = failure(url=socketio_server.url, sequence=[{"emit": "drop_me"}, {"expect": "x"}])
    assert exc.details == {
        "url": socketio_server.url,
        "namespace": "/",
        "kind": "disconnect",
        "pending": 'waiting for "x"',
        "reason": "server disconnect",
    }


def test_timeout_details_name_the_event(socketio_server: Server) -> None:
    exc = failure(url=socketio_server.url, on_event="never", timeout="0.2s")
    assert exc.details == {
        "url": socketio_server.url, "namespace": "/", "kind": "timeout", "event": "never"
    }  # fmt: skip


def test_handshake_that_never_answers_times_out() -> None:
    with silent_port() as port:
        started = time.monotonic()
        exc = failure(url=f"http://127.0.0.1:{port}", on_event="x", timeout="0.3s")
        elapsed = time.monotonic() - started
    assert exc.details["kind"] == "connect"
    assert 0.25 <= elapsed < 3.0
    assert "could not connect" in exc.message or "not connected within 0.3s" in exc.message


def test_core_rejects_a_bad_url_without_the_model() -> None:
    # A burst engine calls exchange() with Settings it built itself.
    with pytest.raises(ExpectedError) as info:
        asyncio.run(exchange(Settings(url="ftp://127.0.0.1"), [Expect("x")]))
    assert info.value.details == {"url": "ftp://127.0.0.1", "kind": "url"}
    assert 'has scheme "ftp"' in info.value.message


# -- the client always lets go -----------------------------------------------------


def test_disconnects_after_success(socketio_server: Server) -> None:
    cid = client_id()
    run(url=socketio_server.url, headers={"X-Client-Id": cid}, emit_event="echo",
        on_event="echo_reply")  # fmt: skip
    assert socketio_server.wait_disconnected(cid)
    seen = socketio_server.session(cid)
    assert seen is not None
    assert seen.disconnect_reason == "client disconnect"  # it left, not just dropped the socket


def test_cancellation_disconnects_and_propagates(socketio_server: Server) -> None:
    cid = client_id()
    settings = Settings(url=socketio_server.url, headers={"X-Client-Id": cid}, timeout_s=30)

    async def cancel_while_waiting() -> float:
        task = asyncio.create_task(exchange(settings, [Emit("note", 1), Expect("never")]))
        for _ in range(200):  # until the client waits for "never" (at most 2 s)
            seen = socketio_server.session(cid)
            if seen is not None and seen.notes == [1]:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the client did not reach its expect")
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    took = asyncio.run(cancel_while_waiting())
    assert took < 3.0
    assert socketio_server.wait_disconnected(cid)
    seen = socketio_server.session(cid)
    assert seen is not None
    assert seen.disconnect_reason == "client disconnect"


def test_cancellation_during_the_handshake() -> None:
    async def cancel_while_connecting(port: int) -> float:
        settings = Settings(url=f"http://127.0.0.1:{port}", timeout_s=30)
        task = asyncio.create_task(exchange(settings, [Expect("x")]))
        await asyncio.sleep(0.2)  # the handshake request is waiting for an answer
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    with silent_port() as port:
        assert asyncio.run(cancel_while_connecting(port)) < 3.0


@pytest.mark.parametrize("plan", ["success", "server-drops", "timeout"])
def test_no_background_tasks_left_behind(socketio_server: Server, plan: str) -> None:
    plans: dict[str, list[Action]] = {
        "success": [Emit("echo", 1), Expect("echo_reply")],
        "server-drops": [Emit("drop_me"), Expect("never")],
        "timeout": [Expect("never", timeout_s=0.1)],
    }

    async def go() -> list[asyncio.Task[Any]]:
        with contextlib.suppress(RetryableError):
            await exchange(Settings(url=socketio_server.url), plans[plan])
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(go()) == []


def test_custom_client_factory_is_used(socketio_server: Server) -> None:
    # The seam a burst engine uses (e.g. to share one aiohttp session).
    import socketio

    made: list[Any] = []

    def factory(settings: Settings) -> Any:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        made.append(client)
        return client

    result = asyncio.run(
        exchange(Settings(url=socketio_server.url), [Emit("echo", 1), Expect("echo_reply")],
                 client_factory=factory)
    )  # fmt: skip
    assert len(made) == 1
    assert result.response_data == {"namespace": "/", "data": 1}
    assert not made[0].connected


# -- inputs ------------------------------------------------------------------------

U = "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "ftp://h"}, 'Value error, "ftp://h" has scheme "ftp"; a Socket.IO URL starts '
                             "with http://, https://, ws:// or wss://"),
        ({"url": "localhost:5000"}, 'Value error, "localhost:5000" has no scheme; a Socket.IO URL '
                                    'starts with http://, https://, ws:// or wss://, e.g. '
                                    '"http://localhost:5000"'),
        ({"url": "http:///x"}, 'Value error, "http:///x" has no host; write e.g. '
                               '"http://127.0.0.1:5000"'),
        ({"url": "http://h:99999"}, 'Value error, "http://h:99999" is not a valid URL: Port out '
                                    "of range 0-65535"),
        ({"url": U, "namespace": "chat"}, 'Value error, namespace "chat" must start with "/", '
                                          'e.g. "/chat"'),
        ({"url": U, "emit_event": "a", "on_event": "b", "sequence": [{"expect": "c"}]},
         "Value error, sequence and emit_event and on_event are both set; write the exchange one "
         "way: either emit_event / emit_data / on_event, or a sequence of "
         '{ emit = "<event>", data = ... } and { expect = "<event>", timeout = "2s" } items'),
        ({"url": U, "emit_data": {"a": 1}},
         "Value error, emit_data is set without emit_event; name the event that carries it: "
         'emit_event = "<event>"'),
        ({"url": U, "sequence": []}, 'Value error, sequence is empty; list what to do, e.g. '
                                     '[{ emit = "ping" }, { expect = "pong" }], or remove it to '
                                     "only connect"),
        ({"url": U, "on_event": "disconnect"}, 'Value error, "disconnect" is reserved by '
                                               "Socket.IO; connecting and disconnecting happen on "
                                               "their own, so name an application event"),
        ({"url": U, "emit_event": ""}, "String should have at least 1 character"),
        ({"url": U, "sequence": [{"emit": "a", "expect": "b"}]},
         'Value error, an item has both emit = "a" and expect = "b"; split it into '
         '{ emit = "a" } followed by { expect = "b" }'),
        ({"url": U, "sequence": [{"data": 1}]},
         'Value error, each item needs emit = "<event>" (with optional data) or '
         'expect = "<event>" (with optional timeout)'),
        ({"url": U, "sequence": [{"emit": "a", "timeout": "1s"}]},
         'Value error, timeout belongs to expect items; emit = "a" sends without waiting: '
         "remove its timeout"),
        ({"url": U, "sequence": [{"expect": "a", "data": None}]},
         'Value error, data belongs to emit items; expect = "a" receives data: remove it, and '
         "read the event's data from the output"),
        ({"url": U, "timeout": "2s", "sequence": [{"expect": "a", "timeout": "5s"}]},
         'Value error, expect "a" waits up to 5s, longer than timeout (2s), which bounds the '
         "whole exchange; raise timeout or lower the item's"),
        ({"url": U, "sequence": [{"expct": "a"}]}, "Extra inputs are not permitted"),
        ({"url": U, "timeout": "0s"}, "Input should be greater than 0"),
        ({"url": U, "timeout": "soon"}, "soon"),
        ({"url": U, "auth": "token"}, "Input should be a valid dictionary"),
        ({"url": U, "reconnect": True}, "Extra inputs are not permitted"),
    ],
    ids=["scheme", "no-scheme", "no-host", "bad-port", "namespace-without-slash", "both-forms",
         "data-without-event", "empty-sequence", "reserved-event", "empty-event", "item-both",
         "item-neither", "timeout-on-emit", "data-on-expect", "item-timeout-too-long",
         "item-unknown-key", "zero-timeout", "bad-duration", "auth-not-a-map", "unknown-argument"],
)  # fmt: skip
def test_bad_inputs(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SocketIOInputs.model_validate(args)
    messages = [e["msg"] for e in info.value.errors()]
    assert len(messages) == 1, messages
    assert message in messages[0]


def test_defaults() -> None:
    inputs = SocketIOInputs.model_validate({"url": U})
    assert inputs.namespace == "/"
    assert inputs.timeout == 10.0
    assert inputs.insecure_skip_verify is False
    assert inputs.settings().verify_tls is True
    assert inputs.plan() == []


def test_plans() -> None:
    simple = SocketIOInputs.model_validate(
        {"url": U, "emit_event": "a", "emit_data": [1], "on_event": "b"}
    )
    assert simple.plan() == [Emit("a", [1]), Expect("b")]
    seq = SocketIOInputs.model_validate(
        {"url": U, "sequence": [{"emit": "a"}, {"expect": "b", "timeout": "500ms"}]}
    )
    assert seq.plan() == [Emit("a", None), Expect("b", 0.5)]


# -- secrets -------------------------------------------------------------------------


def test_secret_inputs_are_registered_for_masking() -> None:
    args = {
        "url": U,
        "auth": {"token": "tok-12345", "user": "ada-lovelace"},
        "headers": {"Authorization": "Bearer abcdef", "X-Api-Key": "k12345", "Accept": "x/y",
                    "Cookie": "sid=12345"},
    }  # fmt: skip
    assert SocketIORunner.sensitive_inputs == frozenset({"auth"})
    assert sorted(SocketIORunner.secret_input_values(args)) == [
        "Bearer abcdef", "k12345", "sid=12345"
    ]  # fmt: skip
    assert SocketIORunner.secret_input_values({"url": U}) == []
    masker = Masker()
    mask_inputs(masker, SocketIORunner, args)
    text = "sent tok-12345 as ada-lovelace with Bearer abcdef, k12345, sid=12345 and x/y"
    assert masker.redact_text(text) == "sent *** as *** with ***, ***, *** and x/y"


# -- the Airflow connection's arguments fit ---------------------------------------------


@dataclasses.dataclass
class Conn:
    """The fields of an Airflow Connection that socketio_arguments reads."""

    conn_id: str = "sio"
    host: str | None = None
    schema: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def test_connection_arguments_drive_the_runner(socketio_server: Server) -> None:
    cid = client_id()
    conn = Conn(
        host=socketio_server.url,
        password=SECRET_TOKEN,  # a password alone becomes auth = {token}
        extra={"namespace": "/secure", "headers": {"X-Client-Id": cid}, "timeout": "5s",
               "insecure_skip_verify": False},
    )  # fmt: skip
    args = socketio_arguments(conn)
    out = run(**args, emit_event="echo", emit_data="via connection", on_event="echo_reply")
    assert out["response_data"] == {"namespace": "/secure", "data": "via connection"}
    seen = socketio_server.session(cid, "/secure")
    assert seen is not None
    assert seen.auth == {"token": SECRET_TOKEN}
