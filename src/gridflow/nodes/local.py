"""The ``local`` transport: commands run on the worker itself.

One process-handling implementation serves every local command gridflow runs:
:func:`run_process` is used by :class:`LocalSession` (fleet backends on a
``connection: local`` node) and by the ``cmd`` grid runner. It

* runs ``argv`` directly (never through a shell, so its items are never
  re-parsed); a shell command is ``/bin/sh -c TEXT``;
* merges ``env`` over the worker's environment, honours ``cwd`` and writes
  ``input`` to stdin (stdin is empty otherwise);
* keeps at most :data:`~gridflow.nodes.base.MAX_OUTPUT_BYTES` of each stream:
  stdout its beginning, stderr its end (where the error usually is);
* starts the command in its own session (process group). On timeout or when
  the caller is cancelled, the whole group is killed with SIGKILL and reaped,
  so nothing it started lives on. After a normal exit, output is read for at
  most :data:`PIPE_GRACE_S` more seconds (background children may hold the
  pipes); such children are left running. Processes that put themselves in
  another session (``setsid``, daemons) are beyond reach, as with any
  supervisor.

:class:`LocalSession` behaves like a remote shell would: a program that is not
there is exit code 127 with a message on stderr (126 when it cannot be
executed, 2 when ``cwd`` does not exist), not an exception, so backends read
the same results from ``local`` and ``ssh`` nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import signal
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from gridflow.nodes.base import (
    MAX_OUTPUT_BYTES,
    Command,
    CommandResult,
    CommandTimedOut,
    NodeSession,
)

__all__ = [
    "PIPE_GRACE_S",
    "LocalSession",
    "StartFailed",
    "command_argv",
    "describe_command",
    "run_process",
]

PIPE_GRACE_S = 1.0  # after exit, how long to wait for children holding stdout/stderr


class StartFailed(Exception):
    """The command could not be started: its program or its ``cwd`` is missing,
    or the program cannot be executed. Callers turn it into their own result."""

    def __init__(
        self,
        reason: Literal["command-not-found", "directory-not-found", "cannot-start"],
        path: str,
        cause: BaseException,
    ) -> None:
        self.reason = reason
        self.path = path
        self.cause = cause
        super().__init__(f"{reason}: {path}: {cause}")


# --------------------------------------------------------------- the process


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    input: str | None = None,
    timeout_s: float | None = None,
    name: str = "",
) -> CommandResult:
    """Run ``argv`` as described in the module docstring.

    Raises :class:`StartFailed` when it cannot start, and
    :class:`~gridflow.nodes.base.CommandTimedOut` (message starting with
    ``name``, e.g. ``"cmd: 'sleep 9'"``, details ``stdout``/``stderr``) when it
    runs past ``timeout_s``. A non-zero exit is a result, not an error; a
    command killed by a signal has the negative signal number as exit code.
    """
    started = time.perf_counter()
    # Our own pipes rather than asyncio.subprocess.PIPE: proc.wait() then
    # returns when the command exits, even if a background child it left
    # still holds stdout/stderr (a PIPE-backed wait would wait for it).
    out, err = _Capture("head"), _Capture("tail")
    try:
        proc = await _start(list(argv), env, cwd, input is not None, out, err)
        try:
            await asyncio.wait_for(_communicate(proc, input, out, err), timeout_s)
        except asyncio.TimeoutError as exc:
            await _kill_group(proc)
            raise CommandTimedOut(
                f"{name or shlex.join(argv)} ran longer than its timeout of {timeout_s:g}s "
                f"and was killed with its process group",
                details={"stdout": out.text(), "stderr": err.text()},
            ) from exc
        except BaseException:
            # Cancelled (fail-fast, step timeout) or failed: leave no process behind.
            await _kill_group(proc)
            raise
    finally:
        out.close()
        err.close()
    return CommandResult(
        exit_code=proc.returncode if proc.returncode is not None else -1,
        stdout=out.text(),
        stderr=err.text(),
        duration_s=time.perf_counter() - started,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )


class _Capture(asyncio.Protocol):
    """Collects one output pipe, keeping its head or its tail, at most ``limit`` bytes."""

    def __init__(self, keep: Literal["head", "tail"], limit: int = MAX_OUTPUT_BYTES) -> None:
        self.keep = keep
        self.limit = limit
        self.data = bytearray()
        self.truncated = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.keep == "head":
            room = self.limit - len(self.data)
            if len(data) > room:
                self.truncated = True
            self.data += data[: max(room, 0)]
        else:
            self.data += data
            if len(self.data) > self.limit:
                self.truncated = True
                del self.data[: len(self.data) - self.limit]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    async def open(self) -> int:
        """Start reading a new pipe; returns its write end for the child."""
        read_fd, write_fd = os.pipe()
        try:
            await asyncio.get_running_loop().connect_read_pipe(
                lambda: self, os.fdopen(read_fd, "rb", buffering=0)
            )
        except BaseException:
            os.close(write_fd)
            raise
        return write_fd

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def _start(
    argv: list[str],
    env: Mapping[str, str] | None,
    cwd: str | None,
    with_stdin: bool,
    out: _Capture,
    err: _Capture,
) -> asyncio.subprocess.Process:
    out_fd = await out.open()
    err_fd = await err.open()
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group, killed as one
        )
    except FileNotFoundError as exc:
        if cwd and not os.path.isdir(cwd):
            raise StartFailed("directory-not-found", cwd, exc) from exc
        raise StartFailed("command-not-found", argv[0], exc) from exc
    except (OSError, ValueError) as exc:
        # ValueError: a NUL byte in an argument or an "=" in an environment name.
        raise StartFailed("cannot-start", argv[0], exc) from exc
    finally:
        os.close(out_fd)  # the child has its copies; ours would keep the pipes open
        os.close(err_fd)


async def _communicate(
    proc: asyncio.subprocess.Process, stdin_text: str | None, out: _Capture, err: _Capture
) -> None:
    async def feed() -> None:
        if proc.stdin is None:
            return
        try:
            if stdin_text:
                proc.stdin.write(stdin_text.encode("utf-8"))
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the command stopped reading; its exit code tells the rest
        finally:
            proc.stdin.close()

    await asyncio.gather(feed(), proc.wait())
    # The rest of the output is normally already in flight; a background child
    # (``sleep 60 &``) may hold the pipes for ever, so wait only briefly.
    await asyncio.wait([out.closed, err.closed], timeout=PIPE_GRACE_S)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The group id is the child's pid (start_new_session); kill it even if the
    # leader already exited, since its children may still run in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    # Reaping must finish even when we are being cancelled.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(proc.wait())


# ------------------------------------------------------------ commands -> argv


def command_argv(command: Command, *, sudo: bool = False) -> list[str]:
    """The argv that runs ``command`` (with ``sudo -n`` when it or the node asks).

    ``sudo`` resets the environment, so under sudo the command's own ``env``
    is passed through ``env NAME=VALUE ...`` after it, where it survives;
    ``-n`` makes sudo fail at once instead of prompting for a password.
    """
    argv = list(command.argv) if command.argv is not None else ["/bin/sh", "-c", str(command.shell)]
    if command.sudo or sudo:
        assignments = [f"{k}={v}" for k, v in command.env.items()]
        argv = ["sudo", "-n", "--", *(["env", *assignments] if assignments else []), *argv]
    return argv


def describe_command(command: Command, *, sudo: bool = False) -> str:
    """``command`` as one shell-quoted line a person can read (and paste):
    ``cd DIR && NAME=VALUE prog arg ...``; a stdin text is noted, not shown."""
    argv = command_argv(command, sudo=sudo)
    text = shlex.join(argv)
    if command.env and not (command.sudo or sudo):
        text = " ".join(f"{k}={shlex.quote(v)}" for k, v in command.env.items()) + " " + text
    if command.cwd:
        text = f"cd {shlex.quote(command.cwd)} && {text}"
    if command.input is not None:
        text += "  # with text on stdin"
    return text


# --------------------------------------------------------------- the session


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


_START_EXIT = {"command-not-found": 127, "cannot-start": 126, "directory-not-found": 2}


@dataclasses.dataclass
class LocalSession:
    """A :class:`~gridflow.nodes.base.NodeSession` for the worker itself.

    ``sudo=True`` runs every command through ``sudo -n`` (a node configured
    for it); a :class:`~gridflow.nodes.base.Command` may also ask for it alone.
    There is no connection: :meth:`close` does nothing, and the session can be
    used as an async context manager like any other.
    """

    node_id: str = "local"
    sudo: bool = False

    async def run(self, command: Command, *, timeout_s: float | None = None) -> CommandResult:
        argv = command_argv(command, sudo=self.sudo)
        started = time.perf_counter()
        try:
            return await run_process(
                argv,
                env=command.env,
                cwd=command.cwd,
                input=command.input,
                timeout_s=timeout_s,
                name=f"node {self.node_id}: {describe_command(command, sudo=self.sudo)!r}",
            )
        except StartFailed as exc:
            # What a remote shell would answer, so backends see one behaviour.
            messages = {
                "command-not-found": f"{exc.path}: command not found",
                "directory-not-found": f"cannot change directory to {exc.path}: no such directory",
                "cannot-start": f"{exc.path}: cannot execute: {_reason(exc.cause)}",
            }
            return CommandResult(
                exit_code=_START_EXIT[exc.reason],
                stdout="",
                stderr=messages[exc.reason] + "\n",
                duration_s=time.perf_counter() - started,
            )

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> LocalSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


if TYPE_CHECKING:  # LocalSession implements the transport interface
    _check: NodeSession = LocalSession()
