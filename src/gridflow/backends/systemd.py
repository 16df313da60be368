"""``systemd``: units with ``systemctl``.

``start|stop|restart|status U`` run ``systemctl <action> U``; ``enable`` and
``disable`` run ``systemctl enable --now U`` / ``systemctl disable --now U``
(GRID's meaning: enabled *and* started, disabled *and* stopped).

``changed``: ``start`` and ``stop`` ask ``systemctl is-active U`` first
(read-only) and report whether the unit's state differs from the wanted one.
The command still runs either way, as in GRID: starting an active unit is a
no-op for systemd, so skipping it would save nothing and hide a broken
unit file that ``start`` would report. ``restart`` always changes the node
(the service's processes are replaced); ``status`` never does;
``enable``/``disable`` report unknown.
"""

from __future__ import annotations

from gridflow.backends.catalog import UnitParams
from gridflow.backends.program import (
    BuildContext,
    Builders,
    Decision,
    Probe,
    Program,
    describe_failure,
)
from gridflow.nodes.base import Command, CommandResult

#: ``systemctl status`` exit codes (LSB) worth a word in the error.
STATUS_HINTS = {3: "the unit is not active", 4: "no such unit"}


def systemctl(*args: str) -> Command:
    return Command(argv=("systemctl", *args))


def is_active(unit: str) -> Command:
    """Read-only: exit 0 when ``unit`` is active, non-zero otherwise."""
    return systemctl("is-active", unit)


def explain_status(shown: str, result: CommandResult) -> str:
    return describe_failure(shown, result, STATUS_HINTS.get(result.exit_code, ""))


def _probe_active(unit: str, *, want_active: bool) -> Probe:
    def decide(result: CommandResult) -> Decision:
        active = result.exit_code == 0
        return Decision(run=True, changed=active != want_active)

    state = "active" if want_active else "inactive"
    return Probe(is_active(unit), decide, f"report changed unless {unit} is already {state}")


def start(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(
        commands=(systemctl("start", params.unit),),
        probe=_probe_active(params.unit, want_active=True),
    )


def stop(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(
        commands=(systemctl("stop", params.unit),),
        probe=_probe_active(params.unit, want_active=False),
    )


def restart(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("restart", params.unit),), changed=True)


def enable(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("enable", "--now", params.unit),))


def disable(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("disable", "--now", params.unit),))


def status(params: UnitParams, ctx: BuildContext) -> Program:
    return Program(
        commands=(systemctl("status", params.unit),), changed=False, explain=explain_status
    )


ACTIONS: Builders = {
    "start": start,
    "stop": stop,
    "restart": restart,
    "enable": enable,
    "disable": disable,
    "status": status,
}
