"""What the local servers of the tests and benchmarks share.

- :func:`free_port`: a loopback port nothing listens on right now.
- :class:`StartStop`: ``with server:`` starts it and stops it on the way out,
  for any class with ``start()`` (returning itself) and ``stop()``.
- :class:`LoopServer`: a server whose asyncio event loop runs in a daemon
  thread, so synchronous tests, ``asyncio.run`` in a test and engine worker
  threads all reach it over real sockets (the HTTP and Socket.IO test
  servers); HTTPS with a fresh self-signed certificate when ``tls=True``.

The benchmarks import this too (bench/_support.py puts the repository root on
``sys.path``), and what they import is part of what they measure: standard
library only, here and in :mod:`tests.support.tls`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from tests.support.tls import self_signed_context

_S = TypeVar("_S", bound="StartStop")
_L = TypeVar("_L", bound="LoopServer")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` (a 127.0.0.0/8 address) that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class StartStop:
    """``with server:`` is ``server.start()`` … ``server.stop()``, even on errors."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopServer(StartStop):
    """A server run by an asyncio event loop of its own, in a daemon thread.

    Subclasses say how to serve: :meth:`_serve` starts listening on
    ``host:port`` (port 0: a free one, which it stores in ``self.port``) and
    :meth:`_cleanup` lets go. :meth:`start` returns once ``_serve`` has
    finished, raising its failure in the caller's thread; :meth:`stop` runs
    ``_cleanup`` in the loop and closes it.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.cert_file: str | None = None  # with tls: the certificate clients should trust
        self._certdir: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._thread is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> None:
        raise NotImplementedError

    async def _cleanup(self) -> None:
        raise NotImplementedError

    def start(self: _L, timeout: float = 30) -> _L:
        if self._thread is not None:
            return self
        name = type(self).__name__
        ssl_context = self._ssl_context() if self.tls else None
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ssl_context))
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._cleanup())
            loop.close()

        self._loop = loop
        thread = threading.Thread(target=serve, name=name, daemon=True)
        thread.start()
        if not ready.wait(timeout=timeout):
            raise RuntimeError(f"{name} did not start within {timeout:g} s")
        if failure:
            raise RuntimeError(f"{name} failed to start: {failure[0]!r}") from failure[0]
        self._thread = thread
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None
        if self._certdir is not None:
            self._certdir.cleanup()
            self._certdir = None

    def _ssl_context(self) -> ssl.SSLContext:
        self._certdir = tempfile.TemporaryDirectory(prefix="gridflow-test-tls-")
        ctx, cert = self_signed_context(self.host, Path(self._certdir.name))
        self.cert_file = str(cert)
        return ctx
