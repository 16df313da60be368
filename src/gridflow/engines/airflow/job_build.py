"""Job plan → Airflow DAG, in memory (the dags-folder loader and ``--engine airflow``).

The shape (task ids, mapping, trigger rules, retries, timeouts, the
during-checks sensors beside their scopes) is decided in :mod:`.job_shape`;
this module only makes the Airflow objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task_group

from gridflow.jobs.model import JobPlan
from gridflow.operators.job import (
    JobChecksOperator,
    JobDuringChecksSensor,
    JobNodeTaskOperator,
    JobResultOperator,
)

from .job_shape import (
    JobDagShape,
    JobTaskShape,
    PipelineShape,
    SensorMode,
    job_dag_shape,
    operator_settings,
)


def build_job_dag(
    plan: JobPlan,
    *,
    nodes: Sequence[str],
    inventory: str | None,
    dag_id: str | None = None,
    tags: Sequence[str] = ("gridflow", "gridflow-job"),
    doc_md: str | None = None,
    during_mode: SensorMode = "poke",
) -> DAG:
    """The DAG running ``plan`` on ``nodes`` (ids of ``inventory``, read on the
    workers; None: ``$GRIDFLOW_INVENTORY`` there). Triggered by hand or the API;
    one run at a time, since two runs of a job would work on the same nodes.
    ``during_mode="reschedule"`` is for runs that start one task at a time
    (DAG test mode), where a poking sensor would keep its scope from running."""
    shape = job_dag_shape(plan, list(nodes), dag_id=dag_id, during_mode=during_mode)
    timeout = shape.dagrun_timeout_s
    dag = DAG(
        dag_id=shape.dag_id,
        description=shape.description,
        schedule=None,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=None if timeout is None else timedelta(seconds=timeout),
        tags=list(tags),
        doc_md=doc_md,
    )
    common = {
        "plan": plan,
        "node_ids": list(shape.nodes),
        "inventory": inventory,
        "record_task_ids": [t.full_id for t in shape.tasks() if t.kind != "result"],
    }
    with dag:
        made: list[Any] = []
        for item in shape.items:
            made.append(
                _pipeline(item, shape, common)
                if isinstance(item, PipelineShape)
                else _task(item, shape, common)
            )
            if len(made) > 1:
                made[-2] >> made[-1]
        for beside in shape.beside:
            sensor = _task(beside.task, shape, common)
            if beside.first > 0:
                made[beside.first - 1] >> sensor
            sensor >> made[beside.last + 1]  # the result comes last: there always is one
    return dag


def _task(shaped: JobTaskShape, shape: JobDagShape, common: dict[str, Any]) -> Any:
    kwargs = {**common, "task_id": shaped.task_id, **operator_settings(shaped)}
    if shaped.kind == "checks":
        assert shaped.stage is not None
        return JobChecksOperator(scope=shaped.scope, stage=shaped.stage, **kwargs)
    if shaped.kind == "result":
        return JobResultOperator(**kwargs)
    if shaped.kind == "during":
        assert shaped.interval_s is not None
        return JobDuringChecksSensor(
            scope=shaped.scope, interval_s=shaped.interval_s, watched=shaped.watched, **kwargs
        )
    assert shaped.key is not None
    return JobNodeTaskOperator.partial(key=shaped.key, **kwargs).expand(node=list(shape.nodes))


def _pipeline(item: PipelineShape, shape: JobDagShape, common: dict[str, Any]) -> Any:
    def body(node: Any) -> None:
        before: Any = None
        for shaped in item.tasks:
            assert shaped.key is not None
            kwargs = {**common, "task_id": shaped.task_id, **operator_settings(shaped)}
            made = JobNodeTaskOperator(key=shaped.key, node=node, **kwargs)
            if before is not None:
                before >> made
            before = made

    make: Callable[..., Any] = task_group(group_id=item.group_id)(body)
    return make.expand(node=list(shape.nodes))  # type: ignore[attr-defined]
