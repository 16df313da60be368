"""One Socket.IO exchange: connect, emit and expect events in order, disconnect.

The engine-free core of the ``socketio`` runner, kept apart from the Runner
class so that a burst engine can run it once per virtual user::

    settings = Settings(url="http://127.0.0.1:5000", namespace="/chat")
    plan = (Emit("join", {"room": "a"}), Expect("joined", timeout_s=2.0))
    result = await exchange(settings, plan)          # raises RunnerError subclasses
    result.duration_ms, result.response_data

Every client it makes comes from ``client_factory(settings)`` (default
:func:`new_client`); a burst engine passes one that shares an aiohttp session
(``functools.partial(new_client, http_session=session)``). Nothing here keeps
state between calls, and a result holds only what it reports.

How events are matched: a catch-all handler is registered *before* connecting,
so an event the server sends on connect, or a reply that arrives before the
runner starts waiting for it, is not lost. An ``Expect`` takes the earliest
not-yet-taken event of its name; events of other names are counted
(``events``) but otherwise ignored. At most :data:`MAX_UNCLAIMED` events wait
to be taken; older ones are dropped first, so a chatty server cannot grow
memory without bound.

Time: ``settings.timeout_s`` bounds the whole exchange, connecting included
(as burstgridgo's ``timeout`` did). An ``Expect`` may set a shorter bound of
its own. All times in the result count from the start of connecting.

Failures are :class:`~gridflow.errors.RunnerError` subclasses with
``details["kind"]``, so callers (the runtime's retries, burst metrics) tell
them apart by type and kind, never by message:

- ``connect`` (RetryableError): the server cannot be reached, the Engine.IO
  handshake fails (wrong path, TLS, HTTP error) or the namespace refuses the
  connection (bad ``auth``); also when connecting takes longer than the timeout.
- ``timeout`` (RetryableError): an expected event did not arrive in time. Not
  :class:`~gridflow.errors.StepTimeout`: that one means the step's ``timeout``
  meta-argument ran out, enforced by the runtime around the whole step. Like
  ``http_request``'s read timeouts, a late event is a transient failure of the
  exchange, retried under the step's ``retry`` policy and counted as kind
  ``timeout`` in burst metrics.
- ``disconnect`` (RetryableError): the server closed the connection before the
  exchange was done; the message names what was pending.

python-socketio's exceptions are converted in one place, :func:`_converted`.
The client is always disconnected, also when the caller is cancelled
(``asyncio.CancelledError`` propagates after the cleanup).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import socketio

from gridflow.errors import ExpectedError, RetryableError, RunnerError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
SCHEMES = ("http", "https", "ws", "wss")
# Event names Socket.IO itself uses; a client can neither emit nor receive
# them as application events.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
MAX_UNCLAIMED = 1000
# Disconnecting politely waits for the server; past this it is cut off.
CLOSE_TIMEOUT_S = 2.0


# -- what to do -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where and how to connect. ``headers`` and ``auth`` may hold secrets."""

    url: str
    namespace: str = "/"
    auth: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    verify_tls: bool = True


@dataclasses.dataclass(frozen=True)
class Emit:
    """Send ``event`` with ``data`` (one argument; ``None`` sends none)."""

    event: str
    data: Any = None


@dataclasses.dataclass(frozen=True)
class Expect:
    """Wait for ``event``; ``timeout_s`` (if set) bounds this wait alone."""

    event: str
    timeout_s: float | None = None


Action = Emit | Expect


@dataclasses.dataclass(frozen=True)
class Received:
    """An expected event as it arrived."""

    event: str
    data: Any
    after_ms: float  # since the start of connecting

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.event, "data": self.data, "after_ms": self.after_ms}


@dataclasses.dataclass(frozen=True)
class ExchangeResult:
    response_data: Any  # data of the last expected event (None without one)
    received: list[Received]  # the expected events, in plan order
    events: int  # every event received on the namespace
    connect_ms: float
    duration_ms: float  # from the start of connecting to the end of the plan


ClientFactory = Callable[[Settings], Any]  # returns a socketio.AsyncClient


# -- URLs -------------------------------------------------------------------------


