"""The one entry point from files to a runnable job: job + inventory + target.

``gridflow run`` calls :func:`load_job`; ``gridflow validate`` calls
:func:`check_job`, which also works without an inventory and does not read
secrets. Both report the problems of the job file and the inventory file
together, then resolve the target (refusing unknown groups and nodes and
empty selections) before anything runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from gridflow.errors import Diagnostic, LoadError
from gridflow.jobs.inventory import Inventory, find_inventory, load_inventory, require_inventory
from gridflow.jobs.model import JobPlan, Target
from gridflow.jobs.targets import select, target_from_cli
from gridflow.jobs.translate import read_job
from gridflow.nodes.base import NodeSpec


@dataclasses.dataclass(frozen=True)
class JobCheck:
    plan: JobPlan
    inventory: Inventory | None  # None: no inventory given, nodes not resolved
    nodes: tuple[NodeSpec, ...]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return self.inventory.warnings if self.inventory else ()

    def summary(self) -> str:
        """One line for ``gridflow validate``."""
        plan = self.plan
        tasks = len(plan.tasks())
        parts = [
            _count(len(plan.phases), "phase"),
            _count(tasks, "task"),
        ]
        checks = plan.checks.count() + sum(p.checks.count() for p in plan.phases)
        if checks:
            parts.append(_count(checks, "check"))
        if self.inventory is None:
            parts.append(f"target {plan.target} (no inventory given: nodes not resolved)")
        else:
            parts.append(f"{_count(len(self.nodes), 'node')} ({plan.target})")
        return f"ok: {plan.name}: {', '.join(parts)}"


def load_job(
    path: str | Path,
    inventory: str | Path | None = None,
    *,
    target: str | Target | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[JobPlan, list[NodeSpec]]:
    """The job at ``path`` and the nodes it runs on, ready to run.

    ``inventory`` defaults to ``$GRIDFLOW_INVENTORY``; without either this is
    a UsageError. ``target`` (``-t group:web``) replaces the file's target.
    Secrets (``password_env``) are read from ``environ`` (default: the
    process environment). Raises LoadError / UsageError, nothing else.
    """
    found = require_inventory(inventory, environ)
    checked = _check(path, found, target, environ, resolve_secrets=True)
    return checked.plan, list(checked.nodes)


def check_job(
    path: str | Path,
    inventory: str | Path | None = None,
    *,
    target: str | Target | None = None,
    environ: Mapping[str, str] | None = None,
) -> JobCheck:
    """Validate a job (and, when one is given or set, its inventory and target)
    without reading secrets; for ``gridflow validate``."""
    found = find_inventory(inventory, environ)
    return _check(path, found, target, environ, resolve_secrets=False)


def _check(
    path: str | Path,
    inventory: Path | None,
    target: str | Target | None,
    environ: Mapping[str, str] | None,
    *,
    resolve_secrets: bool,
) -> JobCheck:
    override = target_from_cli(target) if isinstance(target, str) else target
    problems: list[Diagnostic] = []
    plan: JobPlan | None = None
    try:
        plan = read_job(path, target=override)
    except LoadError as exc:
        problems.extend(exc.diagnostics)
    loaded: Inventory | None = None
    if inventory is not None:
        try:
            loaded = load_inventory(inventory, environ=environ, resolve_secrets=resolve_secrets)
        except LoadError as exc:
            problems.extend(exc.diagnostics)
    if problems or plan is None:
        raise LoadError(problems)
    if loaded is None:
        return JobCheck(plan, None, ())
    nodes = select(loaded.nodes, plan.target, inventory=loaded.source)
    return JobCheck(plan, loaded, tuple(nodes))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
