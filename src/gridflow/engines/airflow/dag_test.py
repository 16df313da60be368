"""Airflow's DAG test mode as ``gridflow run --engine airflow`` uses it.

Grid runs (:mod:`.run`) and job runs (:mod:`.job_run`) share everything
about it: Airflow pointed at a throwaway SQLite metadata DB under
``$GRIDFLOW_HOME/airflow`` before anything imports Airflow, a DAG file
written into that dags folder (with its plan beside it), the file loaded
and run with ``dag.test()`` in this process, and the XComs its tasks pushed
read back. What differs (which DAG, which operators' secrets, how the
XComs become a run) stays with each engine module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from gridflow.runtime.masking import Masker


def engine_home() -> Path:
    """``$GRIDFLOW_HOME``, where the engine keeps Airflow's home."""
    return Path(os.environ.get("GRIDFLOW_HOME") or Path.home() / ".gridflow")


def configure_airflow_environment(gridflow_home: Path) -> Path:
    """Point Airflow at ``$GRIDFLOW_HOME/airflow`` before anything imports it.

    Airflow reads its configuration once per process, so the first call in a
    process decides; later calls return the same dags folder.
    """
    if _configured:
        return _configured[0]
    home = gridflow_home / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", _fernet_key(home))
    # Airflow's own progress lines would drown gridflow's; -v shows them.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    _configured.append(dags)
    return dags


_configured: list[Path] = []


def _fernet_key(home: Path) -> str:
    """A Fernet key kept with the throwaway DB, so sealed records can be opened."""
    path = home / "fernet.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    path.touch(mode=0o600)
    path.write_text(key, encoding="utf-8")
    return key


_DAG_FILE = '''"""Written by gridflow run --engine airflow; rewritten on every run."""
from pathlib import Path

from {build_module} import {build}
from {plan_module} import {plan_type}

_here = Path(__file__)
dag = {build}(
    {plan_type}.from_json(_here.with_suffix("{plan_suffix}").read_text(encoding="utf-8")),
{arguments})
'''


def write_dag_file(
    dags: Path,
    dag_id: str,
    *,
    build: str,
    plan_type: str,
    plan_suffix: str,
    plan: str,
    **arguments: object,
) -> Path:
    """``<dag_id>.py`` and its plan (``<dag_id><plan_suffix>``) in the dags folder.

    The DAG must come from a file inside Airflow's dags folder. That file
    calls ``build`` (a ``module:function``) with the plan, read back as
    ``plan_type`` (``module:class``), the ``dag_id`` and ``arguments``
    (written as Python literals). Both files are rewritten on every run;
    returns the DAG file's path.
    """
    build_module, _, build_name = build.partition(":")
    plan_module, _, plan_name = plan_type.partition(":")
    lines = "".join(f"    {k}={v!r},\n" for k, v in {"dag_id": dag_id, **arguments}.items())
    (dags / f"{dag_id}{plan_suffix}").write_text(plan, encoding="utf-8")
    dag_file = dags / f"{dag_id}.py"
    source = _DAG_FILE.format(
        build_module=build_module,
        build=build_name,
        plan_module=plan_module,
        plan_type=plan_name,
        plan_suffix=plan_suffix,
        arguments=lines,
    )
    dag_file.write_text(source, encoding="utf-8")
    return dag_file


class XComRow(NamedTuple):
    """One value a task of the run pushed, deserialized."""

    task_id: str
    key: str
    value: Any


def run_dag_test(
    dag_file: Path,
    *,
    module_name: str,
    secret_sinks: list[Callable[[str], None]],
    masker: Masker,
    run_conf: dict[str, Any] | None = None,
) -> tuple[Any, list[XComRow]]:
    """Run the DAG ``dag`` of ``dag_file`` with ``dag.test()``: (its DAG run, every XCom pushed).

    ``secret_sinks`` is the operators' list of where a task's secrets go
    besides Airflow's masker: the tasks run in this process, so ``masker``
    joins it for the run and what gridflow prints is masked too. Airflow's
    own output goes to stderr, keeping stdout for gridflow's result.
    """
    with _secrets_to(secret_sinks, masker), contextlib.redirect_stdout(sys.stderr):
        dag = _load_dag(dag_file, module_name)
        dag_run = dag.test(run_conf=run_conf)
        rows = _xcom_rows(dag.dag_id, dag_run.run_id)
    return dag_run, rows


@contextlib.contextmanager
def _secrets_to(sinks: list[Callable[[str], None]], masker: Masker) -> Iterator[None]:
    sinks.append(masker.add)
    try:
        yield
    finally:
        sinks.remove(masker.add)


def _load_dag(path: Path, module_name: str) -> Any:
    from airflow.utils import db

    db.upgradedb()
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _xcom_rows(dag_id: str, run_id: str) -> list[XComRow]:
    from airflow.models.xcom import XComModel
    from airflow.settings import Session

    assert Session is not None  # configured when airflow was imported
    with Session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id)).all()
        return [XComRow(row.task_id, row.key, XComModel.deserialize_value(row)) for row in rows]
