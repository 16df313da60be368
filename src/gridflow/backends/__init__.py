"""Fleet backends: apt, systemd, rke2, ping, test and cmd actions on nodes.

:mod:`gridflow.backends.catalog` says which actions exist and what parameters
each takes (used by the job translator to validate before anything runs).
Each backend module (:mod:`~gridflow.backends.apt`, ...) holds pure builders
turning validated parameters into commands; :mod:`gridflow.backends.actions`
runs them through a node session (:func:`run_action`) or lists them for a dry
run (:func:`planned_commands`).
"""

from gridflow.backends.actions import (
    ActionResult,
    InvalidParams,
    UnknownAction,
    build_program,
    parse_params,
    planned_commands,
    run_action,
)

__all__ = [
    "ActionResult",
    "InvalidParams",
    "UnknownAction",
    "build_program",
    "parse_params",
    "planned_commands",
    "run_action",
]
