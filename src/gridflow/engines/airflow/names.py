"""Airflow ids for a Plan's steps: DAG id, task ids, mapped task group ids.

Kept free of Airflow imports: the DAG builder, the code generator and the
operators (which must find their upstream tasks' XComs) all derive ids here,
so the three can never disagree.

* A step's task id is its step id, ``<runner>.<name>`` (Airflow allows dots
  in task ids), prefixed by its group's id inside a mapped task group.
* A fanned-out step gets a task ``<runner>.<name>.instances`` that counts its
  instances; two dots, so it can never collide with a step id.
* An ``[each]`` chain is a mapped task group named after the chain's root
  step; group ids may not contain dots, hence ``<runner>__<name>``.
* A burst (a fan-out with its ``[each]`` chain run in one task) is one task
  named after its head step; with ``shards = K`` the shards are a mapped task
  ``<runner>.<name>.shard`` and the head's task merges them. Every member of
  the burst reads and writes through the head's task.
"""

from __future__ import annotations

import re

from gridflow.errors import UsageError
from gridflow.plan import Plan, Step

# Airflow's limit for ids stored in its metadata DB (ID_LEN).
MAX_ID_LEN = 250
_KEY_OK = re.compile(r"[A-Za-z0-9_.-]+")  # used with fullmatch: "$" would allow a final "\n"
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.-]+")
INSTANCES_SUFFIX = ".instances"
SHARD_SUFFIX = ".shard"


def burst_head(plan: Plan, step_id: str) -> str | None:
    """The step heading the burst ``step_id`` runs in (maybe itself), or None.

    Meaningful on a Plan whose modes were resolved for a fixed graph
    (:func:`gridflow.burst.modes.resolve_burst_modes`): there every fan-out
    says ``mode = "burst"`` or ``"tasks"``.
    """
    head = plan.chain_root(step_id) or step_id
    step = plan.steps[head]
    if step.load.mode == "burst" and step.each_of is None:
        return head
    return None


def shard_task_id(step_id: str) -> str:
    """The mapped task running the shards of ``step_id``'s burst."""
    return step_id + SHARD_SUFFIX


def dag_id_for(name: str) -> str:
    """A DAG id from a grid name: Airflow's allowed characters only."""
    cleaned = _NOT_KEY.sub("_", name).strip("._-") or "grid"
    return cleaned[:MAX_ID_LEN]


def check_dag_id(dag_id: str) -> None:
    """Refuse a DAG id Airflow would reject (one given by hand; derived ids are fine)."""
    if not _KEY_OK.fullmatch(dag_id) or len(dag_id) > MAX_ID_LEN:
        raise UsageError(
            f"{dag_id!r} cannot be an Airflow DAG id: use letters, digits, '_', '-' "
            f"and '.' only, at most {MAX_ID_LEN} characters"
        )


def group_roots(plan: Plan) -> set[str]:
    """Steps that head an ``[each]`` chain: each becomes a mapped task group."""
    roots: set[str] = set()
    for step in plan.steps.values():
        root = plan.chain_root(step.id)
        if root is not None and burst_head(plan, root) is None:
            roots.add(root)
    return roots


def group_id_for(root_step_id: str) -> str:
    return root_step_id.replace(".", "__")


def group_root(plan: Plan, step: Step, roots: set[str]) -> str | None:
    """The chain root whose mapped task group holds ``step`` (maybe itself), or None."""
    root = plan.chain_root(step.id)
    if root is not None:
        return root if root in roots else None
    return step.id if step.id in roots else None


def group_of(plan: Plan, step: Step, roots: set[str] | None = None) -> str | None:
    """The id of the mapped task group ``step`` is declared in, or None."""
    root = group_root(plan, step, group_roots(plan) if roots is None else roots)
    return group_id_for(root) if root is not None else None


def task_id_for(plan: Plan, step_id: str, roots: set[str] | None = None) -> str:
    """The full task id (group prefix included) of ``step_id``'s task."""
    head = burst_head(plan, step_id)
    if head is not None:
        return head
    group = group_of(plan, plan.steps[step_id], roots)
    return f"{group}.{step_id}" if group else step_id


def instances_task_id(step_id: str) -> str:
    """The task that counts a fanned-out step's (or chain's) instances."""
    return step_id + INSTANCES_SUFFIX


def count_source(plan: Plan, step_id: str) -> str | None:
    """The step whose ``.instances`` task counts ``step_id``'s instances, if fanned
    (a burst has no such task: its head's task reports its instances)."""
    if burst_head(plan, step_id) is not None:
        return None
    root = plan.chain_root(step_id)
    if root is not None:
        return root
    return step_id if plan.steps[step_id].fan_out is not None else None


def check_ids(plan: Plan) -> None:
    """Refuse a Plan whose ids Airflow would reject, before building anything."""
    roots = group_roots(plan)
    groups: dict[str, str] = {}
    for root in sorted(roots):
        gid = group_id_for(root)
        if gid in groups:
            raise UsageError(
                f"steps {groups[gid]} and {root} map to the same Airflow task group "
                f"id {gid!r}; rename one of them"
            )
        groups[gid] = root
    for step in plan.steps.values():
        for tid in (
            task_id_for(plan, step.id, roots),
            instances_task_id(step.id),
            shard_task_id(step.id),
        ):
            if not _KEY_OK.fullmatch(tid):
                raise UsageError(
                    f"{step.loc}: step {step.id!r} cannot be an Airflow task id "
                    "(letters, digits, '_', '-' and '.' only); rename the step"
                )
            if len(tid) > MAX_ID_LEN:
                raise UsageError(
                    f"{step.loc}: step id {step.id!r} makes an Airflow task id longer than "
                    f"{MAX_ID_LEN} characters; use a shorter name"
                )
