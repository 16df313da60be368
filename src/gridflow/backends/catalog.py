"""Every backend action a job may name, with its typed parameters.

The names are GRID's (SPEC §2), so jobs written for it run unchanged. This
module is pure data: the job translator validates ``params`` against
:attr:`ActionSpec.params` before anything runs, and the backends build their
commands from the validated models. Values are checked here to be plain
names (package, unit) because they end up as command arguments; they are
also always passed as separate argv items, never pasted into a shell.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridflow.runners._types import Duration, Text


class ActionParams(BaseModel):
    """Base of every action's parameters: unknown names are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Debian package names (policy §5.6.1) with an optional "=version" pin.
PackageName = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$", max_length=200)
]
# systemd unit names: letters, digits, ":-_.\@" (systemd.unit(5)), not starting
# with "-": systemctl would read such a value as an option (e.g. "-Hhost").
UnitName = Annotated[str, Field(pattern=r"^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$", max_length=256)]


class NoParams(ActionParams):
    pass


class PackageParams(ActionParams):
    package: PackageName


class UnitParams(ActionParams):
    unit: UnitName


class Rke2ModeParams(ActionParams):
    mode: Literal["server", "agent"] = "server"


class Rke2InstallParams(ActionParams):
    mode: Literal["server", "agent"] = "server"
    # Arguments for the installer script (e.g. ["--version", "v1.30.1+rke2r1"]);
    # each is one argv item.
    flags: list[Text] = Field(default_factory=list)


class EchoParams(ActionParams):
    message: Text = ""


class SleepParams(ActionParams):
    duration: Duration


class OutcomeParams(ActionParams):
    message: Text = ""
    delay: Duration = 0.0


class FlakyParams(ActionParams):
    rate: Annotated[float, Field(ge=0, le=100)] = 50.0  # percent of calls that fail
    delay: Duration = 0.0


class OutputParams(ActionParams):
    lines: Annotated[int, Field(ge=0, le=100_000)] = 10
    width: Annotated[int, Field(ge=1, le=10_000)] = 80


class CmdRunParams(ActionParams):
    argv: Annotated[list[Text], Field(min_length=1)] | None = None
    shell: Annotated[str, Field(min_length=1)] | None = None
    env: dict[str, Text] = Field(default_factory=dict)
    cwd: str | None = None

    @model_validator(mode="after")
    def _one_command(self) -> CmdRunParams:
        if (self.argv is None) == (self.shell is None):
            raise ValueError(
                "set exactly one of argv (a list, run without a shell) and shell "
                "(a string for /bin/sh -c)"
            )
        return self


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    backend: str
    action: str
    params: type[ActionParams]
    read_only: bool  # may be used in checks (pre/post/during): changes nothing
    description: str


_SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("apt", "update", NoParams, False, "apt-get update"),
    ActionSpec("apt", "install", PackageParams, False, "apt-get install -y PACKAGE"),
    ActionSpec("apt", "remove", PackageParams, False, "apt-get remove -y PACKAGE"),
    ActionSpec("apt", "upgrade", NoParams, False, "apt-get upgrade -y"),
    ActionSpec("systemd", "start", UnitParams, False, "systemctl start UNIT"),
    ActionSpec("systemd", "stop", UnitParams, False, "systemctl stop UNIT"),
    ActionSpec("systemd", "restart", UnitParams, False, "systemctl restart UNIT"),
    ActionSpec("systemd", "enable", UnitParams, False, "systemctl enable --now UNIT"),
    ActionSpec("systemd", "disable", UnitParams, False, "systemctl disable --now UNIT"),
    ActionSpec("systemd", "status", UnitParams, True, "systemctl status UNIT"),
    ActionSpec(
        "rke2", "start", Rke2ModeParams, False, "systemctl enable --now --no-block rke2-MODE"
    ),
    ActionSpec(
        "rke2", "stop", Rke2ModeParams, False, "systemctl disable --now --no-block rke2-MODE"
    ),
    ActionSpec("rke2", "restart", Rke2ModeParams, False, "systemctl restart rke2-MODE"),
    ActionSpec("rke2", "status", Rke2ModeParams, True, "systemctl status rke2-MODE"),
    ActionSpec("rke2", "install", Rke2InstallParams, False, "the RKE2 installer with flags"),
    ActionSpec("ping", "echo", EchoParams, True, "print MESSAGE"),
    ActionSpec("ping", "hostname", NoParams, True, "print the node's host name"),
    ActionSpec("ping", "sleep", SleepParams, True, "sleep DURATION"),
    ActionSpec("test", "succeed", OutcomeParams, True, "succeed after DELAY"),
    ActionSpec("test", "fail", OutcomeParams, True, "fail after DELAY"),
    ActionSpec("test", "sleep", SleepParams, True, "sleep DURATION"),
    ActionSpec("test", "flaky", FlakyParams, True, "fail RATE percent of the time"),
    ActionSpec("test", "output", OutputParams, True, "print LINES lines of WIDTH"),
    # A command's effect is unknown: it may be used in checks, as the user
    # vouches for it by writing it there.
    ActionSpec("cmd", "run", CmdRunParams, True, "run ARGV or SHELL"),
)


@functools.cache
def _by_name() -> dict[str, dict[str, ActionSpec]]:
    out: dict[str, dict[str, ActionSpec]] = {}
    for spec in _SPECS:
        out.setdefault(spec.backend, {})[spec.action] = spec
    return out


def backend_names() -> list[str]:
    return sorted(_by_name())


def action_names(backend: str) -> list[str]:
    return sorted(_by_name().get(backend, {}))


def get_action(backend: str, action: str) -> ActionSpec | None:
    """The spec of ``backend.action``, or None when there is no such action."""
    return _by_name().get(backend, {}).get(action)
