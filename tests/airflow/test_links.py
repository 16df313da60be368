"""The "Grid source" / "Job source" extra links on Airflow's DAG test mode, in this process.

Grids and jobs go in a folder of Airflow's dags folder with a one-line
loader, as users put them; ``dag.test()`` runs their tasks here, and the
Task SDK computes each task's links when the task ends and pushes them to
XCom. Then the links are read the way the API server reads them: from the
serialized DAG (which keeps only each link's name and XCom key) and the
task instance in the metadata DB. The real servers show the same through
the REST API in test_dags_on_airflow.py.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]

TEMPLATE = "https://git.test/acme/ops/blob/main/{path}#L{line}"

GRID = """\
variable "who" {
  type    = string
  default = "world"
}

step "print" "hello" {
  arguments { input = "hello ${var.who}" }
}

step "print" "each" {
  count = 2
  mode  = "tasks"
  arguments { input = "n ${count.index}" }
}

step "print" "burst" {
  count = 3
  mode  = "burst"
  arguments { input = "b ${count.index}" }
}
"""

JOB = """\
name: linked
target: group:web
checks:
  pre: [{ backend: ping, action: hostname }]
tasks:
  - { backend: ping, action: echo, params: { message: a } }
  - name: pair
    tasks:
      - { backend: test, action: succeed }
"""

INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
"""

# Airflow's safe mode only parses files that mention "airflow" and "dag".
LOADER = """\
\"\"\"Airflow DAGs from the grids and jobs beside this file.\"\"\"
from gridflow.provider import load_dags

dag = load_dags(globals())[{dag_id!r}]
"""


