"""Grids dropped into Airflow's dags folder, turned into DAGs by one line::

    # dags/gridflow_dags.py
    from gridflow.provider import load_dags

    load_dags(globals())

Every ``*.hcl`` file next to the loader file is one grid (one DAG), and so is
every sub-folder holding ``*.hcl`` files (all its files together, as
``gridflow run FOLDER`` reads them; ``profiles/`` folders hold variable
values). The DAG id is the file's stem or the folder's name.

* **Isolation.** A grid that does not load never hides the others: it
  becomes a DAG of the same id tagged ``gridflow-broken`` whose description
  and docs carry its ``file:line:col`` messages and whose one task fails with
  them; every other grid still becomes its DAG.
* **Cache.** Compiled Plans are cached by the hash of the grid's files (and
  the ``GRIDFLOW_VAR_*`` environment and gridflow's version), so re-parsing an
  unchanged folder costs reading files and JSON, not HCL compilation.
* **Parsing context.** When Airflow runs a task it sets the DAG id being run
  (``get_parsing_context()``); only that grid's DAG is built then.

**Jobs.** Every ``*.yaml`` / ``*.yml`` file directly in the folder is a job
(one DAG, id from the file's stem), except ``inventory.yaml`` /
``inventory.yml``: that is the inventory of the jobs beside it. Without one,
the inventory is the file ``$GRIDFLOW_INVENTORY`` names, which must then be
set (to the same path) for the dag-processor and on every worker. The job's
target is resolved when the folder is parsed (its nodes are the DAG's
mapped instances); the tasks read the nodes again, secrets included, on the
worker. A job that does not load becomes a broken DAG, as a grid does.

**One file per grid.** ``load_dag(globals(), "grids/x.hcl")`` builds one
grid's (or job's) DAG and raises when it does not load, so Airflow records
the error as that loader file's import error, touching no other file's DAGs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridflow._version import __version__
from gridflow.engines.airflow.names import dag_id_for
from gridflow.errors import GridflowError, UsageError
from gridflow.plan import Plan

log = logging.getLogger(__name__)

GRID_SUFFIX = ".hcl"
JOB_SUFFIXES = (".yaml", ".yml")
CACHE_ENV = "GRIDFLOW_CACHE_DIR"


@dataclass(frozen=True)
class GridSource:
    """One grid in the dags folder: a file, or a folder of files."""

    path: Path
    files: tuple[Path, ...]

    @property
    def dag_id(self) -> str:
        return dag_id_for(self.name)

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name


def load_dags(
    namespace: MutableMapping[str, Any],
    folder: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Build one DAG per grid under ``folder`` into ``namespace`` (a module's globals).

    ``folder`` defaults to the folder of the file that calls this. Returns the
    DAGs by id (broken grids excluded).
    """
    from airflow.sdk import get_parsing_context

    root = Path(folder) if folder is not None else Path(str(namespace["__file__"])).parent
    wanted = get_parsing_context().dag_id
    cache = _cache_dir(cache_dir)
    dags: dict[str, Any] = {}
    for source in find_grids(root):
        if wanted is not None and source.dag_id != wanted:
            continue
        try:
            dag = _grid_dag(source, cache, root)
        except GridflowError as exc:
            message = _relative(str(exc), root)
            log.error("gridflow: grid %s did not load:\n%s", source.path.name, message)
            namespace[_global_name(source.dag_id)] = _broken_dag(source, message)
            continue
        dags[dag.dag_id] = dag
        namespace[_global_name(dag.dag_id)] = dag
    for path in find_jobs(root):
        dag_id = dag_id_for(path.stem)
        if wanted is not None and dag_id != wanted:
            continue
        if dag_id in dags or _global_name(dag_id) in namespace:
            # A second DAG with the grid's id would replace it: say so, load neither twice.
            log.error(
                "gridflow: job %s was not loaded: its DAG id %r is a grid's in this folder; "
                "rename the job file",
                path.name,
                dag_id,
            )
            continue
        try:
            dag = _build_job(path, dag_id)
        except GridflowError as exc:
            message = _relative(str(exc), root)
            log.error("gridflow: job %s did not load:\n%s", path.name, message)
            namespace[_global_name(dag_id)] = _broken_job_dag(path, dag_id, message)
            continue
        dags[dag.dag_id] = dag
        namespace[_global_name(dag.dag_id)] = dag
    return dags


