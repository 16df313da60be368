"""Run a backend action on a node, or say what it would run.

* :func:`parse_params`: raw parameters (a job's ``params``, a grid step's
  arguments) → the action's catalog model, or :class:`InvalidParams` listing
  every problem in words a user can act on.
* :func:`build_program`: the pure :class:`~gridflow.backends.program.Program`
  of an action on a node.
* :func:`planned_commands`: ``--check``: the commands it would run, one
  shell-quoted line each, without running anything.
* :func:`run_action`: runs it through a :class:`~gridflow.nodes.base.NodeSession`
  and returns an :class:`ActionResult`.

A command that exits non-zero is a *result* (``ok=False`` with the end of
stderr as ``error``); :class:`~gridflow.nodes.base.NodeUnreachable` and
:class:`~gridflow.nodes.base.CommandTimedOut` propagate, since the job engine
decides what a lost node or a timeout means (retries, strategy).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gridflow.backends import apt, cmd_backend, ping, rke2, systemd, test_backend
from gridflow.backends.catalog import ActionParams, ActionSpec, action_names, backend_names
from gridflow.backends.catalog import get_action as get_spec
from gridflow.backends.program import BuildContext, Builders, Program, command_problems
from gridflow.errors import ExpectedError, suggest
from gridflow.nodes.base import (
    MAX_OUTPUT_BYTES,
    Command,
    CommandResult,
    CommandTimedOut,
    NodeSession,
)
from gridflow.nodes.local import describe_command

__all__ = [
    "BUILDERS",
    "ActionResult",
    "InvalidParams",
    "UnknownAction",
    "build_program",
    "parse_params",
    "planned_commands",
    "resolve",
    "run_action",
]

#: backend name -> its action builders; must list exactly the catalog's actions.
BUILDERS: Mapping[str, Builders] = {
    "apt": apt.ACTIONS,
    "systemd": systemd.ACTIONS,
    "rke2": rke2.ACTIONS,
    "ping": ping.ACTIONS,
    "test": test_backend.ACTIONS,
    "cmd": cmd_backend.ACTIONS,
}


class UnknownAction(ExpectedError):
    """No such backend, or no such action in it."""


class InvalidParams(ExpectedError):
    """An action's parameters are missing, unknown or of the wrong type."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems), details={"problems": list(problems)})


@dataclasses.dataclass(frozen=True)
class ActionResult:
    """What one action did on one node.

    ``output`` is the stdout of its commands (at most
    :data:`~gridflow.nodes.base.MAX_OUTPUT_BYTES` characters, from the start),
    or a note when a probe showed there was nothing to do; ``error`` says
    which command failed and how, ending with the end of its stderr.
    ``exit_code`` is the last command's (0 when nothing needed to run).
    ``changed`` is None when the backend cannot tell. ``commands`` lists what
    ran, probes included, one shell-quoted line each.
    """

    ok: bool
    output: str
    error: str | None
    exit_code: int
    changed: bool | None
    duration_s: float
    commands: tuple[str, ...]
    output_truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "commands": list(self.commands)}


# ------------------------------------------------------------------ look-ups


def resolve(backend: str, action: str) -> ActionSpec:
    """The catalog entry of ``backend action``, or :class:`UnknownAction`
    naming the valid choices (and the closest one)."""
    if backend not in BUILDERS:
        names = backend_names()
        hint = suggest(backend, names)
        raise UnknownAction(
            f'unknown backend "{backend}"; backends: {", ".join(names)}'
            + (f" ({hint})" if hint else "")
        )
    spec = get_spec(backend, action)
    if spec is None:
        names = action_names(backend)
        hint = suggest(action, names)
        raise UnknownAction(
            f'{backend} has no action "{action}"; its actions: {", ".join(names)}'
            + (f" ({hint})" if hint else "")
        )
    return spec


def parse_params(backend: str, action: str, raw: Mapping[str, Any]) -> ActionParams:
    """Validate ``raw`` against the action's catalog model.

    Raises :class:`UnknownAction` or :class:`InvalidParams`, whose message
    lists every problem: ``apt install needs "package"``, ``apt update takes
    no parameter "package" (it takes none)``, ``systemd start: "unit": ...``.
    """
    spec = resolve(backend, action)
    model = spec.params
    what = f"{backend} {action}"
    takes = sorted(model.model_fields)
    problems: list[str] = []
    for name in sorted(set(raw) - set(takes)):
        hint = suggest(name, takes)
        it_takes = f"it takes: {', '.join(takes)}" if takes else "it takes none"
        problems.append(
            f'{what} takes no parameter "{name}" ({it_takes})' + (f"; {hint}" if hint else "")
        )
    for name in takes:
        if model.model_fields[name].is_required() and name not in raw:
            problems.append(f'{what} needs "{name}"')
    if problems:
        raise InvalidParams(problems)
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidParams([_problem(what, err) for err in exc.errors()]) from exc


