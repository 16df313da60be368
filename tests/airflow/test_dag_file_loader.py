"""`load_dag`: one loader file per grid or job, a broken one is an import error.

Parsed by Airflow's own DagBag (the code the dag-processor runs for each
file), so what is checked is what Airflow records: the DAGs it bags and the
import errors it keeps per file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflow.provider import DagFileError, load_dag

pytestmark = pytest.mark.airflow

GOOD = 'step "print" "hello" {\n  arguments { input = "hi" }\n}\n'
BROKEN = 'step "print" "x" {\n  arguments {\n    input = 2s\n  }\n}\n'


def loader(path: str) -> str:
    # The words "airflow" and "dag" keep the file in Airflow's safe-mode scan.
    return (
        f'"""Airflow DAG of {path}."""\n\n'
        "from gridflow.provider import load_dag\n\n"
        f'load_dag(globals(), "{path}")\n'
    )


def dagbag(folder: Path) -> object:
    from airflow.dag_processing.dagbag import DagBag

    # Error keys are relative to the bundle, as the dag-processor records them.
    return DagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder", safe_mode=True)


@pytest.fixture
def dags_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDFLOW_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "dags"
    (folder / "grids").mkdir(parents=True)
    (folder / "grids" / "good.hcl").write_text(GOOD)
    (folder / "grids" / "broken.hcl").write_text(BROKEN)
    (folder / "good_dag.py").write_text(loader("grids/good.hcl"))
    (folder / "broken_dag.py").write_text(loader("grids/broken.hcl"))
    return folder


def test_a_broken_grid_is_its_loader_files_import_error_alone(dags_folder: Path) -> None:
    bag = dagbag(dags_folder)
    assert set(bag.dags) == {"good"}  # type: ignore[attr-defined]
    errors = bag.import_errors  # type: ignore[attr-defined]
    assert list(errors) == ["broken_dag.py"]
    message = errors["broken_dag.py"]
    # Airflow shows the end of the stack trace, which ends with gridflow's
    # message: the grid's path as the user wrote it (relative to the loader's
    # folder), line, column, what is wrong and the hint.
    tail = message[message.index("gridflow.provider.loader.DagFileError: ") :]
    assert tail.splitlines() == [
        "gridflow.provider.loader.DagFileError: grids/broken.hcl:3:13: error: "
        'durations are strings: write "2s" [bare-duration]',
        '  hint: put the duration in quotes, e.g. input = "2s"',
    ]


def test_fixing_the_grid_turns_the_error_into_its_dag(dags_folder: Path) -> None:
    (dags_folder / "grids" / "broken.hcl").write_text(GOOD)
    bag = dagbag(dags_folder)
    assert set(bag.dags) == {"good", "broken"}  # type: ignore[attr-defined]
    assert bag.import_errors == {}  # type: ignore[attr-defined]


def test_a_folder_of_grid_files_is_one_dag(dags_folder: Path) -> None:
    project = dags_folder / "grids" / "project"
    project.mkdir()
    (project / "a.hcl").write_text(GOOD)
    (project / "b.hcl").write_text('step "print" "bye" {\n  arguments { input = "bye" }\n}\n')
    (dags_folder / "project_dag.py").write_text(loader("grids/project"))
    bag = dagbag(dags_folder)
    dag = bag.dags["project"]  # type: ignore[attr-defined]
    assert {t.task_id for t in dag.tasks} == {"print.hello", "print.bye"}


INVENTORY = """\
nodes:
  - { id: n1, connection: local }
"""


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ("target: all\ntasks:\n  - { backend: ping, action: echo, params: {message: a} }\n", None),
        ("target: all\ntasks:\n  - { backend: nosuch }\n", "job.yaml:3:"),
    ],
    ids=["loads", "broken"],
)
def test_a_job_file_loads_the_same_way(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch, job: str, expected: str | None
) -> None:
    monkeypatch.delenv("GRIDFLOW_INVENTORY", raising=False)
    jobs = dags_folder / "jobs"
    jobs.mkdir()
    (jobs / "inventory.yaml").write_text(INVENTORY)
    (jobs / "job.yaml").write_text(job)
    (dags_folder / "job_dag.py").write_text(loader("jobs/job.yaml"))
    bag = dagbag(dags_folder)
    errors = bag.import_errors  # type: ignore[attr-defined]
    if expected is None:
        assert "job" in bag.dags  # type: ignore[attr-defined]
        assert "job_dag.py" not in errors
    else:
        assert "job" not in bag.dags  # type: ignore[attr-defined]
        assert f"DagFileError: jobs/{expected}" in errors["job_dag.py"]


@pytest.mark.parametrize(
    "path", ["grids/nosuch.hcl", "grids", "grids/notes.txt"], ids=["missing", "no-grids", "other"]
)
def test_a_path_that_is_no_grid_or_job_says_what_to_give(tmp_path: Path, path: str) -> None:
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / "notes.txt").write_text("hello")
    with pytest.raises(DagFileError, match=f"load_dag: {path} is not a grid .* or a job"):
        load_dag({"__file__": str(tmp_path / "x.py")}, path)


def test_a_task_run_of_another_dag_builds_nothing(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker running a task of `good` parses only good_dag.py, but a task of
    # another DAG must not pay for (or fail on) this grid either.
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "other")
    namespace = {"__file__": str(dags_folder / "broken_dag.py")}
    assert load_dag(namespace, "grids/broken.hcl") is None
    assert set(namespace) == {"__file__"}
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "good")
    namespace = {"__file__": str(dags_folder / "good_dag.py")}
    dag = load_dag(namespace, "grids/good.hcl")
    assert dag is not None
    assert dag.dag_id == "good"
    assert namespace["gridflow_dag_good"] is dag