def line_of(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle`` (exactly one)."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


@pytest.fixture
def dags_folder() -> Path:
    from gridflow.engines.airflow.dag_test import configure_airflow_environment, engine_home

    # tests/airflow/conftest.py configured this process's Airflow; this returns its folder.
    return configure_airflow_environment(engine_home())


@pytest.fixture
def template(monkeypatch: pytest.MonkeyPatch) -> str:
    # What a deployment sets in airflow.cfg or the environment; read on every use.
    monkeypatch.setenv("AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE", TEMPLATE)
    return TEMPLATE


def _folder(dags: Path, kind: str) -> tuple[Path, str]:
    """A new folder of the dags folder with a loader in it: (folder, DAG id).

    The grid or job file the test writes there is named after the DAG id.
    """
    dag_id = f"links_{kind}_{uuid.uuid4().hex[:8]}"
    folder = dags / dag_id
    folder.mkdir()
    (folder / "gridflow_dags.py").write_text(LOADER.format(dag_id=dag_id), encoding="utf-8")
    return folder, dag_id


def _job_folder(dags: Path, kind: str) -> tuple[Path, str]:
    folder, dag_id = _folder(dags, kind)
    (folder / f"{dag_id}.yaml").write_text(JOB, encoding="utf-8")
    (folder / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    return folder, dag_id


def _run(folder: Path) -> tuple[Any, dict[str, set[str]]]:
    """Run the folder's DAG; (its run, the links each task pushed by XCom key)."""
    from gridflow.engines.airflow.dag_test import run_dag_test
    from gridflow.runtime.masking import Masker

    dag_run, rows = run_dag_test(
        folder / "gridflow_dags.py",
        module_name=f"gridflow_links_{folder.name}",
        secret_sinks=[],
        masker=Masker(),
    )
    links: dict[str, set[str]] = {}
    for row in rows:
        if row.key.startswith("_link_"):
            links.setdefault(f"{row.task_id} {row.key}", set()).add(row.value)
    return dag_run, links


def _api_links(dag_id: str, run_id: str) -> dict[tuple[str, int], dict[str, str | None]]:
    """Every task instance's links as the API server computes them (extra_links route)."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.settings import Session
    from sqlalchemy import select

    assert Session is not None
    with Session() as session:
        model = session.scalar(
            select(SerializedDagModel).where(SerializedDagModel.dag_id == dag_id)
        )
        assert model is not None
        dag = model.dag
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        out: dict[tuple[str, int], dict[str, str | None]] = {}
        for ti in tis:
            task = dag.get_task(ti.task_id)
            out[(ti.task_id, ti.map_index)] = {
                name: task.get_extra_links(ti, name) or None for name in task.extra_links
            }
        return out


def test_grid_tasks_link_to_their_step(dags_folder: Path, template: str) -> None:
    folder, dag_id = _folder(dags_folder, "grid")
    (folder / f"{dag_id}.hcl").write_text(GRID, encoding="utf-8")
    dag_run, links = _run(folder)
    assert dag_run.state == "success"

    path = f"{folder.name}/{dag_id}.hcl"  # relative to the dags folder (the default bundle)

    def url(step: str) -> str:
        return f"https://git.test/acme/ops/blob/main/{path}#L{line_of(GRID, step)}"

    hello, each, burst = url('"print" "hello"'), url('"print" "each"'), url('"print" "burst"')
    key = "_link_GridSourceLink"
    assert links == {
        f"print.hello {key}": {hello},  # GridStepOperator
        f"print.each.instances {key}": {each},  # GridInstancesOperator
        f"print.each {key}": {each},  # its mapped GridStepOperator (both instances)
        f"print.burst {key}": {burst},  # GridBurstOperator
    }
    # What the API server answers: the serialized task knows the link by name
    # and reads the URL back from XCom; every map index has its own.
    assert _api_links(dag_id, dag_run.run_id) == {
        ("print.hello", -1): {"Grid source": hello},
        ("print.each.instances", -1): {"Grid source": each},
        ("print.each", 0): {"Grid source": each},
        ("print.each", 1): {"Grid source": each},
        ("print.burst", -1): {"Grid source": burst},
    }


def test_job_tasks_link_to_their_task_or_check(dags_folder: Path, template: str) -> None:
    folder, dag_id = _job_folder(dags_folder, "job")
    dag_run, links = _run(folder)
    assert dag_run.state == "success"

    def url(needle: str) -> str:
        line = line_of(JOB, needle) if needle else 1
        return f"https://git.test/acme/ops/blob/main/{folder.name}/{dag_id}.yaml#L{line}"

    found: dict[str, set[str | None]] = {}
    for (task_id, _), names in _api_links(dag_id, dag_run.run_id).items():
        found.setdefault(task_id, set()).add(names["Job source"])
    assert found == {
        "job.pre_checks": {url("action: hostname")},  # JobChecksOperator
        "0.ping.echo": {url("action: echo")},  # JobNodeTaskOperator, on both nodes
        "phase1_pair.1.0.test.succeed": {url("action: succeed")},
        "job.result": {url("")},  # JobResultOperator: the job file itself
    }
    assert all(len(v) == 1 for v in links.values())
    assert {k.split()[1] for k in links} == {"_link_JobSourceLink"}


def test_without_a_template_the_link_is_disabled(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE", raising=False)
    folder, dag_id = _folder(dags_folder, "unset")
    (folder / f"{dag_id}.hcl").write_text(GRID, encoding="utf-8")
    dag_run, links = _run(folder)
    assert dag_run.state == "success"
    assert links
    assert all(v == {""} for v in links.values())
    # The API server answers null: the UI shows the button disabled.
    assert {n for names in _api_links(dag_id, dag_run.run_id).values() for n in names.values()} == {
        None
    }


def test_a_bad_template_warns_in_the_task_log_and_fails_nothing(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE", "https://git.test/{repo}/{path}#L{line}"
    )
    folder, _ = _job_folder(dags_folder, "badtpl")
    with caplog.at_level(logging.WARNING, logger="gridflow.operators.links"):
        dag_run, links = _run(folder)
    assert dag_run.state == "success"
    assert links
    assert all(v == {""} for v in links.values())
    warnings = [r.getMessage() for r in caplog.records if r.name == "gridflow.operators.links"]
    assert warnings
    assert all(
        w.startswith(
            "Job source link: [gridflow] source_url_template has an unknown placeholder {repo}"
        )
        for w in warnings
    )


# A loader-built DAG's during-check sensors poke (they wait in their worker
# slot), and DAG test mode runs one task at a time, so a run here could wait
# on a sensor whose scope never gets its turn. Their locations are checked
# on the built DAG instead; the link itself is the same code as every task's.
WATCHED = """\
name: watched
target: group:web
checks:
  post: [{ backend: ping, action: hostname }]
  during: { interval: 1h, checks: [{ backend: ping, action: echo, params: { message: job } }] }
tasks:
  - backend: test
    action: succeed
    checks:
      pre: [{ backend: test, action: succeed, params: { message: pre } }]
      during:
        interval: 1h
        checks: [{ backend: ping, action: echo, params: { message: phase } }]
"""


def test_checks_tasks_and_sensors_know_their_line(tmp_path: Path) -> None:
    from gridflow.provider.loader import load_dags

    (tmp_path / "watched.yaml").write_text(WATCHED, encoding="utf-8")
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    dag = load_dags({"__file__": str(tmp_path / "loader.py")}, tmp_path)["watched"]
    found = {
        t.task_id: (type(t).__name__, t.source_location().line)
        for t in dag.tasks
        if hasattr(t, "source_location")  # mapped node tasks: in the run above
    }
    assert found == {
        "0.pre_checks": ("JobChecksOperator", line_of(WATCHED, "message: pre")),
        "0.during_checks": ("JobDuringChecksSensor", line_of(WATCHED, "message: phase")),
        "job.during_checks": ("JobDuringChecksSensor", line_of(WATCHED, "message: job")),
        "job.post_checks": ("JobChecksOperator", line_of(WATCHED, "action: hostname")),
        "job.result": ("JobResultOperator", 1),
    }
    assert {t.source_location().file for t in dag.tasks if hasattr(t, "source_location")} == {
        str(tmp_path / "watched.yaml")
    }
