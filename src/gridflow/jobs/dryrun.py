"""``--check``: what a job would run on each node, without running anything.

:func:`dry_run` lists, per phase and task, the exact command lines each node
would receive (a backend's read-only probe first, marked ``# check: ...``),
and the checks; :func:`dry_run_text` prints that for people. Commands are
built by the same pure builders the run uses
(:func:`gridflow.backends.planned_commands`), so what is shown is what would
run. :func:`preflight` builds every command once before a real run, so a
parameter no process can receive (a NUL byte) is refused before anything
changes on any node.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from gridflow.backends.actions import InvalidParams, planned_commands
from gridflow.backends.catalog import get_action
from gridflow.errors import Diagnostic, LoadError
from gridflow.jobs.model import BackendCheck, Check, Checks, JobPlan, Phase, Task
from gridflow.jobs.state import task_seed
from gridflow.nodes.base import NodeSpec


def preflight(plan: JobPlan) -> None:
    """Build every command of the job once; a LoadError lists what cannot run."""
    problems: list[Diagnostic] = []
    for task in plan.tasks():
        problems += _build_problems(task.backend, task.action, task, task.loc)
    for checks in [plan.checks, *(p.checks for p in plan.phases)]:
        for check in [*checks.pre, *checks.post, *checks.during]:
            if isinstance(check, BackendCheck):
                problems += _build_problems(check.backend, check.action, check, check.loc)
    if problems:
        raise LoadError(problems)


def _build_problems(
    backend: str, action: str, item: Task | BackendCheck, where: Any
) -> list[Diagnostic]:
    try:
        planned_commands(backend, action, item.action_params())
    except InvalidParams as exc:
        return [Diagnostic.at(where.pos(), "bad-param", p) for p in exc.problems]
    return []


def dry_run(plan: JobPlan, nodes: Sequence[NodeSpec]) -> dict[str, Any]:
    """The dry run as JSON-like data (what ``--check -o json`` prints)."""
    ids = [n.id for n in nodes]
    return {
        "name": plan.name,
        "dry_run": True,
        "target": str(plan.target),
        "strategy": plan.strategy,
        "timeout_s": plan.timeout_s,
        "expected": ids,
        "checks": _checks(plan.checks, ids),
        "phases": [_phase(plan, phase, ids) for phase in plan.phases],
    }


def _phase(plan: JobPlan, phase: Phase, ids: list[str]) -> dict[str, Any]:
    return {
        "index": phase.index,
        "kind": phase.kind,
        "name": phase.name,
        "condition": phase.condition,
        "concurrency": str(phase.concurrency) if phase.concurrency else None,
        "tolerate_failures": str(phase.tolerate_failures) if phase.tolerate_failures else None,
        "checks": _checks(phase.checks, ids),
        "tasks": [
            {
                "key": task.key,
                "name": task.name,
                "backend": task.backend,
                "action": task.action,
                "params": task.params,
                "shown_params": _written(task),
                "condition": task.condition,
                "timeout_s": task.timeout_s,
                "max_retries": task.max_retries,
                "commands": {
                    node: planned_commands(
                        task.backend,
                        task.action,
                        task.action_params(),
                        node_id=node,
                        seed=task_seed(plan.name, task),
                    )
                    for node in ids
                },
            }
            for task in phase.tasks
        ],
    }


def _written(task: Task) -> dict[str, Any]:
    """The task's parameters without those left at their defaults: what to show."""
    spec = get_action(task.backend, task.action)
    fields = spec.params.model_fields if spec is not None else {}
    out: dict[str, Any] = {}
    for name, value in task.params.items():
        field = fields.get(name)
        at_default = (
            field is not None
            and not field.is_required()
            and value == field.get_default(call_default_factory=True)
        )
        if at_default:
            continue
        out[name] = value
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _checks(checks: Checks, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage, listed in (("pre", checks.pre), ("post", checks.post), ("during", checks.during)):
        if listed:
            out[stage] = [_check(check, ids) for check in listed]
    if checks.during:
        out["during_interval_s"] = checks.during_interval_s
    return out


def _check(check: Check, ids: list[str]) -> dict[str, Any]:
    if isinstance(check, BackendCheck):
        return {
            "kind": "backend",
            "name": check.name,
            "backend": check.backend,
            "action": check.action,
            "commands": {
                node: planned_commands(
                    check.backend, check.action, check.action_params(), node_id=node
                )
                for node in ids
            },
        }
    return {
        "kind": "http",
        "name": check.name,
        "request": f"{check.method} {check.url}",
        "expect_status": check.expect_status,
    }


def dry_run_text(doc: dict[str, Any]) -> str:
    """The dry run for people: per phase and task, each node's command lines."""
    out = io.StringIO()
    w = out.write
    nodes = doc["expected"]
    w(
        f"dry run of job {doc['name']} on {len(nodes)} node{'s' if len(nodes) != 1 else ''} "
        f"({doc['target']}), strategy {doc['strategy']}: nothing was run\n"
    )
    _write_checks(w, "job", doc["checks"], indent="")
    for phase in doc["phases"]:
        title = f"phase {phase['index']}: {phase['kind']}"
        if phase["name"]:
            title += f" {phase['name']!r}"
        extras = []
        if phase["condition"]:
            extras.append(f"condition {phase['condition']}")
        if phase["concurrency"]:
            extras.append(f"concurrency {phase['concurrency']}")
        if phase["tolerate_failures"]:
            extras.append(f"tolerate_failures {phase['tolerate_failures']}")
        w(f"{title}{' (' + ', '.join(extras) + ')' if extras else ''}\n")
        _write_checks(w, "phase", phase["checks"], indent="  ")
        for task in phase["tasks"]:
            params = " ".join(f"{k}={_show(v)}" for k, v in task["shown_params"].items())
            head = f"  {task['key']} {task['backend']} {task['action']}"
            head += f" {params}" if params else ""
            if task["condition"]:
                head += f" (condition {task['condition']})"
            w(head + "\n")
            _write_commands(w, task["commands"], indent="    ")
    return out.getvalue()


def _write_checks(w: Any, scope: str, checks: dict[str, Any], *, indent: str) -> None:
    for stage in ("pre", "post", "during"):
        for check in checks.get(stage, []):
            label = check["name"] or (
                check["request"]
                if check["kind"] == "http"
                else f"{check['backend']} {check['action']}"
            )
            if check["kind"] == "http":
                w(f"{indent}{scope} {stage}-check {label}: {check['request']} from the worker\n")
                continue
            w(f"{indent}{scope} {stage}-check {label}\n")
            _write_commands(w, check["commands"], indent=indent + "  ")


def _write_commands(w: Any, commands: dict[str, list[str]], *, indent: str) -> None:
    width = max((len(node) for node in commands), default=0)
    for node, lines in commands.items():
        for i, line in enumerate(lines):
            label = node if i == 0 else ""
            w(f"{indent}{label:<{width}}  {line}\n")
