"""The shape of a grid's Airflow DAG, decided once, without importing Airflow.

Both ways into Airflow read this: the in-memory builder (``build.py``, for
the dags-folder loader and ``gridflow run --engine airflow``) and the code
generator (``codegen.py``, for ``gridflow compile --to airflow``). Keeping
the decisions here means a compiled DAG file and a loaded grid always have
the same tasks, dependencies, retries and params.

Mapping (docs/decisions/0005-airflow-dag-shape.md):

* a step without fan-out → one task;
* a fanned-out step → a ``<step>.instances`` task that counts its instances,
  then the step as a mapped task (``partial().expand(position=...)``);
* an ``[each]`` chain → a mapped task group expanded over the chain root's
  count, so instance *i* of a later step waits only for instance *i*;
* every other reference waits for the whole upstream task (all instances);
* retry → retries / retry_delay / exponential backoff / max_retry_delay;
  timeout → execution_timeout (plus the step's delays and a grace period, so
  gridflow's own timeout fires first and records the error);
  concurrency.limit → max_active_tis_per_dagrun;
* a burst (docs/decisions/0006-bursts.md) → one task named after its head
  step running every instance of the fan-out and its ``[each]`` chain; with
  ``shards = K``, a task ``<step>.shard`` mapped over K shards and the head's
  task merging their results; instances retry inside, so these tasks do not;
* variables → params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from gridflow.plan import Plan, Step, Variable
from gridflow.plan.schema import json_schema, nullable

from .names import (
    burst_head,
    check_ids,
    dag_id_for,
    group_id_for,
    group_root,
    group_roots,
    instances_task_id,
    shard_task_id,
    task_id_for,
)

# Extra seconds past a step's own timeout before Airflow kills the task.
TIMEOUT_GRACE_S = 30.0
# Every task waits until all its upstream tasks are done, whatever their
# state: a step skipped by ``if`` must not skip its dependents. Failures still
# stop the run, through the DAG's fail-fast (which allows only this rule and
# all_success).
TRIGGER_RULE = "all_done_setup_success"
# gridflow's exponential backoff doubles the delay after each failed attempt.
EXPONENTIAL_MULTIPLIER = 2.0


@dataclass(frozen=True)
class TaskShape:
    """One operator: a step's task, or the task counting a step's instances."""

    task_id: str  # as written inside its group (Airflow adds the group prefix)
    step_id: str
    # burst: a whole burst in one task; burst_shard: its shards (mapped over
    # range(shards)); burst_merge: merges the shards' results
    kind: Literal["step", "instances", "burst", "burst_shard", "burst_merge"]
    group: str | None = None  # the mapped task group it is declared in
    expand_over: str | None = None  # instances task whose output this task maps over
    upstream: tuple[str, ...] = ()  # full task ids declared as upstream
    retries: int = 0
    retry_delay_s: float = 0.0
    exponential_backoff: bool = False
    max_retry_delay_s: float | None = None
    execution_timeout_s: float | None = None
    max_active_per_run: int | None = None
    shards: int = 1
    doc: str = ""


@dataclass(frozen=True)
class GroupShape:
    """A mapped task group: an ``[each]`` chain, expanded over its root's count."""

    group_id: str
    root_step: str
    expand_over: str  # the root's instances task
    tasks: tuple[TaskShape, ...]


@dataclass(frozen=True)
class ParamShape:
    """A DAG param from a grid variable (JSON-schema typed)."""

    name: str
    default: Any
    schema: dict[str, Any]
    description: str
    sensitive: bool


@dataclass(frozen=True)
class DagShape:
    dag_id: str
    description: str
    params: tuple[ParamShape, ...]
    # Instances tasks, plain and mapped step tasks, and groups, in the Plan's
    # order; an instances task always comes before what maps over it. The
    # other dependencies (``TaskShape.upstream``) are set once every task exists.
    items: tuple[TaskShape | GroupShape, ...] = field(default=())

    def tasks(self) -> list[TaskShape]:
        out: list[TaskShape] = []
        for item in self.items:
            out.extend(item.tasks if isinstance(item, GroupShape) else (item,))
        return out


def dag_shape(plan: Plan, *, dag_id: str | None = None) -> DagShape:
    """Decide the DAG for ``plan``. Raises UsageError for ids Airflow would refuse."""
    check_ids(plan)
    roots = group_roots(plan)
    members: dict[str, list[str]] = {r: [] for r in roots}
    for step in plan.steps.values():
        gid = group_root(plan, step, roots)
        if gid is not None:
            members[gid].append(step.id)

    items: list[TaskShape | GroupShape] = []
    placed: set[str] = set()
    for step in plan.steps.values():  # topological order
        if step.id in placed:
            continue
        if burst_head(plan, step.id) == step.id:
            burst_members = [s.id for s in plan.steps.values() if burst_head(plan, s.id) == step.id]
            items.extend(_burst(plan, step, burst_members, roots))
            placed.update(burst_members)
        elif step.id in roots:
            items.extend(_group(plan, step, members[step.id], roots))
            placed.update(members[step.id])
        else:
            items.extend(_single(plan, step, roots))
            placed.add(step.id)
    return DagShape(
        dag_id=dag_id or dag_id_for(plan.name),
        description=f"gridflow grid {plan.name}",
        params=tuple(param_shape(v) for v in plan.variables.values()),
        items=tuple(items),
    )


def _outside_upstream(plan: Plan, step: Step, roots: set[str]) -> list[str]:
    """Full task ids of ``step``'s upstream steps outside its own group."""
    own = group_root(plan, step, roots)
    out: dict[str, None] = {}
    for up in step.upstream_ids:
        if own is not None and group_root(plan, plan.steps[up], roots) == own:
            continue
        out.setdefault(task_id_for(plan, up, roots), None)  # burst members share a task
    return list(out)


