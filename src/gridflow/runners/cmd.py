"""``cmd``: run a local command with asyncio subprocesses.

Arguments: exactly one of ``argv`` (a list: run directly, never through a
shell, so its items are never re-parsed) or ``shell`` (a string run by
``/bin/sh -c``); ``env`` (merged over the worker's environment), ``cwd``,
``timeout``, ``input`` (text written to stdin; stdin is empty otherwise),
``ok_exit_codes`` (default ``[0]``).

Output: ``stdout``, ``stderr``, ``exit_code``, ``duration_ms``, and
``stdout_truncated`` / ``stderr_truncated``. Each stream keeps at most
:data:`MAX_OUTPUT_BYTES`: stdout its beginning, stderr its end (where the
error usually is). An exit code outside ``ok_exit_codes`` fails the step with
an :class:`~gridflow.errors.ExpectedError` whose message ends with the tail
of stderr and whose ``details["output"]`` is the whole output.

The command runs in its own session (process group). On timeout or when the
step is cancelled, the whole group is killed with SIGKILL and reaped, so
nothing it started lives on. After a normal exit, output is read for at
most :data:`PIPE_GRACE_S` more seconds (background children may hold the
pipes); such children are left running. Processes that put themselves in another
session (``setsid``, daemons) are beyond reach, as with any supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Annotated

from pydantic import Field, model_validator

from gridflow.errors import ExpectedError, StepTimeout
from gridflow.runners._types import PositiveDuration, Text
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

MAX_OUTPUT_BYTES = 1024 * 1024
STDERR_TAIL_CHARS = 500  # of stderr quoted in a failure message
PIPE_GRACE_S = 1.0  # after exit, how long to wait for children holding stdout/stderr


class CmdInputs(RunnerInputs):
    argv: Annotated[list[Text], Field(min_length=1)] | None = None
    shell: Annotated[str, Field(min_length=1)] | None = None
    env: dict[str, Text] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: PositiveDuration | None = None
    input: str | None = None
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _one_command(self) -> CmdInputs:
        if (self.argv is None) == (self.shell is None):
            raise ValueError(
                "set exactly one of argv (a list, run without a shell) and shell "
                "(a string for /bin/sh -c)"
            )
        return self


class CmdOutputs(RunnerOutputs):
    stdout: str
    stderr: str
    exit_code: int
    duration_ms: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class _Capture(asyncio.Protocol):
    """Collects one output pipe, keeping its head or its tail, at most ``limit`` bytes."""

    def __init__(self, keep: str, limit: int = MAX_OUTPUT_BYTES) -> None:
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


class CmdRunner(Runner[CmdInputs, CmdOutputs]):
    """Runs a command locally; fails on an exit code outside ``ok_exit_codes``."""

    name = "cmd"
    Inputs = CmdInputs
    Outputs = CmdOutputs
    description = "Run a local command (argv or shell) and capture its output."

    async def run(self, inputs: CmdInputs, ctx: RunContext) -> CmdOutputs:
        argv = (
            list(inputs.argv) if inputs.argv is not None else ["/bin/sh", "-c", str(inputs.shell)]
        )
        shown = " ".join(argv) if inputs.argv is not None else str(inputs.shell)
        started = time.perf_counter()
        # Our own pipes rather than asyncio.subprocess.PIPE: proc.wait() then
        # returns when the command exits, even if a background child it left
        # still holds stdout/stderr (a PIPE-backed wait would wait for it).
        out, err = _Capture("head"), _Capture("tail")
        try:
            proc = await _start(argv, inputs, shown, out, err)
            try:
                await asyncio.wait_for(_communicate(proc, inputs.input, out, err), inputs.timeout)
            except asyncio.TimeoutError as exc:
                await _kill_group(proc)
                raise StepTimeout(
                    f"cmd: {shown!r} ran longer than its timeout of {inputs.timeout:g}s and "
                    f"was killed with its process group",
                    details={"stdout": out.text(), "stderr": err.text()},
                ) from exc
            except BaseException:
                # Cancelled (fail-fast, step timeout) or failed: leave no process behind.
                await _kill_group(proc)
                raise
        finally:
            out.close()
            err.close()
        code = proc.returncode if proc.returncode is not None else -1
        outputs = CmdOutputs(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=code,
            duration_ms=(time.perf_counter() - started) * 1000,
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
        )
        if code not in inputs.ok_exit_codes:
            tail = outputs.stderr.rstrip()[-STDERR_TAIL_CHARS:]
            why = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
            ok = ", ".join(str(c) for c in inputs.ok_exit_codes)
            message = f"cmd: {shown!r} {why} (ok exit codes: {ok})"
            message += f"; stderr: {tail}" if tail else "; stderr was empty"
            raise ExpectedError(message, details={"output": outputs.model_dump(mode="json")})
        return outputs


async def _start(
    argv: list[str], inputs: CmdInputs, shown: str, out: _Capture, err: _Capture
) -> asyncio.subprocess.Process:
    out_fd = await out.open()
    err_fd = await err.open()
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE
            if inputs.input is not None
            else asyncio.subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            env={**os.environ, **inputs.env},
            cwd=inputs.cwd,
            start_new_session=True,  # its own process group, killed as one
        )
    except FileNotFoundError as exc:
        missing = inputs.cwd if inputs.cwd and not os.path.isdir(inputs.cwd) else argv[0]
        what = "directory" if missing == inputs.cwd else "command"
        raise ExpectedError(
            f"cmd: {what} not found: {missing} (check the spelling, or give the full path)",
            details={"argv": argv},
        ) from exc
    except OSError as exc:
        raise ExpectedError(f"cmd: cannot start {shown!r}: {exc}", details={"argv": argv}) from exc
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
