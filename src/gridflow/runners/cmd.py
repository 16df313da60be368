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

The process handling (own process group killed with SIGKILL on timeout or
cancellation, bounded output, pipes held by background children) is
:func:`gridflow.nodes.local.run_process`, shared with the fleet backends'
``local`` nodes; this module only maps its results onto the step.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from gridflow.errors import ExpectedError
from gridflow.nodes.base import MAX_OUTPUT_BYTES
from gridflow.nodes.local import StartFailed, run_process
from gridflow.runners._types import PositiveDuration, Text
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

__all__ = ["MAX_OUTPUT_BYTES", "CmdInputs", "CmdOutputs", "CmdRunner"]

STDERR_TAIL_CHARS = 500  # of stderr quoted in a failure message


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
        try:
            # A timeout raises CommandTimedOut, a StepTimeout, named as below.
            result = await run_process(
                argv,
                env=inputs.env,
                cwd=inputs.cwd,
                input=inputs.input,
                timeout_s=inputs.timeout,
                name=f"cmd: {shown!r}",
            )
        except StartFailed as exc:
            if exc.reason == "cannot-start":
                message = f"cmd: cannot start {shown!r}: {exc.cause}"
            else:
                what = "directory" if exc.reason == "directory-not-found" else "command"
                message = (
                    f"cmd: {what} not found: {exc.path} (check the spelling, or give the full path)"
                )
            raise ExpectedError(message, details={"argv": argv}) from exc
        outputs = CmdOutputs(
            stdout=result.stdout,
            stderr=result.stderr,
            exit_code=result.exit_code,
            duration_ms=result.duration_s * 1000,
            stdout_truncated=result.stdout_truncated,
            stderr_truncated=result.stderr_truncated,
        )
        code = result.exit_code
        if code not in inputs.ok_exit_codes:
            tail = outputs.stderr.rstrip()[-STDERR_TAIL_CHARS:]
            why = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
            ok = ", ".join(str(c) for c in inputs.ok_exit_codes)
            message = f"cmd: {shown!r} {why} (ok exit codes: {ok})"
            message += f"; stderr: {tail}" if tail else "; stderr was empty"
            raise ExpectedError(message, details={"output": outputs.model_dump(mode="json")})
        return outputs