def _burst(plan: Plan, head: Step, member_ids: list[str], roots: set[str]) -> list[TaskShape]:
    inner = set(member_ids)
    upstream: dict[str, None] = {}
    for sid in member_ids:
        for up in plan.steps[sid].upstream_ids:
            if up not in inner:
                upstream.setdefault(task_id_for(plan, up, roots), None)
    shards = max(1, head.load.shards)
    what = f"{head.id} and its [each] chain" if len(member_ids) > 1 else head.id
    if shards == 1:
        return [
            TaskShape(
                task_id=head.id,
                step_id=head.id,
                kind="burst",
                upstream=tuple(upstream),
                doc=f"Runs every instance of {what} as one burst ({head.loc}).",
            )
        ]
    shard = TaskShape(
        task_id=shard_task_id(head.id),
        step_id=head.id,
        kind="burst_shard",
        upstream=tuple(upstream),
        shards=shards,
        doc=f"One of {shards} shards of the burst of {what} ({head.loc}).",
    )
    merge = TaskShape(
        task_id=head.id,
        step_id=head.id,
        kind="burst_merge",
        upstream=(shard.task_id,),
        shards=shards,
        doc=f"Merges the {shards} shards of the burst of {what}: metrics, thresholds.",
    )
    return [shard, merge]


def _single(plan: Plan, step: Step, roots: set[str]) -> list[TaskShape]:
    upstream = tuple(_outside_upstream(plan, step, roots))
    if step.fan_out is None:
        return [_step_task(step, upstream=upstream)]
    counter = _instances_task(step, upstream)
    # Mapping over the counter's output already makes the counter upstream.
    return [counter, _step_task(step, upstream=(), expand_over=counter.task_id)]


def _group(plan: Plan, root: Step, member_ids: list[str], roots: set[str]) -> list[Any]:
    counter = _instances_task(root, tuple(_outside_upstream(plan, root, roots)))
    gid = group_id_for(root.id)
    inner = set(member_ids)
    tasks: list[TaskShape] = []
    for sid in member_ids:  # topological order, the root first
        step = plan.steps[sid]
        inside = [u for u in step.upstream_ids if u in inner]
        if step.each_of is not None and step.each_of not in inside:
            inside.insert(0, step.each_of)
        upstream = [f"{gid}.{u}" for u in inside]
        if sid != root.id:
            upstream.extend(_outside_upstream(plan, step, roots))
        tasks.append(_step_task(step, upstream=tuple(upstream), group=gid))
    return [counter, GroupShape(gid, root.id, counter.task_id, tuple(tasks))]


def _instances_task(step: Step, upstream: tuple[str, ...]) -> TaskShape:
    return TaskShape(
        task_id=instances_task_id(step.id),
        step_id=step.id,
        kind="instances",
        upstream=upstream,
        doc=f"Counts the instances of {step.id} ({step.loc}).",
    )


def _step_task(
    step: Step,
    *,
    upstream: tuple[str, ...],
    group: str | None = None,
    expand_over: str | None = None,
) -> TaskShape:
    retry = step.retry
    timeout = None
    if step.timeout_s is not None:
        timeout = step.timeout_s + step.delay_before_s + step.delay_after_s + TIMEOUT_GRACE_S
    return TaskShape(
        task_id=step.id,
        step_id=step.id,
        kind="step",
        group=group,
        expand_over=expand_over,
        upstream=upstream,
        retries=max(0, retry.attempts - 1),
        retry_delay_s=retry.delay_s,
        exponential_backoff=retry.backoff == "exponential",
        max_retry_delay_s=retry.max_delay_s,
        execution_timeout_s=timeout,
        max_active_per_run=step.concurrency_limit,
        doc=f"step {step.runner!r} {step.name!r} ({step.loc})",
    )


def operator_settings(shaped: TaskShape) -> dict[str, Any]:
    """Airflow operator arguments of one task besides its ids, plan and position.

    Durations are ``timedelta``s. The in-memory builder passes these as they
    are; the code generator writes them out, so both make the same DAG.
    """
    out: dict[str, Any] = {"trigger_rule": TRIGGER_RULE}
    if shaped.kind == "step":
        out["retries"] = shaped.retries
        if shaped.retries:
            out["retry_delay"] = timedelta(seconds=shaped.retry_delay_s)
            if shaped.exponential_backoff:
                out["retry_exponential_backoff"] = EXPONENTIAL_MULTIPLIER
            if shaped.max_retry_delay_s is not None:
                out["max_retry_delay"] = timedelta(seconds=shaped.max_retry_delay_s)
        if shaped.execution_timeout_s is not None:
            out["execution_timeout"] = timedelta(seconds=shaped.execution_timeout_s)
        if shaped.max_active_per_run is not None:
            out["max_active_tis_per_dagrun"] = shaped.max_active_per_run
    out["doc"] = shaped.doc
    return out


# ------------------------------------------------------------------- params


def param_shape(var: Variable) -> ParamShape:
    """A DAG param for ``var``. Sensitive variables never carry their default:
    it would show in the trigger form, the DAG's details and generated code."""
    schema = json_schema(var.type)
    default = var.default if var.has_default and not var.sensitive else None
    if default is None:
        schema = nullable(schema)
    return ParamShape(
        name=var.name,
        default=default,
        schema=schema,
        description=var.description
        + (" (sensitive: give it in the run's conf or GRIDFLOW_VAR_" + var.name + ")")
        * var.sensitive,
        sensitive=var.sensitive,
    )
