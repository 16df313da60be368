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

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
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

from .job_shape import RESULT_TASK_ID, job_dag_shape
from .job_tasks import use_session_factory
from .run import configure_airflow_environment, engine_home

_DAG_FILE = '''"""Written by gridflow run --engine airflow; rewritten on every run."""
from pathlib import Path

from gridflow.engines.airflow.job_build import build_job_dag
from gridflow.jobs.model import JobPlan

_here = Path(__file__)
dag = build_job_dag(
    JobPlan.from_json(_here.with_suffix(".job.json").read_text(encoding="utf-8")),
    dag_id={dag_id!r},
    nodes={nodes!r},
    inventory={inventory!r},
    during_mode="reschedule",  # DAG test mode runs one task at a time
)
'''


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
    (dags / f"{dag_id}.job.json").write_text(plan.to_json(), encoding="utf-8")
    (dags / f"{dag_id}.py").write_text(
        _DAG_FILE.format(dag_id=dag_id, nodes=node_ids, inventory=str(Path(inventory).resolve())),
        encoding="utf-8",
    )
    masker = masker if masker is not None else Masker()
    with (
        use_session_factory(session_factory),
        _secrets_to(masker),
        contextlib.redirect_stdout(sys.stderr),
    ):
        dag = _load_dag(dags / f"{dag_id}.py", dag_id)
        dag_run = dag.test()
        records = _records(dag_id, dag_run.run_id)
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


@contextlib.contextmanager
def _secrets_to(masker: Masker) -> Iterator[None]:
    """Secrets the tasks learn (they run in this process) mask our output too."""
    from gridflow.operators.job import secret_sinks

    secret_sinks.append(masker.add)
    try:
        yield
    finally:
        secret_sinks.remove(masker.add)


def _load_dag(path: Path, dag_id: str) -> Any:
    from airflow.utils import db

    db.upgradedb()
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"gridflow_job_{dag_id}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _records(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every record (and output) the run's tasks pushed, the result task's aside."""
    from airflow.models.xcom import XComModel
    from airflow.settings import Session

    assert Session is not None  # configured when airflow was imported
    out: list[dict[str, Any]] = []
    with Session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id)).all()
        for row in rows:
            if row.task_id == RESULT_TASK_ID:
                continue
            value = XComModel.deserialize_value(row)
            items = value if isinstance(value, list) else [value]
            out.extend(v for v in items if isinstance(v, dict))
    return out
