"""gridflow's hooks against Airflow's own connection handling (no mocks).

Connections are defined the way users define them without a database:
``AIRFLOW_CONN_<ID>`` environment variables holding JSON, resolved by
Airflow's Task SDK. In-process tests check the mapping onto runner arguments
and ``test_connection`` against real local servers; one test runs a real task
on the session's Airflow and reads its log to prove the secrets are masked.
"""

from __future__ import annotations

import base64
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk._shared.secrets_masker import redact
from tests.airflow import connections as conns
from tests.support.http_server import LocalHTTPServer

from gridflow.hooks.http import GridHttpHook
from gridflow.hooks.socketio import SocketIOHook, handshake_url

pytestmark = pytest.mark.airflow


@pytest.fixture
def define(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """``define(**fields) -> conn_id``: an env connection unique to this test.

    Unique ids, because the Task SDK may cache what it resolved.
    """
    counter = iter(range(1000))

    def _define(**fields: Any) -> str:
        name = "".join(c if c.isalnum() else "_" for c in request.node.name).lower()
        conn_id = f"t_{name}_{next(counter)}"
        monkeypatch.setenv(conns.env_name(conn_id), conns.connection_json(**fields))
        return conn_id

    return _define


# --- http: the standard connection type, read like the HTTP provider does ----

HTTP_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "basic-auth-options-and-headers",
        {
            "conn_type": "http",
            "host": "api.example.test",
            "schema": "https",
            "port": 8443,
            "login": "bob",
            "password": "s3cret-pass",
            "extra": {
                "X-Team": "perf",
                "X-Retries": 3,
                "timeout": "5s",
                "verify": "false",
                "allow_redirects": False,
                "pool_size": 20,
                "proxies": {"https": "http://proxy.example.test"},  # HTTP-provider only
            },
        },
        {
            "base_url": "https://api.example.test:8443",
            "headers": {"X-Team": "perf", "X-Retries": "3"},
            "auth": {"type": "basic", "username": "bob", "password": "s3cret-pass"},
            "timeout": "5s",
            "verify_tls": False,
            "follow_redirects": False,
            "pool_size": 20,
        },
    ),
    (
        "url-in-host-keeps-path-gets-port",
        {"conn_type": "http", "host": "https://api.example.test/v1/", "port": 8443},
        {"base_url": "https://api.example.test:8443/v1", "headers": {}, "auth": None},
    ),
    (
        "port-in-url-wins",
        {"conn_type": "http", "host": "http://127.0.0.1:8080/api", "port": 9999},
        {"base_url": "http://127.0.0.1:8080/api", "headers": {}, "auth": None},
    ),
    (
        "password-alone-is-bearer",
        {"conn_type": "http", "host": "api.example.test", "password": "tok-abcdef"},
        {
            "base_url": "http://api.example.test",
            "headers": {},
            "auth": {"type": "bearer", "token": "tok-abcdef"},
        },
    ),
    (
        "headers-object-merged",
        {
            "conn_type": "http",
            "host": "api.example.test",
            "extra": {"headers": {"Accept": "application/json"}, "X-A": "1", "verify_ssl": True},
        },
        {
            "base_url": "http://api.example.test",
            "headers": {"Accept": "application/json", "X-A": "1"},
            "auth": None,
            "verify_tls": True,
        },
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in HTTP_CASES], ids=[c[0] for c in HTTP_CASES]
)
def test_http_get_conn(define: Any, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert GridHttpHook(define(**fields)).get_conn() == expected


HTTP_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("empty-host", {"conn_type": "http"}, "the Host field is empty"),
    (
        "object-is-not-a-header",
        {"conn_type": "http", "host": "h.test", "extra": {"retry": {"n": 3}}},
        "extra key 'retry' is neither a known option nor a header",
    ),
    (
        "bad-timeout",
        {"conn_type": "http", "host": "h.test", "extra": {"timeout": "soon"}},
        "timeout:",
    ),
    (
        "bad-verify",
        {"conn_type": "http", "host": "h.test", "extra": {"verify": "maybe"}},
        "extra 'verify' must be true or false, not 'maybe'",
    ),
]


@pytest.mark.parametrize(
    ("fields", "message"), [c[1:] for c in HTTP_ERRORS], ids=[c[0] for c in HTTP_ERRORS]
)
def test_http_bad_connection_names_it(define: Any, fields: dict[str, Any], message: str) -> None:
    conn_id = define(**fields)
    with pytest.raises(ValueError, match="connection") as info:
        GridHttpHook(conn_id).get_conn()
    assert f"connection {conn_id!r}: " in str(info.value)
    assert message in str(info.value)


