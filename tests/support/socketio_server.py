"""A real Socket.IO server on 127.0.0.1 for tests: python-socketio on aiohttp.

Runs in its own event loop in a daemon thread (like
:mod:`tests.support.http_server`), so synchronous tests, ``asyncio.run`` in a
test and engine worker threads all reach it over real sockets. Clients connect
by long-polling and upgrade to WebSocket, exactly as against a production
server.

Usage::

    with LocalSocketIOServer() as server:   # or the ``socketio_server`` fixture
        server.url                          # http://127.0.0.1:PORT (no trailing slash)
        server.session("my-client-id")      # what the server saw of that client

Namespaces: ``/`` and ``/chat`` accept everyone; ``/secure`` accepts only
``auth = {"token": SECRET_TOKEN}`` and refuses others with the message
``"invalid token"``. Every namespace handles the same events:

=========================  ===================================================
client emits               server does
=========================  ===================================================
``echo`` data              emits ``echo_reply`` ``{"namespace": ns, "data": data}``
``delayed`` {ms, data}     after ``ms`` milliseconds (max 30 000) emits
                           ``delayed_reply`` ``data``
``ignore`` anything        nothing, ever
``drop_me`` anything       disconnects the client from the namespace
``burst`` {n}              emits ``tick`` ``{"i": i}`` for i in 0..n-1, then
                           ``done`` ``{"n": n}`` (n at most 1000)
``pair`` anything          emits ``pair_reply`` with two arguments, 1 and 2
``headers`` anything       emits ``headers_reply`` with the handshake headers
                           (lower-case names) the server received
``note`` data              nothing; appends data to the client's ``notes``
``binary`` anything        emits ``binary_reply`` with the bytes ``b"\\x00\\x01abc"``
=========================  ===================================================

A client that sends the header ``X-Client-Id`` is recorded under that id
(:meth:`LocalSocketIOServer.session`): its namespace, auth payload, headers,
the ``note`` events it sent and whether it has disconnected, so a test can
check what arrived and that the client let go.

``LocalSocketIOServer(tls=True)`` serves HTTPS/WSS with a fresh self-signed
certificate, for tests of certificate verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import threading
import time
from typing import Any

import socketio
from aiohttp import web

from tests.support.servers import LoopServer

SECRET_TOKEN = "s3cret-t0ken-for-tests"
NAMESPACES = ("/", "/chat", "/secure")
MAX_DELAY_MS = 30_000
MAX_BURST = 1000


@dataclasses.dataclass
class ClientSession:
    """One namespace connection as the server saw it."""

    client_id: str
    namespace: str
    auth: Any
    headers: dict[str, str]  # lower-case names
    notes: list[Any] = dataclasses.field(default_factory=list)
    disconnected: bool = False
    disconnect_reason: str = ""


class LocalSocketIOServer(LoopServer):
    """The test server; see the module docstring for what it does."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, tls: bool = False) -> None:
        super().__init__(host=host, port=port, tls=tls)
        self._lock = threading.Lock()
        self._sessions: dict[str, ClientSession] = {}  # "<namespace> <sid>" -> session
        self._runner: web.AppRunner | None = None
        self._sio: socketio.AsyncServer | None = None

    # -- lifecycle ----------------------------------------------------------

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> None:
        sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        for namespace in NAMESPACES:
            self._register(sio, namespace)
        app = web.Application()
        sio.attach(app)
        runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        self._sio = sio

    async def _cleanup(self) -> None:
        if self._sio is not None:
            await self._sio.shutdown()
            self._sio = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # Engine.IO keeps ping and service tasks per server and per client;
        # end them here so the loop closes without "Task was destroyed".
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- what tests read ----------------------------------------------------

    def session(self, client_id: str, namespace: str | None = None) -> ClientSession | None:
        """The latest session of the client that sent ``X-Client-Id: client_id``."""
        with self._lock:
            found = [
                s
                for s in self._sessions.values()
                if s.client_id == client_id and namespace in (None, s.namespace)
            ]
        return found[-1] if found else None

    def wait_disconnected(self, client_id: str, timeout: float = 5.0) -> bool:
        """True once that client's session has ended (False after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.session(client_id)
            if found is not None and found.disconnected:
                return True
            time.sleep(0.02)
        return False

    # -- handlers -------------------------------------------------------------

    def _register(self, sio: socketio.AsyncServer, namespace: str) -> None:
        def key(sid: str) -> str:
            return f"{namespace} {sid}"

        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            headers = {
                k[5:].replace("_", "-").lower(): str(v)
                for k, v in environ.items()
                if k.startswith("HTTP_")
            }
            await sio.save_session(sid, {"headers": headers}, namespace=namespace)
            if namespace == "/secure" and (
                not isinstance(auth, dict) or auth.get("token") != SECRET_TOKEN
            ):
                raise socketio.exceptions.ConnectionRefusedError("invalid token")
            record = ClientSession(headers.get("x-client-id", ""), namespace, auth, headers)
            with self._lock:
                self._sessions[key(sid)] = record

        async def disconnect(sid: str, reason: str = "") -> None:
            with self._lock:
                record = self._sessions.get(key(sid))
                if record is not None:
                    record.disconnected = True
                    record.disconnect_reason = str(reason)

        async def echo(sid: str, data: Any = None) -> None:
            await sio.emit("echo_reply", {"namespace": namespace, "data": data}, to=sid,
                           namespace=namespace)  # fmt: skip

        async def delayed(sid: str, data: Any = None) -> None:
            spec = data if isinstance(data, dict) else {}
            await asyncio.sleep(min(float(spec.get("ms", 0)), MAX_DELAY_MS) / 1000)
            await sio.emit("delayed_reply", spec.get("data"), to=sid, namespace=namespace)

        async def ignore(sid: str, data: Any = None) -> None:
            return None

        async def drop_me(sid: str, data: Any = None) -> None:
            await sio.disconnect(sid, namespace=namespace)

        async def burst(sid: str, data: Any = None) -> None:
            n = min(int((data or {}).get("n", 0)), MAX_BURST)
            for i in range(n):
                await sio.emit("tick", {"i": i}, to=sid, namespace=namespace)
            await sio.emit("done", {"n": n}, to=sid, namespace=namespace)

        async def pair(sid: str, data: Any = None) -> None:
            await sio.emit("pair_reply", (1, 2), to=sid, namespace=namespace)

        async def note(sid: str, data: Any = None) -> None:
            with self._lock:
                record = self._sessions.get(key(sid))
                if record is not None:
                    record.notes.append(data)

        async def binary(sid: str, data: Any = None) -> None:
            await sio.emit("binary_reply", b"\x00\x01abc", to=sid, namespace=namespace)

        async def headers(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            await sio.emit("headers_reply", session["headers"], to=sid, namespace=namespace)

        handlers = {
            "connect": connect,
            "disconnect": disconnect,
            "echo": echo,
            "delayed": delayed,
            "ignore": ignore,
            "drop_me": drop_me,
            "burst": burst,
            "pair": pair,
            "headers": headers,
            "note": note,
            "binary": binary,
        }
        for event, handler in handlers.items():
            sio.on(event, handler, namespace=namespace)


def main() -> None:
    """Serve for trying grids by hand: ``python -m tests.support.socketio_server --port N``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    with LocalSocketIOServer(port=port) as server:
        print(f"serving Socket.IO on {server.url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