def _problem(what: str, err: Any) -> str:
    loc = [str(part) for part in err.get("loc", ())]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        return f'{what}: "{loc[0]}"{"".join(f"[{p}]" for p in loc[1:])}: {msg}'
    return f"{what}: {msg}"


def build_program(
    backend: str, action: str, params: ActionParams, ctx: BuildContext | None = None
) -> Program:
    """The commands ``backend action`` runs with ``params`` on ``ctx``'s node.

    ``params`` must be the action's catalog model (see :func:`parse_params`);
    values no process could receive (a NUL byte, an ``=`` in an environment
    name) are refused here with :class:`InvalidParams`.
    """
    spec = resolve(backend, action)
    if not isinstance(params, spec.params):
        raise TypeError(
            f"{backend} {action} takes {spec.params.__name__}, not {type(params).__name__}"
        )
    program = BUILDERS[backend][action](params, ctx or BuildContext())
    problems = [p for c in program.all_commands() for p in command_problems(c)]
    if problems:
        raise InvalidParams([f"{backend} {action}: {p}" for p in dict.fromkeys(problems)])
    return program


def planned_commands(
    backend: str,
    action: str,
    params: ActionParams,
    *,
    node_id: str = "local",
    attempt: int = 1,
    seed: str = "",
) -> list[str]:
    """``--check``: what the action would run on ``node_id``, one shell-quoted
    line per command, probe first (followed by ``# check: <purpose>``).
    Nothing runs."""
    program = build_program(backend, action, params, BuildContext(node_id, attempt, seed))
    lines = []
    if program.probe is not None:
        lines.append(f"{describe_command(program.probe.command)}  # check: {program.probe.purpose}")
    lines.extend(describe_command(c) for c in program.commands)
    return lines


# ------------------------------------------------------------------- running


async def run_action(
    session: NodeSession,
    backend: str,
    action: str,
    params: ActionParams,
    *,
    timeout_s: float | None,
    attempt: int = 1,
    seed: str = "",
) -> ActionResult:
    """Run ``backend action`` on the session's node; ``timeout_s`` bounds the
    whole action (probe included). ``attempt`` (from 1) and ``seed`` only
    matter to ``test flaky``'s draw."""
    program = build_program(backend, action, params, BuildContext(session.node_id, attempt, seed))
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    ran: list[str] = []
    what = f"{backend} {action} on node {session.node_id}"

    async def run(command: Command) -> CommandResult:
        shown = describe_command(command)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise CommandTimedOut(
                f"{what} ran past its timeout of {timeout_s:g}s before {shown!r} could start",
                details={"commands": list(ran)},
            )
        ran.append(shown)
        try:
            return await session.run(command, timeout_s=remaining)
        except CommandTimedOut as exc:
            raise CommandTimedOut(
                f"{what} ran past its timeout of {timeout_s:g}s; stopped while running {shown!r}",
                details={**exc.details, "commands": list(ran)},
            ) from exc

    def result(**fields: Any) -> ActionResult:
        return ActionResult(duration_s=time.monotonic() - started, commands=tuple(ran), **fields)

    changed = program.changed
    if program.probe is not None:
        decision = program.probe.decide(await run(program.probe.command))
        if not decision.run:
            return result(
                ok=True, output=decision.note, error=None, exit_code=0, changed=decision.changed
            )
        changed = decision.changed
    stdout: list[str] = []
    truncated = False
    for command in program.commands:
        done = await run(command)
        stdout.append(done.stdout)
        truncated = truncated or done.stdout_truncated
        if done.exit_code != 0:
            output, cut = _bounded(program.output("".join(stdout)))
            return result(
                ok=False,
                output=output,
                error=program.explain(ran[-1], done),
                exit_code=done.exit_code,
                changed=None,
                output_truncated=truncated or cut,
            )
    output, cut = _bounded(program.output("".join(stdout)))
    return result(
        ok=True,
        output=output,
        error=None,
        exit_code=0,
        changed=changed,
        output_truncated=truncated or cut,
    )


def _bounded(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_OUTPUT_BYTES:
        return text, False
    return text[:MAX_OUTPUT_BYTES], True