def test_http_hook_follows_provider_conventions() -> None:
    assert GridHttpHook.conn_name_attr == "http_conn_id"
    assert GridHttpHook.default_conn_name == "http_default"
    assert GridHttpHook.conn_type == "http"
    assert GridHttpHook().http_conn_id == "http_default"


def test_http_secrets_are_registered_with_the_masker(define: Any) -> None:
    conn_id = define(
        conn_type="http",
        host="api.example.test",
        login="alice",
        password="pw-0123456789",
        extra={"X-Api-Key": "key-0123456789", "Authorization": "Token tk-0123456789"},
    )
    GridHttpHook(conn_id).get_conn()
    basic = base64.b64encode(b"alice:pw-0123456789").decode()
    line = f"pw-0123456789 key-0123456789 tk-0123456789 Basic {basic} api.example.test"
    assert redact(line) == "*** *** *** Basic *** api.example.test"
    assert "tk-0123456789" not in redact("Authorization: Token tk-0123456789")


# --- http: test_connection against a real server ------------------------------


def test_http_test_connection_basic_auth(define: Any, http_server: LocalHTTPServer) -> None:
    good = define(
        conn_type="http",
        host=f"{http_server.url}/basic-auth/bob/pw-1234567",
        login="bob",
        password="pw-1234567",
    )
    bad = define(
        conn_type="http",
        host=f"{http_server.url}/basic-auth/bob/pw-1234567",
        login="bob",
        password="wrong-pass",
    )
    assert GridHttpHook(good).test_connection() == (
        True,
        f"GET {http_server.url}/basic-auth/bob/pw-1234567 answered 200",
    )
    ok, message = GridHttpHook(bad).test_connection()
    assert (ok, message.endswith("answered 401")) == (False, True)


def test_http_test_connection_bearer(define: Any, http_server: LocalHTTPServer) -> None:
    conn_id = define(conn_type="http", host=f"{http_server.url}/bearer", password="tok-1234567")
    assert GridHttpHook(conn_id).test_connection()[0] is True


def test_http_test_connection_unreachable(define: Any) -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test machine.
    ok, message = GridHttpHook(define(conn_type="http", host="127.0.0.1", port=9)).test_connection()
    assert ok is False
    assert message


# --- socketio: gridflow's own connection type --------------------------------

SOCKETIO_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "defaults",
        {"conn_type": "socketio", "host": "push.example.test"},
        {
            "url": "http://push.example.test",
            "namespace": "/",
            "headers": {},
            "auth": None,
            "insecure_skip_verify": False,
        },
    ),
    (
        "token-namespace-headers-timeout",
        {
            "conn_type": "socketio",
            "host": "push.example.test",
            "schema": "https",
            "port": 8443,
            "password": "tok-abcdef",
            "extra": {
                "namespace": "/chat",
                "headers": {"X-Team": "perf"},
                "insecure_skip_verify": "true",
                "timeout": 3,
            },
        },
        {
            "url": "https://push.example.test:8443",
            "namespace": "/chat",
            "headers": {"X-Team": "perf"},
            "auth": {"token": "tok-abcdef"},
            "insecure_skip_verify": True,
            "timeout": 3,
        },
    ),
    (
        "login-password-merged-over-extra-auth",
        {
            "conn_type": "socketio",
            "host": "wss://push.example.test/socket.io",
            "login": "bob",
            "password": "pw-abcdef",
            "extra": {"auth": {"room": "r1", "username": "ignored"}},
        },
        {
            "url": "wss://push.example.test/socket.io",
            "namespace": "/",
            "headers": {},
            "auth": {"room": "r1", "username": "bob", "password": "pw-abcdef"},
            "insecure_skip_verify": False,
        },
    ),
    (
        "json-text-in-extra",
        {
            "conn_type": "socketio",
            "host": "push.example.test",
            "extra": {"headers": '{"X-A": "b"}', "auth": '{"token": "tok-fromjson"}'},
        },
        {
            "url": "http://push.example.test",
            "namespace": "/",
            "headers": {"X-A": "b"},
            "auth": {"token": "tok-fromjson"},
            "insecure_skip_verify": False,
        },
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in SOCKETIO_CASES], ids=[c[0] for c in SOCKETIO_CASES]
)
def test_socketio_get_conn(define: Any, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert SocketIOHook(define(**fields)).get_conn() == expected


SOCKETIO_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    (
        "namespace-without-slash",
        {"conn_type": "socketio", "host": "h.test", "extra": {"namespace": "chat"}},
        "namespace 'chat' must start with '/'",
    ),
    (
        "auth-not-an-object",
        {"conn_type": "socketio", "host": "h.test", "extra": {"auth": [1, 2]}},
        "extra 'auth' must be a JSON object, not list",
    ),
    (
        "headers-not-json",
        {"conn_type": "socketio", "host": "h.test", "extra": {"headers": "{oops"}},
        "extra 'headers' is not valid JSON",
    ),
]