def engine_io_target(url: str) -> tuple[str, str]:
    """``(connect_url, socketio_path)`` for a URL as users write it.

    The URL's path says where the server is mounted: ``http://h/app`` →
    Engine.IO path ``app/socket.io``; a path ending in ``/socket.io`` is used
    as is (the same reading as :func:`gridflow.hooks.socketio.handshake_url`).
    The namespace is never taken from the URL. Raises ValueError saying how to
    fix a URL that cannot work.
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f'"{url}" is not a valid URL: {exc}') from exc
    scheme = parts.scheme.lower()
    if "://" not in url:  # "localhost:5000" parses as scheme "localhost"
        raise ValueError(
            f'"{url}" has no scheme; a Socket.IO URL starts with http://, https://, ws:// or '
            f'wss://, e.g. "http://{url.strip()}"'
        )
    if scheme not in SCHEMES:
        raise ValueError(
            f'"{url}" has scheme "{parts.scheme}"; a Socket.IO URL starts with http://, '
            f"https://, ws:// or wss://"
        )
    if not parts.hostname:
        raise ValueError(f'"{url}" has no host; write e.g. "{scheme}://127.0.0.1:5000"')
    path = parts.path.rstrip("/")
    if not path.endswith("/socket.io"):
        path += "/socket.io"
    return urlunsplit((scheme, parts.netloc, "", parts.query, "")), path.strip("/")


def check_event_name(name: str) -> str:
    """``name`` if an application may emit or expect it, else ValueError."""
    if name in RESERVED_EVENTS:
        raise ValueError(
            f'"{name}" is reserved by Socket.IO; connecting and disconnecting happen on '
            f"their own, so name an application event"
        )
    return name


# -- clients ----------------------------------------------------------------------


def new_client(settings: Settings, *, http_session: Any = None) -> Any:
    """A fresh ``socketio.AsyncClient`` for ``settings``.

    No reconnection (a lost connection is a failure to report, not to hide),
    no SIGINT handler (the engine owns signals), the handshake's HTTP requests
    bounded by the timeout. ``http_session``: an ``aiohttp.ClientSession`` to
    share between clients; it is then not closed on disconnect.
    """
    return socketio.AsyncClient(
        reconnection=False,
        handle_sigint=False,
        request_timeout=settings.timeout_s,
        ssl_verify=settings.verify_tls,
        http_session=http_session,
    )


# -- the exchange -----------------------------------------------------------------


class _Closed(Exception):
    """The server ended the connection (reason in args[0])."""


class _Late(Exception):
    """Nothing arrived before the deadline; args[0], if any, is the expect's
    own timeout when that (not the exchange's) was the bound."""


class _Inbox:
    """Events received on one namespace, taken by name in arrival order."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._unclaimed: collections.deque[Received] = collections.deque(maxlen=MAX_UNCLAIMED)
        self._arrived = asyncio.Event()
        self.count = 0
        self.closed: str | None = None  # the disconnect reason, once closed

    def put(self, event: str, *args: Any) -> None:
        self.count += 1
        after_ms = (time.perf_counter() - self._started) * 1000
        self._unclaimed.append(Received(event, _event_data(args), after_ms))
        self._arrived.set()

    def close(self, reason: str) -> None:
        self.closed = reason or "closed"
        self._arrived.set()

    async def take(self, event: str, deadline: float) -> Received:
        while True:
            for item in self._unclaimed:
                if item.event == event:
                    self._unclaimed.remove(item)
                    return item
            if self.closed is not None:
                raise _Closed(self.closed)
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise _Late
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                raise _Late from None


async def exchange(
    settings: Settings,
    plan: Sequence[Action],
    *,
    client_factory: ClientFactory = new_client,
) -> ExchangeResult:
    """Run ``plan`` over one connection; see the module docstring."""
    try:
        connect_url, path = engine_io_target(settings.url)
    except ValueError as exc:
        raise ExpectedError(str(exc), details={"url": settings.url, "kind": "url"}) from exc
    started = time.perf_counter()
    deadline = started + settings.timeout_s
    inbox = _Inbox(started)
    refusal: list[Any] = []
    client = client_factory(settings)
    ns = settings.namespace
    client.on("*", inbox.put, namespace=ns)
    client.on("disconnect", lambda reason="": inbox.close(str(reason)), namespace=ns)
    client.on("connect_error", lambda *data: refusal.extend(data), namespace=ns)
    current: Action | None = None  # None while connecting
    try:
        try:
            await asyncio.wait_for(
                client.connect(
                    connect_url,
                    headers=dict(settings.headers),
                    auth=dict(settings.auth) if settings.auth is not None else None,
                    namespaces=[ns],
                    socketio_path=path,
                    # The outer wait_for is the bound; this one must not end first.
                    wait_timeout=settings.timeout_s + 1,
                ),
                settings.timeout_s,
            )
        except asyncio.TimeoutError:
            raise _Late from None
        connect_ms = (time.perf_counter() - started) * 1000
        received: list[Received] = []
        for current in plan:
            if isinstance(current, Emit):
                if inbox.closed is not None:
                    raise _Closed(inbox.closed)
                await client.emit(current.event, current.data, namespace=ns)
            else:
                own = current.timeout_s
                if own is not None and time.perf_counter() + own < deadline:
                    try:
                        received.append(await inbox.take(current.event, time.perf_counter() + own))
                    except _Late:
                        raise _Late(own) from None
                else:
                    received.append(await inbox.take(current.event, deadline))
        return ExchangeResult(
            response_data=received[-1].data if received else None,
            received=received,
            events=inbox.count,
            connect_ms=connect_ms,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    except (socketio.exceptions.SocketIOError, _Closed, _Late) as exc:
        raise _converted(exc, settings, current, refusal) from exc
    finally:
        await _close(client, ns)


async def _close(client: Any, namespace: str) -> None:
    # Runs in ``finally``, also while a CancelledError propagates: it must
    # neither hang nor raise over the real outcome.
    try:
        await asyncio.wait_for(_say_goodbye(client, namespace), CLOSE_TIMEOUT_S)
    except Exception:
        log.debug("Socket.IO goodbye was not written", exc_info=True)
    try:
        await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT_S)
    except Exception:
        log.debug("Socket.IO disconnect did not finish cleanly; aborting", exc_info=True)
        try:
            await client.eio.disconnect(abort=True)
        except Exception:
            log.debug("aborting the Engine.IO connection failed", exc_info=True)


async def _say_goodbye(client: Any, namespace: str) -> None:
    """Leave the namespace and wait until every queued packet is written.

    python-socketio's ``disconnect()`` queues its goodbye and closes the
    WebSocket without waiting for the send queue, so the server would see a
    dropped transport instead of a client leaving, and an ``emit`` just
    before could be lost. Engine.IO marks each written packet done on its
    queue; joining the queue waits for exactly that.
    """
    eio = client.eio
    if eio.state != "connected" or eio.write_loop_task is None:
        return
    if namespace in client.namespaces:
        goodbye = client.packet_class(socketio.packet.DISCONNECT, namespace=namespace)
        await eio.send(goodbye.encode())
    await eio.queue.join()


def _converted(
    exc: BaseException, settings: Settings, current: Action | None, refusal: list[Any]
) -> RunnerError:
    """The RunnerError for a failure while doing ``current`` (None: connecting)."""
    where = f"Socket.IO {settings.url} namespace {settings.namespace}"
    details: dict[str, object] = {"url": settings.url, "namespace": settings.namespace}
    if current is None:
        if isinstance(exc, _Late):
            return RetryableError(
                f"{where}: not connected within {settings.timeout_s:g}s; raise timeout if the "
                f"server is just slow",
                details={**details, "kind": "connect"},
            )
        reason = _refusal_reason(refusal) or str(exc) or type(exc).__name__
        return RetryableError(
            f"{where}: could not connect: {reason}{_connect_hint(settings, refusal)}",
            details={**details, "kind": "connect", "reason": reason},
        )
    if isinstance(current, Expect) and isinstance(exc, _Late):
        limit = (
            f"{exc.args[0]:g}s (its expect timeout)"
            if exc.args
            else f"{settings.timeout_s:g}s (timeout, which bounds the whole exchange)"
        )
        return RetryableError(
            f'{where}: no "{current.event}" event within {limit}; check that the server '
            f"sends that event name, or raise the timeout if it is just slow",
            details={**details, "kind": "timeout", "event": current.event},
        )
    pending = (
        f'emitting "{current.event}"'
        if isinstance(current, Emit)
        else f'waiting for "{current.event}"'
    )
    reason = str(exc.args[0]) if isinstance(exc, _Closed) and exc.args else "not connected"
    return RetryableError(
        f"{where}: the connection closed ({reason}) while {pending}",
        details={**details, "kind": "disconnect", "pending": pending, "reason": reason},
    )


def _refusal_reason(refusal: list[Any]) -> str:
    # A namespace refusal carries the server's {"message": ...}; an Engine.IO
    # failure carries a string or the server's error body.
    for item in refusal:
        if isinstance(item, Mapping) and isinstance(item.get("message"), str):
            return str(item["message"])
    return ""


def _connect_hint(settings: Settings, refusal: list[Any]) -> str:
    if _refusal_reason(refusal):
        return (
            f"; the server refused namespace {settings.namespace}: check auth (and that "
            f"the namespace exists)"
        )
    path = urlsplit(settings.url).path.rstrip("/")
    if path and not path.endswith("/socket.io"):
        return (
            f'; the URL path "{path}" is read as where the server is mounted '
            f'("{path}/socket.io"); if it names a namespace, write namespace = "{path}"'
        )
    if urlsplit(settings.url).scheme in ("https", "wss") and settings.verify_tls:
        return "; for a test server with a self-signed certificate set insecure_skip_verify = true"
    return ""


def _event_data(args: tuple[Any, ...]) -> Any:
    """An event's arguments as one JSON value: none → null, one → it, more → a list.

    Binary attachments become base64 text, so outputs stay JSON.
    """
    values = [_jsonable(a) for a in args]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