class DagFileError(GridflowError):
    """A grid or job given to :func:`load_dag` did not load.

    Raised out of the loader file on purpose: Airflow records it as that
    file's import error (its message ends the stack trace Airflow shows).
    """


def load_dag(
    namespace: MutableMapping[str, Any],
    path: str | Path,
    *,
    cache_dir: str | Path | None = None,
) -> Any | None:
    """Build the DAG of one grid or job into ``namespace`` (a module's globals)::

        # dags/checkout.py: Airflow DAG of the gridflow grid checkout.hcl
        from gridflow.provider import load_dag

        load_dag(globals(), "grids/checkout.hcl")

    ``path`` is a ``.hcl`` file, a folder of them, or a ``.yaml`` job,
    relative to the calling file's folder. One loader file per grid makes a
    broken grid an Airflow import error of that file alone: it raises
    :class:`DagFileError` with the grid's ``file:line:col`` messages, which
    Airflow lists under import errors, and no other DAG is touched (Airflow
    marks stale only the DAGs of the file that has the error). Returns the
    DAG, or None when Airflow is running a task of another DAG.
    """
    from airflow.sdk import get_parsing_context

    here = Path(str(namespace["__file__"])).parent
    target = here / path
    source = grid_source(target)
    if source is not None:
        dag_id = source.dag_id
    elif target.is_file() and target.suffix.lower() in JOB_SUFFIXES:
        dag_id = dag_id_for(target.stem)
    else:
        raise DagFileError(
            f"load_dag: {path} is not a grid (a .hcl file or a folder holding some) or a job "
            f"(.yaml) in {here}: give its path relative to the loader file's folder"
        )
    wanted = get_parsing_context().dag_id
    if wanted is not None and wanted != dag_id:
        return None
    try:
        if source is not None:
            dag = _grid_dag(source, _cache_dir(cache_dir), here)
        else:
            dag = _build_job(target, dag_id)
    except GridflowError as exc:
        raise DagFileError(_relative(str(exc), here)) from None
    namespace[_global_name(dag.dag_id)] = dag
    return dag


def find_jobs(root: Path) -> Iterator[Path]:
    """Job files directly in ``root`` (not its inventory)."""
    from gridflow.jobs.inventory import INVENTORY_NAMES

    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if (
            entry.is_file()
            and entry.suffix.lower() in JOB_SUFFIXES
            and not entry.name.startswith((".", "_"))
            and entry.name.lower() not in INVENTORY_NAMES
        ):
            yield entry


def job_inventory(job: Path) -> Path | None:
    """The inventory beside ``job``, or None (then ``$GRIDFLOW_INVENTORY``)."""
    from gridflow.jobs.inventory import find_beside

    return find_beside(job)


def _build_job(path: Path, dag_id: str) -> Any:
    from gridflow.engines.airflow.job_build import build_job_dag
    from gridflow.jobs import check_job
    from gridflow.jobs.dryrun import preflight
    from gridflow.jobs.inventory import INVENTORY_ENV, find_inventory

    beside = job_inventory(path)
    inventory = beside or find_inventory(None, os.environ)
    if inventory is None:
        raise UsageError(
            f"no inventory for this job: put an inventory.yaml beside {path.name} in the dags "
            f"folder, or set {INVENTORY_ENV} to one for the dag-processor and every worker"
        )
    # No secrets are read while parsing; the tasks read them on the worker.
    checked = check_job(path, inventory, environ=os.environ)
    preflight(checked.plan)
    return build_job_dag(
        checked.plan,
        nodes=[n.id for n in checked.nodes],
        inventory=str(beside.resolve()) if beside is not None else None,
        dag_id=dag_id,
        doc_md=f"gridflow job loaded from `{path.name}`, inventory `{inventory}`.",
    )


def _broken_job_dag(path: Path, dag_id: str, message: str) -> Any:
    """The DAG a job file that does not load becomes (see :func:`_broken_dag`)."""
    from airflow.sdk import DAG

    from gridflow.operators.job import BrokenJobOperator

    with DAG(
        dag_id=dag_id,
        description=f"BROKEN job: {message.splitlines()[0]}"[:500],
        schedule=None,
        catchup=False,
        tags=["gridflow", "gridflow-job", "gridflow-broken"],
        doc_md=f"The job `{path.name}` did not load; fix it and this DAG becomes the job's."
        "\n\n```\n" + message + "\n```",
    ) as dag:
        BrokenJobOperator(task_id="job_error", message=message)
    return dag


