"""``gridflow run --engine airflow``: one grid run on Airflow, in this process.

Airflow's DAG test mode (``dag.test()``) runs a DAG run without a scheduler
or api-server, on a SQLite metadata DB kept under ``$GRIDFLOW_HOME/airflow``.
It runs the very DAG the dags-folder loader would build, so what passes here
runs the same way on a real Airflow. Limits: tasks run one at a time (mapped
instances and ``concurrency.limit`` included), and a fixed start-up of
several seconds (imports, DB migration check, first task).

The DAG must come from a file inside Airflow's dags folder; the run writes
``<dag_id>.py`` and the Plan beside it into ``$GRIDFLOW_HOME/airflow/dags``
(sensitive variable defaults removed: sensitive values reach the tasks
through the process environment, never through files or the run's conf).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gridflow.plan import Plan
from gridflow.plan import variables as plan_variables
from gridflow.runtime.masking import Masker
from gridflow.runtime.scheduler import GridRun
from gridflow.runtime.state import ErrorInfo, Instance

from .dag_test import (
    XComRow,
    configure_airflow_environment,
    engine_home,
    run_dag_test,
    write_dag_file,
)
from .names import burst_head, count_source, dag_id_for, instances_task_id, task_id_for
from .records import ERROR_XCOM_KEY, unseal


def run_grid(
    plan: Plan,
    values: Mapping[str, Any],
    *,
    run_id: str | None = None,
    base_dir: str | None = None,
    environ: Mapping[str, str] | None = None,
    max_parallel: int = 100,
    masker: Masker | None = None,
    on_event: Callable[[str, Instance], None] | None = None,
) -> GridRun:
    """Run ``plan`` with ``dag.test()``; same signature and result as the other engines."""
    del max_parallel  # DAG test mode runs one task at a time
    from gridflow.burst.modes import resolve_burst_modes

    plan = resolve_burst_modes(plan)  # as the DAG will: its task ids depend on it
    dags = configure_airflow_environment(engine_home())
    dag_id = dag_id_for(plan.name)
    public_plan, secret_env = _split_secrets(plan, values)
    dag_file = write_dag_file(
        dags,
        dag_id,
        build="gridflow.engines.airflow.build:build_dag",
        plan_type="gridflow.plan:Plan",
        plan_suffix=".plan.json",
        plan=public_plan.to_json(),
        base_dir=base_dir,
    )
    conf = {k: v for k, v in values.items() if k not in secret_env}
    masker = masker if masker is not None else Masker()
    from gridflow.operators.grid import secret_sinks  # imports Airflow: configured above

    with _env(secret_env):
        dag_run, xcoms = run_dag_test(
            dag_file,
            module_name=f"gridflow_run_{dag_id}",
            secret_sinks=secret_sinks,
            masker=masker,
            run_conf=conf,
        )
    records, counts, errors = _collected(plan, xcoms, masker)
    run = GridRun(plan, values, run_id=run_id or dag_run.run_id, base_dir=base_dir, masker=masker)
    for step_id in plan.steps:
        if burst_head(plan, step_id) is not None:
            found = records.get(step_id) or []
            if found and step_id in found[0]:
                run.restore_burst(step_id, found[0][step_id])
            continue
        counter = count_source(plan, step_id)
        if counter is not None and counter not in counts:
            continue  # never expanded: the run stopped before
        count = counts[counter] if counter is not None else None
        if count is None and not records.get(step_id):
            continue  # never ran
        run.restore(step_id, records.get(step_id, []), count=count)
    failure = ErrorInfo("expression", "; ".join(errors)) if errors else None
    run.conclude_restored(failure)
    if dag_run.start_date is not None:
        run.started = dag_run.start_date.timestamp()
    if dag_run.end_date is not None:
        run.ended = dag_run.end_date.timestamp()
    if on_event is not None:
        for step_id in plan.steps:
            for inst in run.instances(step_id):
                on_event(inst.status.value, inst)
    return run


def _split_secrets(plan: Plan, values: Mapping[str, Any]) -> tuple[Plan, dict[str, str]]:
    """The Plan without sensitive defaults, and the sensitive values as GRIDFLOW_VAR_*."""
    secret_env: dict[str, str] = {}
    for name, var in plan.variables.items():
        if var.sensitive and values.get(name) is not None:
            value = values[name]
            secret_env[name] = value if isinstance(value, str) else json.dumps(value)
    return plan_variables.public_plan(plan), secret_env


@contextlib.contextmanager
def _env(secret_env: Mapping[str, str]) -> Iterator[None]:
    keys = {f"GRIDFLOW_VAR_{name}": text for name, text in secret_env.items()}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _collected(
    plan: Plan, xcoms: list[XComRow], masker: Masker
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int], list[str]]:
    """(records per step, instance counts per counted step, errors outside instances)."""
    from airflow.sdk.crypto import get_fernet

    cipher = get_fernet()
    by_task: dict[str, list[Any]] = {}
    errors: list[str] = []
    for row in xcoms:
        if row.key == ERROR_XCOM_KEY:
            errors.append(str(row.value))
        elif row.key == "return_value":
            by_task.setdefault(row.task_id, []).append(row.value)
    records: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for step_id in plan.steps:
        found = by_task.get(task_id_for(plan, step_id), [])
        records[step_id] = [unseal(r, cipher, masker) for r in found if isinstance(r, dict)]
        positions = by_task.get(instances_task_id(step_id))
        if positions:
            counts[step_id] = len(positions[0])
    return records, counts, errors
