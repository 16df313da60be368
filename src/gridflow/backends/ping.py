"""``ping``: prove a node answers, with no side effects.

Each action runs a small program *on the node* (GRID answered from its
worker process; here there is no agent, so the node's own shell tools
answer): ``echo`` is ``printf %s MESSAGE`` (the message is one argv item,
printed verbatim — ``$(...)`` included — and never read as printf's
format), ``hostname`` is ``uname -n`` (coreutils, present where the
``hostname`` program may not be), ``sleep`` is ``sleep SECONDS``.
"""

from __future__ import annotations

from gridflow.backends.catalog import EchoParams, NoParams, SleepParams
from gridflow.backends.program import BuildContext, Builders, Program, seconds_arg
from gridflow.nodes.base import Command


def printf(text: str) -> Command:
    return Command(argv=("printf", "%s", text))


def sleep(seconds: float) -> Command:
    return Command(argv=("sleep", seconds_arg(seconds)))


def _strip_newline(text: str) -> str:
    return text.removesuffix("\n")


def echo_action(params: EchoParams, ctx: BuildContext) -> Program:
    return Program(commands=(printf(params.message),), changed=False)


def hostname_action(params: NoParams, ctx: BuildContext) -> Program:
    return Program(commands=(Command(argv=("uname", "-n")),), changed=False, output=_strip_newline)


def sleep_action(params: SleepParams, ctx: BuildContext) -> Program:
    return Program(commands=(sleep(params.duration),), changed=False)


ACTIONS: Builders = {"echo": echo_action, "hostname": hostname_action, "sleep": sleep_action}
