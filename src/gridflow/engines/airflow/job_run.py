"""``gridflow run JOB.yaml --engine airflow``: one job run on Airflow, in this process.

As for grids (:mod:`.run`): Airflow's DAG test mode runs the very DAG the
dags-folder loader builds, on the SQLite DB under ``$GRIDFLOW_HOME/airflow``,
one task at a time. The run writes ``<dag_id>.py`` and the job plan beside
it into the dags folder; the DAG's tasks read the nodes from the inventory
file, as workers do. The result is the job's run rebuilt from every record
the tasks pushed: the same document the DAG's ``job.result`` task makes.

One task at a time has consequences the local engine does not show: when a
node's failure stops its phase, the nodes whose task comes after it in
Airflow's order have not started, so they are reported ``cancelled``
("never started") instead of running beside it. And a phase's
during-checks sensor cannot poke beside its phase (it would hold the one
slot its phase needs): it runs in ``reschedule`` mode, a round between two
of the phase's tasks when one is due.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gridflow.engines.airflow.names import dag_id_for
from gridflow.jobs.execute import SessionFactory
from gridflow.jobs.model import JobPlan
from gridflow.jobs.replay import replay
from gridflow.jobs.run import JobRun
from gridflow.jobs.state import JobEvent
from gridflow.nodes.base import NodeSpec
from gridflow.runtime.masking import Masker

from .dag_test import (
    XComRow,
    configure_airflow_environment,
    engine_home,
    run_dag_test,
    write_dag_file,
)
from .job_shape import RESULT_TASK_ID, job_dag_shape
from .job_tasks import use_session_factory


def run_job(
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    *,
    inventory: str | Path,
    session_factory: SessionFactory | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    masker: Masker | None = None,
    run_id: str | None = None,
) -> JobRun:
    """Run ``plan`` on ``nodes`` (from ``inventory``) with ``dag.test()``.

    Same result as the other engines' ``run_job``; ``on_event`` hears the
    run's events after it ended, with the times they happened.
    """
    dags = configure_airflow_environment(engine_home())
    dag_id = dag_id_for(plan.name)
    node_ids = [n.id for n in nodes]
    job_dag_shape(plan, node_ids, dag_id=dag_id)  # refuse what Airflow would refuse, first
    path = write_dag_file(
        dags,
        dag_id,
        build="gridflow.engines.airflow.job_build:build_job_dag",
        plan_type="gridflow.jobs.model:JobPlan",
        plan_suffix=".job.json",
        plan=plan.to_json(),
        nodes=node_ids,
        inventory=str(Path(inventory).resolve()),
        during_mode="reschedule",  # DAG test mode runs one task at a time
    )
    return run_job_dag_file(
        path,
        plan,
        nodes,
        session_factory=session_factory,
        on_event=on_event,
        masker=masker,
        run_id=run_id,
    )


def run_job_dag_file(
    path: Path,
    plan: JobPlan,
    nodes: Sequence[NodeSpec],
    *,
    session_factory: SessionFactory | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    masker: Masker | None = None,
    run_id: str | None = None,
) -> JobRun:
    """Run the job DAG ``dag`` of the module at ``path`` (a file in Airflow's
    dags folder: the one :func:`run_job` writes, or a compiled one) with
    ``dag.test()``, and rebuild ``plan``'s run on ``nodes`` from its records."""
    configure_airflow_environment(engine_home())
    masker = masker if masker is not None else Masker()
    from gridflow.operators.job import secret_sinks  # imports Airflow: configured above

    with use_session_factory(session_factory):
        dag_run, xcoms = run_dag_test(
            path,
            module_name=f"gridflow_job_{path.stem}",
            secret_sinks=secret_sinks,
            masker=masker,
        )
    records = _records(xcoms)
    started = dag_run.start_date.timestamp() if dag_run.start_date is not None else 0.0
    ended = dag_run.end_date.timestamp() if dag_run.end_date is not None else None
    deadline = None if plan.timeout_s is None else started + plan.timeout_s
    replayed = replay(
        plan,
        nodes,
        records,
        started_at=started,
        run_id=run_id or dag_run.run_id,
        masker=masker,
        done=lambda _: True,  # the DAG run is over: every task has ended
        deadline=deadline,
        now=ended,
        on_event=on_event,
    )
    run = replayed.run
    run.finish()
    return run


def _records(xcoms: list[XComRow]) -> list[dict[str, Any]]:
    """Every record (and output) the run's tasks pushed, the result task's aside."""
    out: list[dict[str, Any]] = []
    for row in xcoms:
        if row.task_id == RESULT_TASK_ID:
            continue
        items = row.value if isinstance(row.value, list) else [row.value]
        out.extend(v for v in items if isinstance(v, dict))
    return out
