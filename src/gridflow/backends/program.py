"""What a backend action is, before anything runs: a small, pure :class:`Program`.

Each backend module (apt, systemd, ...) maps an action name to a *builder*: a
pure function from the action's validated parameters (a catalog model) and a
:class:`BuildContext` to a :class:`Program` — the commands to run in order,
maybe a read-only :class:`Probe` run first (to learn whether anything would
change), and how to read the results. Builders do no I/O, so they are tested
by comparing argv, and ``--check`` lists a Program's commands without running
them. :func:`gridflow.backends.actions.run_action` is the only code that runs
one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gridflow.nodes.base import Command, CommandResult

#: Characters of stderr quoted in an error message (its end: where the error is).
ERROR_TAIL_CHARS = 500


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """Where the action runs: only the ``test.flaky`` draw depends on it."""

    node_id: str = "local"
    attempt: int = 1
    seed: str = ""  # mixed into random draws (grid runners pass the step instance)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What a probe's result means: run the commands or not, and whether
    running them changes the node (``None``: cannot tell)."""

    run: bool
    changed: bool | None
    note: str = ""  # the action's output when it does not run, e.g. "nginx is already installed"


@dataclasses.dataclass(frozen=True)
class Probe:
    """A read-only command run before the action's commands."""

    command: Command
    decide: Callable[[CommandResult], Decision]
    purpose: str  # shown by --check, e.g. "skip the install when nginx is installed"


def _same(text: str) -> str:
    return text


def describe_failure(shown: str, result: CommandResult, hint: str = "") -> str:
    """``<command> exited with N (hint): <stderr tail>`` for an action's error."""
    code = result.exit_code
    why = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
    if hint:
        why += f" ({hint})"
    tail = result.stderr.strip()[-ERROR_TAIL_CHARS:]
    return f"{shown} {why}: {tail}" if tail else f"{shown} {why} and printed nothing on stderr"


@dataclasses.dataclass(frozen=True)
class Program:
    """The commands of one action on one node.

    ``commands`` run in order and stop at the first non-zero exit. ``changed``
    is reported on success unless the probe decides it. ``output`` shapes the
    commands' joined stdout into the action's output; ``explain`` writes the
    error of a failed command from its shown form and its result.
    """

    commands: tuple[Command, ...]
    probe: Probe | None = None
    changed: bool | None = None
    output: Callable[[str], str] = _same
    explain: Callable[[str, CommandResult], str] = describe_failure

    def all_commands(self) -> Iterator[Command]:
        if self.probe is not None:
            yield self.probe.command
        yield from self.commands


#: A backend action's builder: (validated params, context) -> Program. The
#: params are the catalog model of that action (checked by the caller).
Builder = Callable[[Any, BuildContext], Program]

#: A backend module's table: action name -> builder.
Builders = Mapping[str, Builder]


def seconds_arg(seconds: float) -> str:
    """A duration as an argument for ``sleep``: ``2``, ``0.5``, ``1.25`` (ms precision)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def command_problems(command: Command) -> list[str]:
    """What makes ``command`` impossible to start on any node (and how to fix it).

    Parameters are validated before anything runs; these are the few values a
    parameter type allows but no process can receive.
    """
    problems: list[str] = []
    texts = [*(command.argv or ()), command.shell or "", command.cwd or ""]
    if any("\x00" in text for text in texts):
        problems.append("a parameter contains a NUL character, which no command can receive")
    for name, value in command.env.items():
        if not name or "=" in name or "\x00" in name:
            problems.append(
                f"environment name {name!r} is not valid: it must be non-empty, "
                "without '=' or NUL (e.g. MY_VAR)"
            )
        elif "\x00" in value:
            problems.append(f"environment variable {name} contains a NUL character")
    return problems
