"""The ``ssh`` transport: commands on a fleet node over SSH, with paramiko.

``await SshSession.open(node_id, target)`` connects and authenticates once;
``run`` then opens one SSH channel per command on that connection, so a task
sending ten commands to a node pays for one handshake. paramiko is blocking:
each session has a small thread pool of its own (one thread per command in
flight, up to :data:`MAX_CHANNELS`: OpenSSH's default ``MaxSessions`` of 10
channels per connection, less one kept for killing timed-out commands), so
many nodes, each with its own session, proceed in parallel on one event loop.

**Host keys** are checked against ``target.known_hosts`` (default
``~/.ssh/known_hosts``), read like OpenSSH reads it: plain and hashed
(``|1|...``) names, ``[host]:port`` names for ports other than 22, several
names per line; ``@revoked`` keys are refused, ``@cert-authority`` lines are
ignored (paramiko cannot check host certificates). An unknown or changed key
raises :class:`HostKeyRejected`, naming the node's address and key
fingerprint and how to trust it. ``insecure_skip_host_key_check`` accepts
any key, with a warning logged once per node and process.

**Credentials**: ``key_file`` or an inline ``private_key`` (ed25519, ecdsa
or rsa, OpenSSH or PEM format, maybe encrypted with ``key_passphrase``)
and/or ``password``. With none of them, the ssh agent and the default keys
in ``~/.ssh`` are tried, as ``ssh`` does. A refused login raises
:class:`NodeAuthFailed`, which is not retried.

**Commands** reach the node as one line for the login shell of the user
(which must be a POSIX shell: sh, dash, bash, zsh, ksh)::

    [exec </dev/null; ]echo __gridflow_pid__ $$;
    [cd -- DIR && ]exec [sudo -n -- ][env K=V ... ]ARGV...

(one line, split here). A command without ``input`` reads the node's
``/dev/null`` (no EOF is sent over the channel: see ``_Exchange._io_lock``
for why). Every word is quoted with :func:`shlex.join`, so arguments arrive
verbatim, never re-parsed (``'; rm -rf / #`` is one argument). ``exec`` makes the
command the session's process-group leader, which is what a timeout kills.
``cwd`` is entered before sudo, as the login user, and is taken literally
(no ``~``); a relative one is relative to the user's home.

**Timeouts and cancellation**: every remote line starts by printing the
login shell's pid (taken out of stdout again); sshd starts each session in a
process group of its own, and ``exec`` keeps that pid for the command. On
expiry, a ``kill -s KILL -- -PID`` on a second channel (through ``sudo -n``
for sudo commands) kills the command's process group, then the channel is
closed, which also breaks the pipes of anything left. (SSH's own ``signal``
request would be simpler, but sshd honours it only for unprivileged logins.)
The call returns at once: :class:`CommandTimedOut` with the output so far,
or the ``CancelledError`` propagated. Processes that leave the group
(``setsid``, daemons) live on, as with any supervisor.

**Exit codes**: the command's exit status; ``-N`` when signal N killed it
(as :mod:`subprocess` reports it). A connection that drops while a command
runs raises :class:`NodeUnreachable`; the next ``run`` reconnects.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import functools
import getpass
import io
import logging
import os
import re
import selectors
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import paramiko
from paramiko.common import MSG_CHANNEL_REQUEST
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from gridflow.errors import ExpectedError
from gridflow.nodes.base import (
    MAX_OUTPUT_BYTES,
    Command,
    CommandResult,
    CommandTimedOut,
    HostKeyRejected,
    NodeAuthFailed,
    NodeSession,
    NodeUnreachable,
    SshTarget,
)

log = logging.getLogger(__name__)

#: Commands in flight at once on one session (channels on one connection).
MAX_CHANNELS = 9
READ_CHUNK = 32 * 1024
#: After the command exits, how long to keep reading output that background
#: children may still hold open (``sleep 60 &``), as the ``cmd`` runner does.
PIPE_GRACE_S = 1.0
#: After a timeout, how long to wait for the command's thread to hand back output.
ABORT_GRACE_S = 2.0
#: How long the `kill` of a timed-out command may take on the node.
KILL_TIMEOUT_S = 2.0
#: Printed with the login shell's pid before the command; taken out of stdout.
PID_MARKER = "__gridflow_pid__"
_PID_LINE = re.compile(rb"(^|\n)" + re.escape(PID_MARKER.encode()) + rb" (\d+)\n")
MARKER_SEARCH_BYTES = 64 * 1024
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

_insecure_warned: set[str] = set()
_insecure_lock = threading.Lock()


def remote_command(command: Command, *, sudo: bool = False) -> str:
    """The line the node's login shell runs for ``command`` (see the module doc).

    Raises ValueError for what no shell line can carry: an environment
    variable name that is not one, or a NUL byte in any part.
    """
    argv = list(command.argv) if command.argv is not None else ["/bin/sh", "-c", str(command.shell)]
    for name, value in command.env.items():
        if not name.isascii() or not name.isidentifier():
            raise ValueError(
                f"environment variable name {name!r} is not valid: use letters, digits and _, "
                "not starting with a digit"
            )
        if "\0" in value:
            raise ValueError(f"environment variable {name} contains a NUL byte")
    if any("\0" in arg for arg in argv) or (command.cwd and "\0" in command.cwd):
        raise ValueError("the command contains a NUL byte, which no remote shell can pass on")
    words = ["sudo", "-n", "--"] if sudo else []
    if command.env:
        words += ["env", *(f"{name}={value}" for name, value in command.env.items())]
        if "=" in argv[0]:
            # env would take the program for one more assignment; a shell runs it.
            argv = ["/bin/sh", "-c", 'exec "$0" "$@"', *argv]
    line = "exec " + shlex.join([*words, *argv])
    if command.cwd:
        line = f"cd -- {shlex.quote(command.cwd)} && {line}"
    return line


class SshSession:
    """An open SSH connection to one node; implements ``NodeSession``.

    Make one with :meth:`open`; run any number of commands, also
    concurrently; :meth:`close` it when the task is done.
    """

    def __init__(self, node_id: str, target: SshTarget) -> None:
        """Prefer :meth:`open`, which also connects."""
        self.node_id = node_id
        self.target = target
        self._client: paramiko.SSHClient | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=MAX_CHANNELS, thread_name_prefix=f"gridflow-ssh-{node_id}"
        )
        self._connecting = asyncio.Lock()
        self._running: set[_Exchange] = set()
        # One kill channel at a time: the node allows MAX_CHANNELS + 1 channels.
        self._kill_lock = threading.Lock()
        self._closed = False

    @classmethod
    async def open(cls, node_id: str, target: SshTarget) -> SshSession:
        """Connect, check the host key and log in; raises NodeUnreachable,
        HostKeyRejected or NodeAuthFailed."""
        session = cls(node_id, target)
        try:
            await session._connected()
        except BaseException:
            await session.close()
            raise
        return session

    @property
    def address(self) -> str:
        return _address(self.target)

    async def run(self, command: Command, *, timeout_s: float | None = None) -> CommandResult:
        """Run ``command`` on the node; a non-zero exit is a result, not an error."""
        try:
            line = remote_command(command, sudo=command.sudo or self.target.sudo)
        except ValueError as exc:
            raise ExpectedError(f"ssh node {self.node_id}: {exc}") from exc
        shown = shlex.join(command.argv) if command.argv is not None else str(command.shell)
        client = await self._connected()
        sudo = command.sudo or self.target.sudo
        exchange = _Exchange(command.input, sudo=sudo, kill_lock=self._kill_lock)
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, exchange.run, client, line
        )
        future.add_done_callback(_consume_result)
        self._running.add(exchange)
        future.add_done_callback(lambda _: self._running.discard(exchange))
        try:
            done, _ = await asyncio.wait({future}, timeout=timeout_s)
        except BaseException:
            exchange.abort()  # cancelled: stop the remote command, leave at once
            raise
        if not done:
            exchange.abort()
            await asyncio.wait({future}, timeout=ABORT_GRACE_S)
            raise CommandTimedOut(
                f"ssh node {self.node_id}: {shown!r} ran longer than its timeout of "
                f"{timeout_s:g}s and was stopped (SIGKILL to its process group)",
                details={
                    "node": self.node_id,
                    "stdout": exchange.out.text(),
                    "stderr": exchange.err.text(),
                },
            )
        try:
            exit_code = future.result()
        except (paramiko.SSHException, OSError, EOFError, _Dropped) as exc:
            raise NodeUnreachable(
                f"ssh node {self.node_id} ({self.address}): the connection failed while "
                f"running {shown!r}: {_reason(exc)}",
                details={"node": self.node_id, "stderr": exchange.err.text()},
            ) from exc
        return CommandResult(
            exit_code=exit_code,
            stdout=exchange.out.text(),
            stderr=exchange.err.text(),
            duration_s=exchange.duration_s(),
            stdout_truncated=exchange.out.truncated,
            stderr_truncated=exchange.err.truncated,
        )

    async def close(self) -> None:
        """Close the connection (stopping commands still running); idempotent."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        # Commands still running are killed first, while the connection is up.
        killers = [k for k in (e.abort() for e in list(self._running)) if k is not None]
        if killers:
            await asyncio.to_thread(_join_all, killers, KILL_TIMEOUT_S + 0.5)
        if client is not None:
            # Closing joins paramiko's reader thread: not on the event loop, and
            # not in the session's pool either, whose threads may all be waiting
            # for commands that only this close ends.
            await asyncio.to_thread(client.close)
        self._executor.shutdown(wait=False)

    async def _connected(self) -> paramiko.SSHClient:
        """The live client, connecting (again, if the connection was lost) as needed."""
        async with self._connecting:
            if self._closed:
                raise RuntimeError(f"ssh session of node {self.node_id} is closed")
            client = self._client
            if client is not None:
                transport = client.get_transport()
                if transport is not None and transport.is_active():
                    return client
                log.info("ssh node %s: connection lost; reconnecting", self.node_id)
                self._client = None
                await asyncio.to_thread(client.close)
            future = asyncio.get_running_loop().run_in_executor(
                self._executor, connect, self.node_id, self.target
            )
            try:
                # Shielded: a cancelled wait must not lose a client the thread still makes.
                self._client = await asyncio.shield(future)
            except asyncio.CancelledError:
                future.add_done_callback(_close_client)
                raise
            return self._client


