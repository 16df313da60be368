"""Plan → Airflow DAG, in memory (the dags-folder loader and ``--engine airflow``).

Everything about the DAG's shape is decided in :mod:`.shape`; this module
only turns those decisions into Airflow objects, exactly as the code that
``gridflow compile --to airflow`` writes does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import DAG, Param, task_group

from gridflow.burst.modes import resolve_burst_modes
from gridflow.operators.grid import GridBurstOperator, GridInstancesOperator, GridStepOperator
from gridflow.plan import Plan

from .shape import DagShape, GroupShape, TaskShape, dag_shape, operator_settings


def build_dag(
    plan: Plan,
    *,
    dag_id: str | None = None,
    base_dir: str | None = None,
    tags: Sequence[str] = ("gridflow",),
    doc_md: str | None = None,
    dag_kwargs: Mapping[str, Any] | None = None,
) -> DAG:
    """The DAG for ``plan``: not scheduled, triggered by hand or through the API."""
    plan = resolve_burst_modes(plan)  # the DAG's shape fixes which fan-outs are bursts
    shape = dag_shape(plan, dag_id=dag_id)
    dag = DAG(
        dag_id=shape.dag_id,
        description=shape.description,
        schedule=None,
        catchup=False,
        fail_fast=True,
        params=dag_params(shape),
        tags=list(tags),
        doc_md=doc_md,
        **dict(dag_kwargs or {}),
    )
    with dag:
        tasks: dict[str, Any] = {}
        for item in shape.items:
            if isinstance(item, GroupShape):
                _add_group(plan, item, tasks, base_dir)
            else:
                tasks[item.task_id] = _add_task(plan, item, tasks, base_dir, position=0)
        for shaped in shape.tasks():
            target = tasks[_full_id(shaped)]
            for up in shaped.upstream:
                tasks[up] >> target
    return dag


def dag_params(shape: DagShape) -> dict[str, Param]:
    return {
        p.name: Param(p.default, description=p.description or None, **p.schema)
        for p in shape.params
    }


def operator_kwargs(shaped: TaskShape) -> dict[str, Any]:
    """Airflow arguments for one task (besides plan, base_dir and position)."""
    return {"task_id": shaped.task_id, "step_id": shaped.step_id, **operator_settings(shaped)}


def _add_task(
    plan: Plan, shaped: TaskShape, tasks: Mapping[str, Any], base_dir: str | None, position: Any
) -> Any:
    kwargs = {**operator_kwargs(shaped), "plan": plan, "base_dir": base_dir}
    if shaped.kind == "instances":
        return GridInstancesOperator(**kwargs)
    if shaped.kind == "burst":
        return GridBurstOperator(shards=1, **kwargs)
    if shaped.kind == "burst_merge":
        return GridBurstOperator(shards=shaped.shards, merge=True, **kwargs)
    if shaped.kind == "burst_shard":
        return GridBurstOperator.partial(shards=shaped.shards, **kwargs).expand(
            shard=list(range(shaped.shards))
        )
    if shaped.expand_over is not None:
        counter = tasks[shaped.expand_over]
        return GridStepOperator.partial(**kwargs).expand(position=counter.output)
    return GridStepOperator(position=position, **kwargs)


def _add_group(plan: Plan, group: GroupShape, tasks: dict[str, Any], base_dir: str | None) -> None:
    def body(position: Any) -> None:
        for shaped in group.tasks:
            tasks[_full_id(shaped)] = _add_task(plan, shaped, tasks, base_dir, position)

    make: Callable[..., Any] = task_group(group_id=group.group_id)(body)
    make.expand(position=tasks[group.expand_over].output)  # type: ignore[attr-defined]


def _full_id(shaped: TaskShape) -> str:
    return f"{shaped.group}.{shaped.task_id}" if shaped.group else shaped.task_id
