"""``test``: deterministic outcomes for tests and demos, run on the node.

* ``succeed {message, delay}``: ``sleep DELAY`` (when > 0), then ``printf %s
  MESSAGE``; the output is the message.
* ``fail {message, delay}``: ``sleep DELAY``, then a fixed ``sh -c`` script
  printing MESSAGE on stderr and exiting 1; the error is the message.
* ``sleep {duration}``: ``sleep DURATION``.
* ``flaky {rate, delay}``: fails ``rate`` percent of the time (see below),
  then behaves as ``fail`` or ``succeed``.
* ``output {lines, width}``: ``awk`` prints ``lines`` lines of exactly
  ``width`` characters (``1:xxx…``, ``2:xxx…``), to exercise output capture
  and its bounds without sending the text over.

Every action runs a real command on the node, so a passing test also proves
the node answers. Parameters travel as separate argv items (``-v`` values of
validated integers for awk, positional ``$1`` for the scripts).

**Flaky draws are seeded**, not random: the outcome is a hash of (seed,
node id, attempt) mapped to [0, 100) and compared with ``rate``. The same
node on the same attempt always gets the same outcome, so a test that
expects "web-02 fails on attempt 1 and passes on retry" stays true on every
run and machine, while different nodes and later attempts draw afresh, so
``rate`` is what a fleet sees on average and retries really help. The grid
runner mixes the step instance into ``seed`` so ``count = N`` instances differ.
"""

from __future__ import annotations

import hashlib

from gridflow.backends.catalog import FlakyParams, OutcomeParams, OutputParams, SleepParams
from gridflow.backends.ping import printf, sleep
from gridflow.backends.program import BuildContext, Builders, Program
from gridflow.nodes.base import Command, CommandResult

FAIL_SCRIPT = 'printf "%s\\n" "$1" >&2; exit 1'
DEFAULT_FAILURE = "failed on purpose (test.fail)"
#: awk builds one line of filler once, then cuts each numbered line to width.
OUTPUT_PROGRAM = (
    'BEGIN { fill = "x"; while (length(fill) < width) fill = fill fill; '
    'for (i = 1; i <= lines; i++) print substr(i ":" fill, 1, width) }'
)


def fail_command(message: str) -> Command:
    return Command(argv=("sh", "-c", FAIL_SCRIPT, "test-fail", message or DEFAULT_FAILURE))


def flaky_draw(node_id: str, attempt: int, seed: str = "") -> float:
    """A number in [0, 100), the same for the same (seed, node, attempt)."""
    digest = hashlib.sha256(f"{seed}\x00{node_id}\x00{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def flaky_fails(rate: float, ctx: BuildContext) -> bool:
    return flaky_draw(ctx.node_id, ctx.attempt, ctx.seed) < rate


def _message_is_the_error(shown: str, result: CommandResult) -> str:
    return result.stderr.strip() or f"{shown} exited with {result.exit_code}"


def _delayed(delay: float, command: Command) -> tuple[Command, ...]:
    return (sleep(delay), command) if delay > 0 else (command,)


def succeed(params: OutcomeParams, ctx: BuildContext) -> Program:
    return Program(commands=_delayed(params.delay, printf(params.message)), changed=False)


def fail(params: OutcomeParams, ctx: BuildContext) -> Program:
    return Program(
        commands=_delayed(params.delay, fail_command(params.message)),
        changed=False,
        explain=_message_is_the_error,
    )


def sleep_action(params: SleepParams, ctx: BuildContext) -> Program:
    return Program(commands=(sleep(params.duration),), changed=False)


def flaky(params: FlakyParams, ctx: BuildContext) -> Program:
    where = f"node {ctx.node_id}, attempt {ctx.attempt}, rate {params.rate:g}%"
    if flaky_fails(params.rate, ctx):
        command = fail_command(f"failed this time ({where})")
    else:
        command = printf(f"passed this time ({where})")
    return Program(
        commands=_delayed(params.delay, command), changed=False, explain=_message_is_the_error
    )


def output(params: OutputParams, ctx: BuildContext) -> Program:
    command = Command(
        argv=("awk", "-v", f"lines={params.lines}", "-v", f"width={params.width}", OUTPUT_PROGRAM)
    )
    return Program(commands=(command,), changed=False)


def expected_output(lines: int, width: int) -> str:
    """What ``output`` prints, computed here (for tests and docs)."""
    return "".join(f"{i}:{'x' * width}"[:width] + "\n" for i in range(1, lines + 1))


ACTIONS: Builders = {
    "succeed": succeed,
    "fail": fail,
    "sleep": sleep_action,
    "flaky": flaky,
    "output": output,
}