def connect(node_id: str, target: SshTarget) -> paramiko.SSHClient:
    """Open and authenticate a client (blocking); paramiko's errors become
    gridflow's here, and only here, for connecting."""
    where = _address(target)
    user = target.user or getpass.getuser()
    client = paramiko.SSHClient()
    revoked: frozenset[tuple[str, bytes]] = frozenset()
    if target.insecure_skip_host_key_check:
        client.set_missing_host_key_policy(_AcceptWithWarning(node_id, where))
        known_hosts = ""
    else:
        known_hosts = os.path.expanduser(target.known_hosts or DEFAULT_KNOWN_HOSTS)
        revoked = _load_known_hosts(
            client.get_host_keys(), known_hosts, node_id, explicit=bool(target.known_hosts)
        )
        client.set_missing_host_key_policy(_RejectUnknown())
    pkey = _private_key(node_id, target)
    use_defaults = pkey is None and target.password is None
    try:
        client.connect(
            target.host,
            port=target.port,
            username=user,
            password=target.password,
            pkey=pkey,
            timeout=target.connect_timeout_s,
            banner_timeout=target.connect_timeout_s,
            auth_timeout=target.connect_timeout_s,
            channel_timeout=target.connect_timeout_s,
            allow_agent=use_defaults,
            look_for_keys=use_defaults,
            transport_factory=functools.partial(_NodeTransport, revoked=revoked),
        )
    except _UnknownHostKey as exc:
        client.close()
        raise HostKeyRejected(
            _unknown_key_message(node_id, target, known_hosts, exc.key), details={"node": node_id}
        ) from None
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyRejected(
            _changed_key_message(node_id, target, known_hosts, exc.key, exc.expected_key),
            details={"node": node_id},
        ) from None
    except _RevokedHostKey as exc:
        client.close()
        raise HostKeyRejected(
            f"ssh node {node_id}: the host key of {where} ({_describe_key(exc.key)}) is marked "
            f"@revoked in {known_hosts}; refusing to connect",
            details={"node": node_id},
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise NodeAuthFailed(
            _auth_message(node_id, target, user, pkey, exc), details={"node": node_id}
        ) from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise NodeUnreachable(
            f"ssh node {node_id}: cannot connect to {where}: {_connect_reason(exc, target)}",
            details={"node": node_id, "host": target.host, "port": target.port},
        ) from exc
    transport = client.get_transport()
    if transport is not None and isinstance(transport.sock, socket.socket):
        # Commands are short request/response exchanges: without this, Nagle's
        # algorithm and delayed ACKs add some 40 ms to each one.
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


# -- one command ------------------------------------------------------------


class _Capture:
    """One output stream, keeping its head or its tail, at most ``limit`` bytes."""

    def __init__(self, keep: str, limit: int = MAX_OUTPUT_BYTES) -> None:
        self.keep = keep
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        if self.keep == "head":
            room = self.limit - len(self.data)
            if len(chunk) > room:
                self.truncated = True
            self.data += chunk[: max(room, 0)]
        else:
            self.data += chunk
            if len(self.data) > self.limit:
                self.truncated = True
                del self.data[: len(self.data) - self.limit]

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="replace")


