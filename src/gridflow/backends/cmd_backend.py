"""``cmd``: a command of the user's, as written.

``run {argv | shell, env, cwd}``: ``argv`` runs directly (its items are never
read by a shell), ``shell`` through ``/bin/sh -c``. The output is stdout;
a non-zero exit fails the node with the end of stderr. What a command
changes is unknown, so ``changed`` is never reported.
"""

from __future__ import annotations

from gridflow.backends.catalog import CmdRunParams
from gridflow.backends.program import BuildContext, Builders, Program
from gridflow.nodes.base import Command


def run(params: CmdRunParams, ctx: BuildContext) -> Program:
    command = Command(
        argv=tuple(params.argv) if params.argv is not None else None,
        shell=params.shell,
        env=dict(params.env),
        cwd=params.cwd,
    )
    return Program(commands=(command,))


ACTIONS: Builders = {"run": run}