@pytest.mark.parametrize(
    ("fields", "message"), [c[1:] for c in SOCKETIO_ERRORS], ids=[c[0] for c in SOCKETIO_ERRORS]
)
def test_socketio_bad_connection_names_it(
    define: Any, fields: dict[str, Any], message: str
) -> None:
    conn_id = define(**fields)
    with pytest.raises(ValueError, match=f"connection '{conn_id}': ") as info:
        SocketIOHook(conn_id).get_conn()
    assert message in str(info.value)


def test_socketio_hook_follows_provider_conventions() -> None:
    assert SocketIOHook.conn_name_attr == "socketio_conn_id"
    assert SocketIOHook.default_conn_name == "socketio_default"
    assert SocketIOHook.conn_type == "socketio"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h.test", "http://h.test/socket.io/"),
        ("wss://h.test:8443/socket.io", "https://h.test:8443/socket.io/"),
        ("ws://h.test/app/", "http://h.test/app/socket.io/"),
    ],
)
def test_socketio_handshake_url(url: str, expected: str) -> None:
    assert handshake_url(url) == expected


def test_socketio_test_connection_rejects_a_plain_http_server(
    define: Any, http_server: LocalHTTPServer
) -> None:
    ok, message = SocketIOHook(define(conn_type="socketio", host=http_server.url)).test_connection()
    assert ok is False
    assert "answered 404 without an Engine.IO session" in message


@pytest.fixture
def socketio_server() -> Iterator[str]:
    """A real python-socketio server (aiohttp) on 127.0.0.1; yields its URL."""
    socketio = pytest.importorskip("socketio", reason="python-socketio is not installed")
    import asyncio

    from aiohttp import web

    loop = asyncio.new_event_loop()
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:

        async def close() -> None:
            await sio.shutdown()
            await runner.cleanup()
            # engine.io's ping and service tasks outlive the sessions; cancel
            # them so the loop closes without "Task was destroyed" noise.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_socketio_test_connection_opens_a_session(define: Any, socketio_server: str) -> None:
    conn_id = define(conn_type="socketio", host=socketio_server)
    assert SocketIOHook(conn_id).test_connection() == (
        True,
        f"{socketio_server}/socket.io/ opened an Engine.IO session",
    )


# --- a real task on the session's Airflow: secrets never reach the log -------

MASK_DAG_ID = "gridflow_hooks_mask"

MASK_DAG = textwrap.dedent(
    f'''
    """Written by tests/airflow/test_hooks.py: logs what gridflow's hooks return."""
    from __future__ import annotations

    import base64
    import json
    import logging

    from airflow.sdk import dag, task


    @dag(dag_id={MASK_DAG_ID!r}, schedule=None, catchup=False)
    def gridflow_hooks_mask():
        @task
        def show() -> str:
            from gridflow.hooks.http import GridHttpHook
            from gridflow.hooks.socketio import SocketIOHook

            http = GridHttpHook({conns.MASK_HTTP_CONN_ID!r}).get_conn()
            sio = SocketIOHook(socketio_conn_id={conns.MASK_SOCKETIO_CONN_ID!r}).get_conn()
            auth = http["auth"]
            basic = base64.b64encode(f"{{auth['username']}}:{{auth['password']}}".encode())
            log = logging.getLogger("gridflow.test")
            log.info("http arguments: %s", json.dumps(http))
            log.info("socketio arguments: %s", json.dumps(sio))
            log.info("basic header: Basic %s", basic.decode())
            print("printed password:", auth["password"])
            return "logged"

        show()


    gridflow_hooks_mask()
    '''
)


def test_secrets_are_masked_in_a_real_task_log(airflow: Any) -> None:
    (airflow.dags_folder / f"{MASK_DAG_ID}.py").write_text(MASK_DAG)
    run_id, state = airflow.client.run_dag(MASK_DAG_ID, timeout=180)
    assert state == "success", airflow.diagnostics()
    log = airflow.client.task_log(MASK_DAG_ID, run_id, "show")

    assert "http arguments:" in log
    assert "socketio arguments:" in log
    assert "***" in log
    basic = base64.b64encode(f"mask-user:{conns.MASK_TEST_PASSWORD}".encode()).decode()
    for secret in (conns.MASK_TEST_PASSWORD, conns.MASK_TEST_TOKEN, conns.MASK_TEST_API_KEY, basic):
        assert secret not in log
    # What is not secret stays readable, so the masking is not blanket.
    for readable in ("X-Team", "perf-team", "mask-user", "/chat", "http://127.0.0.1:9"):
        assert readable in log