class _Dropped(Exception):
    """The channel closed without the command's exit status."""


class _Exchange:
    """One command on one channel, driven by one worker thread (:meth:`run`);
    :meth:`abort` stops it from any thread.

    The remote line first prints ``PID_MARKER <pid>`` on stdout: the login
    shell's pid, which is the process group of the command (sshd starts each
    session in a new session and group, and ``exec`` keeps the pid). The
    marker line is taken out of the output; :meth:`abort` uses the pid.
    """

    def __init__(self, stdin_text: str | None, *, sudo: bool, kill_lock: threading.Lock) -> None:
        self.input = stdin_text.encode("utf-8") if stdin_text is not None else b""
        self.sudo = sudo
        self._kill_lock = kill_lock
        self.out = _Capture("head")
        self.err = _Capture("tail")
        self.pid: int | None = None
        self._pid_known = threading.Event()  # set once pid is read, or cannot be
        self._head: bytearray | None = bytearray()  # stdout until the marker is found
        self._lock = threading.Lock()
        # Held while sending on the channel and while closing it. paramiko
        # sends a channel's data and EOF after releasing the channel's own
        # lock, so a close() from another thread (an abort) could put CLOSE on
        # the wire first; OpenSSH answers a message for a channel it has freed
        # by dropping the whole connection ("packet referred to nonexistent
        # channel"), failing every other command of the node with it.
        self._io_lock = threading.Lock()
        self._channel: paramiko.Channel | None = None
        self._aborted = False
        self._started = time.perf_counter()
        self._ended: float | None = None

    def duration_s(self) -> float:
        return (self._ended or time.perf_counter()) - self._started

    def run(self, client: paramiko.SSHClient, line: str) -> int:
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise _Dropped("the connection is closed")
        channel = transport.open_session()
        with self._lock:
            if self._aborted:
                channel.close()
                raise _Dropped(_ABORTED)
            self._channel = channel
        # An empty stdin is the node's /dev/null rather than an EOF sent here:
        # sshd may close the channel of a command that exits at once before a
        # late EOF arrives, and then drops the connection for it (see _io_lock).
        stdin = "" if self.input else "exec </dev/null; "
        try:
            self._started = time.perf_counter()
            with self._io_lock:
                if channel.closed:
                    raise _Dropped(_ABORTED)
                channel.exec_command(f"{stdin}echo {PID_MARKER} $$; {line}")
            return self._pump(channel, transport)
        finally:
            self._ended = time.perf_counter()
            self._pid_known.set()  # whatever happened, no pid comes any more
            with self._io_lock:
                channel.close()

    def abort(self) -> threading.Thread | None:
        """Kill the remote command's process group and close the channel.

        Done in a thread of its own, returned: it waits for the node, and the
        caller is the event loop.
        """
        with self._lock:
            self._aborted = True
            channel = self._channel
        if channel is None:
            return None
        killer = threading.Thread(target=self._kill, args=(channel,), daemon=True)
        killer.start()
        return killer

    def _kill(self, channel: paramiko.Channel) -> None:
        # sshd honours an SSH "signal" request only for unprivileged logins
        # (not root, not a ForceCommand), so the group is killed by a `kill`
        # on a second channel of the same connection instead.
        # A command aborted just after it started may not have told its pid yet.
        self._pid_known.wait(KILL_TIMEOUT_S)
        pid = self.pid
        transport = channel.get_transport()
        if pid is not None and transport is not None and transport.is_active():
            kill = f"kill -s KILL -- -{pid}"
            try:
                with self._kill_lock:
                    self._run_kill(transport, f"sudo -n {kill}" if self.sudo else kill)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                log.debug("could not kill remote process group %s: %s", pid, exc)
        with self._io_lock:
            channel.close()

    @staticmethod
    def _run_kill(transport: paramiko.Transport, kill: str) -> None:
        deadline = time.monotonic() + KILL_TIMEOUT_S
        while True:
            try:
                killer = transport.open_session(timeout=KILL_TIMEOUT_S)
                break
            except paramiko.ChannelException:
                # The node refuses a channel past MaxSessions: the previous
                # kill's channel is released only once sshd has seen its close
                # through, which can come after this open. Ask again shortly.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            killer.settimeout(KILL_TIMEOUT_S)
            # No EOF sent: kill reads no input (and see _io_lock for why not).
            killer.exec_command(f"exec </dev/null; {kill}")
            killer.status_event.wait(KILL_TIMEOUT_S)
        finally:
            killer.close()

    def _pump(self, channel: paramiko.Channel, transport: paramiko.Transport) -> int:
        # stdout and stderr are read in one loop, as they come: the channel's
        # window is shared, so leaving one unread would stall the other.
        pending, sent = self.input, 0
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(channel, selectors.EVENT_READ)
            while not channel.closed:
                busy = self._drain(channel)
                if sent < len(pending) and channel.send_ready():
                    with self._io_lock:
                        try:
                            sent += channel.send(pending[sent : sent + READ_CHUNK])
                        except OSError:
                            sent = len(pending)  # the command stopped reading stdin
                        if sent >= len(pending) and not channel.closed:
                            channel.shutdown_write()
                    busy = True
                if channel.exit_status_ready():
                    exited_at = exited_at or time.monotonic()
                    if channel.eof_received and not busy:
                        break
                    if time.monotonic() - exited_at > PIPE_GRACE_S:
                        break  # background children hold the output open
                if busy:
                    continue
                if channel.eof_received:
                    # All output is in (and the selector would now always fire):
                    # wait for the exit status.
                    channel.status_event.wait(0.2)
                else:
                    selector.select(0.05 if sent < len(pending) else 0.5)
        self._drain(channel)
        self._end_head()
        if self._aborted:
            raise _Dropped(_ABORTED)  # only a closing session's caller still waits
        if channel.exit_status != -1:
            return channel.exit_status
        signal_name = _exit_signals(transport).pop(channel.get_id(), None)
        if signal_name is not None:
            try:
                return -signal.Signals["SIG" + signal_name].value
            except KeyError:
                return -1  # a signal name this machine does not know
        raise _Dropped(
            "the connection dropped while the command ran"
            if not transport.is_active()
            else "the node closed the channel without an exit status"
        )

    def _drain(self, channel: paramiko.Channel) -> bool:
        got = False
        while channel.recv_ready():
            self._feed_stdout(channel.recv(READ_CHUNK))
            got = True
        while channel.recv_stderr_ready():
            self.err.feed(channel.recv_stderr(READ_CHUNK))
            got = True
        return got

    def _feed_stdout(self, chunk: bytes) -> None:
        head = self._head
        if head is None:
            self.out.feed(chunk)
            return
        head += chunk
        # Start-up files of the login shell may print before the marker.
        found = _PID_LINE.search(head)
        if found is not None:
            self.pid = int(found.group(2))
            self._pid_known.set()
            del head[found.end(1) : found.end()]
            self._end_head()
        elif len(head) > MARKER_SEARCH_BYTES:
            self._end_head()

    def _end_head(self) -> None:
        self._pid_known.set()
        if self._head is not None:
            head, self._head = self._head, None
            self.out.feed(bytes(head))


