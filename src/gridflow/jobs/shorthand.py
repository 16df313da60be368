"""The command-line shorthand: ``gridflow run -t group:web apt install package=nginx``.

GRID's ``gridc job run -t all ping echo message=hello``: a backend, an
action and ``NAME=VALUE`` parameters make a job of one barrier phase. The
parameters are validated against the action exactly as a job file's are.
A value is text (the action's model converts numbers and durations), unless
it starts with ``[`` or ``{``: then it is JSON, for list parameters such as
``cmd run 'argv=["ls", "-l"]'``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gridflow.backends.actions import InvalidParams, UnknownAction, parse_params
from gridflow.errors import UsageError
from gridflow.jobs.model import JobPlan, Phase, Target, Task
from gridflow.plan.models import Location

COMMAND_LINE = "<command line>"
USAGE = "BACKEND ACTION [NAME=VALUE ...], e.g. gridflow run -t group:web apt install package=nginx"


def shorthand_job(words: Sequence[str], target: Target) -> JobPlan:
    """A one-task job from ``BACKEND ACTION NAME=VALUE ...``; UsageError when
    the words or the parameters are wrong (every problem in one message)."""
    if len(words) < 2:
        raise UsageError(f"the shorthand needs a backend and an action: {USAGE}")
    backend, action, *pairs = words
    params = parse_pairs(pairs)
    try:
        model = parse_params(backend, action, params)
    except (UnknownAction, InvalidParams) as exc:
        raise UsageError(exc.message) from exc
    where = Location(file=COMMAND_LINE, line=1, col=1)
    task = Task(
        key="0",
        backend=backend,
        action=action,
        params=model.model_dump(mode="json"),
        loc=where,
    )
    return JobPlan(
        name=f"{backend}-{action}",
        source=COMMAND_LINE,
        target=target,
        phases=[Phase(index=0, kind="barrier", tasks=[task], loc=where)],
    )


def parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["package=nginx", ...]`` -> ``{"package": "nginx", ...}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f'"{pair}" is not a parameter: write NAME=VALUE, e.g. package=nginx')
        if name in out:
            raise UsageError(f'the parameter "{name}" is given twice')
        out[name] = _value(name, text)
    return out


def _value(name: str, text: str) -> Any:
    if not text.startswith(("[", "{")):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{name}={text}: a value starting with [ or {{ is read as JSON, and this is not "
            f'valid JSON ({exc.msg}); write a list as {name}=\'["a", "b"]\''
        ) from exc