def find_grids(root: Path) -> Iterator[GridSource]:
    """Grid files directly in ``root`` and folders of grid files below it."""
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir() and entry.name == "profiles":
            continue
        source = grid_source(entry)
        if source is not None:
            yield source


def grid_source(entry: Path) -> GridSource | None:
    """``entry`` as a grid: a ``.hcl`` file, or a folder holding some; else None."""
    if entry.is_file() and entry.suffix == GRID_SUFFIX:
        return GridSource(entry, (entry,))
    if entry.is_dir():
        files = tuple(
            sorted(
                p
                for p in entry.rglob("*" + GRID_SUFFIX)
                if "profiles" not in p.relative_to(entry).parts[:-1]
            )
        )
        if files:
            return GridSource(entry, files)
    return None


def compiled_plan(source: GridSource, cache: Path | None, environ: Mapping[str, str]) -> Plan:
    """The grid's Plan, from the cache when its files have not changed."""
    digest = _digest(source, environ)
    cached = cache / f"{digest}.json" if cache is not None else None
    if cached is not None and cached.is_file():
        try:
            return Plan.from_json(cached.read_bytes())
        except ValueError:
            log.warning("gridflow: ignoring unreadable cached plan %s", cached)
    from gridflow.translators.hcl import load_grid

    plan = load_grid([source.path], environ=environ, name=source.name).plan
    if cached is not None:
        _write_quietly(cached, plan.to_json(indent=None))
    return plan


def _digest(source: GridSource, environ: Mapping[str, str]) -> str:
    h = hashlib.sha256(f"gridflow {__version__}\n{source.path}\n".encode())
    for path in source.files:
        h.update(f"{path}\n".encode())
        h.update(path.read_bytes())
    # Compile-time meta-arguments (retry, timeout, ...) may read variables.
    for key in sorted(k for k in environ if k.startswith("GRIDFLOW_VAR_")):
        h.update(f"{key}={environ[key]}\n".encode())
    return h.hexdigest()


def _cache_dir(explicit: str | Path | None) -> Path | None:
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV])
    else:
        home = os.environ.get("GRIDFLOW_HOME") or str(Path.home() / ".gridflow")
        path = Path(home) / "cache" / "plans"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        log.info("gridflow: plan cache disabled, cannot create %s", path)
        return None
    return path


def _write_quietly(path: Path, text: str) -> None:
    # Several parsing processes may write the same entry: write apart, then rename.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        log.info("gridflow: could not write plan cache entry %s", path)


def _grid_dag(source: GridSource, cache: Path | None, root: Path) -> Any:
    from gridflow.engines.airflow.build import build_dag

    plan = compiled_plan(source, cache, os.environ)
    files = ", ".join(str(f.relative_to(root)) for f in source.files)
    base_dir = source.path if source.path.is_dir() else source.path.parent
    return build_dag(
        plan,
        dag_id=source.dag_id,
        base_dir=str(base_dir),
        doc_md=f"gridflow grid loaded from `{files}`.",
    )


def _broken_dag(source: GridSource, message: str) -> Any:
    """The DAG a grid that does not load becomes: its error, and nothing to run.

    Not an Airflow import error: Airflow 3.3 marks every DAG of a file stale
    when the file has one, so one broken grid would hide all the others
    (docs/decisions/0005-airflow-dag-shape.md).
    """
    from airflow.sdk import DAG

    from gridflow.operators.grid import BrokenGridOperator

    with DAG(
        dag_id=source.dag_id,
        description=f"BROKEN grid: {message.splitlines()[0]}"[:500],
        schedule=None,
        catchup=False,
        tags=["gridflow", "gridflow-broken"],
        doc_md="This grid did not load; fix it and this DAG becomes the grid's.\n\n"
        "```\n" + message + "\n```",
    ) as dag:
        BrokenGridOperator(task_id="grid_error", message=message)
    return dag


def _relative(message: str, root: Path) -> str:
    return message.replace(str(root) + os.sep, "")


def _global_name(dag_id: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in dag_id)
    return f"gridflow_dag_{cleaned}"