_ABORTED = "the session was closed while the command ran"


def _join_all(threads: list[threading.Thread], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))


def _consume_result(future: asyncio.Future[int]) -> None:
    # A command abandoned on cancellation may still fail later; nobody waits
    # for it any more, so asyncio must not report the error as never retrieved.
    if not future.cancelled():
        future.exception()


def _close_client(future: asyncio.Future[paramiko.SSHClient]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


# -- the transport: revoked keys and exit signals -----------------------------


class _NodeTransport(paramiko.Transport):
    """paramiko's Transport plus two things SSHClient does not offer: refusing
    ``@revoked`` host keys before logging in, and keeping the ``exit-signal``
    a node sends for a command killed by a signal (paramiko drops it)."""

    def __init__(self, sock: Any, *, revoked: frozenset[tuple[str, bytes]], **kwargs: Any) -> None:
        super().__init__(sock, **kwargs)
        self.revoked = revoked
        self.exit_signals: dict[int, str] = {}

    def start_client(
        self, event: threading.Event | None = None, timeout: float | None = None
    ) -> None:
        super().start_client(event, timeout)
        key = self.get_remote_server_key()
        if (key.get_name(), key.asbytes()) in self.revoked:
            self.close()
            raise _RevokedHostKey(key)


def _channel_request(channel: paramiko.Channel, message: paramiko.Message) -> None:
    """Handles a channel request, keeping the ``exit-signal`` paramiko drops."""
    rest = message.get_remainder()
    peek = paramiko.Message(rest)
    if peek.get_text() == "exit-signal":
        peek.get_boolean()  # want-reply: always false for exit-signal
        _exit_signals(channel.get_transport())[channel.get_id()] = peek.get_text()
        channel.status_event.set()
        return
    if _handle_request is not None:
        _handle_request(channel, paramiko.Message(rest))


# paramiko dispatches channel messages through a class-level table; a copy on
# our subclass routes channel requests through _channel_request. Should a
# paramiko release rename these internals, signals just report exit code -1.
_handle_request: Callable[[paramiko.Channel, paramiko.Message], None] | None = getattr(
    paramiko.Channel, "_handle_request", None
)
_handlers: dict[int, Any] | None = getattr(paramiko.Transport, "_channel_handler_table", None)
if _handle_request is not None and isinstance(_handlers, dict):
    _NodeTransport._channel_handler_table = {  # type: ignore[attr-defined]
        **_handlers,
        MSG_CHANNEL_REQUEST: _channel_request,
    }


def _exit_signals(transport: paramiko.Transport | None) -> dict[int, str]:
    return transport.exit_signals if isinstance(transport, _NodeTransport) else {}


# -- host keys --------------------------------------------------------------


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__(key.get_name())
        self.key = key


class _RevokedHostKey(paramiko.SSHException):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__(key.get_name())
        self.key = key


class _RejectUnknown(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising with the offered key so the error can
    show its fingerprint."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise _UnknownHostKey(key)


class _AcceptWithWarning(paramiko.MissingHostKeyPolicy):
    """Accepts any host key (``insecure_skip_host_key_check``), warning once per node."""

    def __init__(self, node_id: str, where: str) -> None:
        self.node_id = node_id
        self.where = where

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        with _insecure_lock:
            if self.node_id in _insecure_warned:
                return
            _insecure_warned.add(self.node_id)
        log.warning(
            "ssh node %s: host key of %s NOT checked (insecure_skip_host_key_check is set); "
            "accepting %s. Anyone on the network path can impersonate this node.",
            self.node_id,
            self.where,
            _describe_key(key),
        )


def _load_known_hosts(
    keys: paramiko.HostKeys, path: str, node_id: str, *, explicit: bool
) -> frozenset[tuple[str, bytes]]:
    """Add the entries of an OpenSSH known_hosts file to ``keys``; returns the
    ``@revoked`` keys. Lines paramiko cannot read are skipped, as ssh does."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        if not explicit:
            return frozenset()  # no file yet: every key is unknown, and said so
        raise HostKeyRejected(
            f"ssh node {node_id}: known_hosts file {path} does not exist; create it with the "
            "node's key (ssh-keyscan -p PORT HOST >> FILE, after checking the fingerprint)",
            details={"node": node_id},
        ) from None
    except OSError as exc:
        raise HostKeyRejected(
            f"ssh node {node_id}: cannot read known_hosts file {path}: {exc.strerror}",
            details={"node": node_id},
        ) from exc
    revoked: set[tuple[str, bytes]] = set()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = ""
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        try:
            entry = HostKeyEntry.from_line(line, number)
        except (InvalidHostKey, paramiko.SSHException, ValueError, binascii.Error):
            entry = None
        if entry is None:
            log.debug("%s:%d: skipped a known_hosts line paramiko cannot read", path, number)
            continue
        if marker == "@revoked":
            revoked.add((entry.key.get_name(), entry.key.asbytes()))
        elif not marker:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return frozenset(revoked)


def _unknown_key_message(
    node_id: str, target: SshTarget, known_hosts: str, key: paramiko.PKey
) -> str:
    where = _address(target)
    return (
        f"ssh node {node_id}: the host key of {where} is not in {known_hosts}; the node offered "
        f"{_describe_key(key)}. If that is the node's key (compare with `ssh-keygen -lf "
        f"/etc/ssh/ssh_host_{_keyscan_type(key)}_key.pub` on the node), trust it with "
        f"`{_keyscan(target, key)} >> {known_hosts}`, or set insecure_skip_host_key_check: true "
        "on this node to skip the check (anyone on the network path could then impersonate it)"
    )


def _changed_key_message(
    node_id: str,
    target: SshTarget,
    known_hosts: str,
    key: paramiko.PKey,
    expected: paramiko.PKey,
) -> str:
    where = _address(target)
    name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
    return (
        f"ssh node {node_id}: the host key of {where} has CHANGED: {known_hosts} lists "
        f"{_describe_key(expected)}, the node offered {_describe_key(key)}. Someone may be "
        "intercepting the connection, or the node was reinstalled. If the new key is right "
        f"(check it on the node), replace the old one: `ssh-keygen -R '{name}' -f {known_hosts}` "
        f"then `{_keyscan(target, key)} >> {known_hosts}`; or set "
        "insecure_skip_host_key_check: true on this node to skip the check"
    )


def _describe_key(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _keyscan_type(key: paramiko.PKey) -> str:
    name = key.get_name()
    if name.startswith("ecdsa-"):
        return "ecdsa"
    return name.removeprefix("ssh-")


def _keyscan(target: SshTarget, key: paramiko.PKey) -> str:
    port = f"-p {target.port} " if target.port != 22 else ""
    return f"ssh-keyscan {port}-t {_keyscan_type(key)} {target.host}"


# -- credentials ------------------------------------------------------------

_KEY_CLASSES: Mapping[str, type[paramiko.PKey]] = {
    "ssh-ed25519": paramiko.Ed25519Key,
    "ssh-rsa": paramiko.RSAKey,
    "ecdsa": paramiko.ECDSAKey,
}


def _private_key(node_id: str, target: SshTarget) -> paramiko.PKey | None:
    """The key from ``key_file`` or ``private_key``; NodeAuthFailed when it cannot be read."""
    if target.private_key is not None:
        text, origin = target.private_key, "the inline private_key"
    elif target.key_file is not None:
        path = os.path.expanduser(target.key_file)
        origin = f"key_file {target.key_file}"
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                text = file.read()
        except OSError as exc:
            raise NodeAuthFailed(
                f"ssh node {node_id}: cannot read {origin}: {exc.strerror}",
                details={"node": node_id},
            ) from exc
    else:
        return None
    key_type, encrypted = _key_header(text)
    for key_class in _key_classes(key_type):
        try:
            return key_class.from_private_key(io.StringIO(text), password=target.key_passphrase)
        except paramiko.PasswordRequiredException:
            encrypted = True
        except (paramiko.SSHException, ValueError, TypeError):
            continue  # not this kind of key, or not decrypted
    if encrypted and target.key_passphrase is None:
        why = "is encrypted: set key_passphrase"
    elif encrypted:
        why = "cannot be decrypted with the given key_passphrase (is it the right one?)"
    else:
        why = (
            "is not a private key gridflow can read (ed25519, ecdsa or rsa, in OpenSSH or "
            "PEM format; DSA is not supported)"
        )
    raise NodeAuthFailed(f"ssh node {node_id}: {origin} {why}", details={"node": node_id})


def _key_classes(key_type: str | None) -> list[type[paramiko.PKey]]:
    """The key classes to try: the one for ``key_type`` if known, else all."""
    if key_type is not None and key_type.startswith("ecdsa-"):
        key_type = "ecdsa"
    known = _KEY_CLASSES.get(key_type or "")
    return [known] if known is not None else list(dict.fromkeys(_KEY_CLASSES.values()))


def _key_header(text: str) -> tuple[str | None, bool]:
    """The key type and whether the key is encrypted, as far as the text says
    without decrypting: PEM keys in their armour, OpenSSH keys in the
    unencrypted header of their body."""
    if "BEGIN RSA PRIVATE KEY" in text:
        return "ssh-rsa", "ENCRYPTED" in text
    if "BEGIN EC PRIVATE KEY" in text:
        return "ecdsa", "ENCRYPTED" in text
    lines = text.strip().splitlines()
    if len(lines) < 3 or "BEGIN OPENSSH PRIVATE KEY" not in lines[0]:
        return None, False
    try:
        raw = base64.b64decode("".join(lines[1:-1]))
        magic = b"openssh-key-v1\x00"
        if not raw.startswith(magic):
            return None, False
        header = paramiko.Message(raw[len(magic) :])
        cipher = header.get_text()
        header.get_string()  # kdf name
        header.get_string()  # kdf options
        header.get_int()  # number of keys
        return paramiko.Message(header.get_binary()).get_text(), cipher != "none"
    except (binascii.Error, ValueError, paramiko.SSHException, IndexError):
        return None, False


def _auth_message(
    node_id: str,
    target: SshTarget,
    user: str,
    pkey: paramiko.PKey | None,
    exc: paramiko.AuthenticationException,
) -> str:
    tried = []
    if pkey is not None:
        origin = "private_key" if target.private_key is not None else f"key_file {target.key_file}"
        tried.append(f"the {origin} ({pkey.fingerprint})")
    if target.password is not None:
        tried.append("the password")
    if not tried:
        tried.append("the ssh agent and the default keys in ~/.ssh")
    message = (
        f"ssh node {node_id}: {user}@{_address(target)} refused the login with "
        f"{' and '.join(tried)}"
    )
    allowed = getattr(exc, "allowed_types", None)
    if allowed:
        message += f" (the node accepts: {', '.join(allowed)})"
    return (
        message + f"; check the user name, that ~{user}/.ssh/authorized_keys on the node lists "
        "the public key (ssh-copy-id does it), or the password"
    )


# -- small helpers ----------------------------------------------------------


def _address(target: SshTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"


def _connect_reason(exc: BaseException, target: SshTarget) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name {target.host!r} ({exc.strerror})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused (is sshd running and listening on that address and port?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {target.connect_timeout_s:g}s"
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


if TYPE_CHECKING:

    def _implements_node_session(session: SshSession) -> NodeSession:
        return session  # mypy checks SshSession against the protocol here
