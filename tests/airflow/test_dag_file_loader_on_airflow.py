"""One loader file per grid on the real servers: a broken grid is an import error.

What the issue asks of the dags folder, end to end: the dag-processor lists
the broken grid under import errors with its ``file:line`` message, the
other grids' DAGs still load and run, and fixing the grid clears the error
and brings its DAG.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.airflow.harness import AirflowServers, RunTimeout
from tests.airflow.test_dag_file_loader import BROKEN, GOOD, loader

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]


def errors_for(airflow: AirflowServers, name: str) -> list[dict[str, Any]]:
    return [e for e in airflow.client.import_errors() if e["filename"].endswith(name)]


def wait_until(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RunTimeout(f"{what}: not within {timeout:.0f}s")
        time.sleep(1.0)


def test_broken_grid_is_an_import_error_others_run_and_a_fix_clears_it(
    airflow: AirflowServers,
) -> None:
    folder = airflow.dags_folder
    # "_" keeps the grids out of any folder loader's reach (it skips such names).
    grids = folder / "_af_single"
    grids.mkdir()
    (grids / "af_single_ok.hcl").write_text(GOOD)
    (grids / "af_single_broken.hcl").write_text(BROKEN)
    (folder / "af_single_ok_dag.py").write_text(loader("_af_single/af_single_ok.hcl"))
    (folder / "af_single_broken_dag.py").write_text(loader("_af_single/af_single_broken.hcl"))

    errors = wait_until(
        "import error of af_single_broken_dag.py",
        lambda: errors_for(airflow, "af_single_broken_dag.py"),
    )
    trace = errors[0]["stack_trace"]
    assert (
        "gridflow.provider.loader.DagFileError: _af_single/af_single_broken.hcl:3:13: error: "
        'durations are strings: write "2s"'
    ) in trace, trace
    assert errors_for(airflow, "af_single_ok_dag.py") == []

    ok = airflow.client.wait_for_dag("af_single_ok")
    assert ok["is_stale"] is False
    run_id, state = airflow.client.run_dag("af_single_ok")
    assert state == "success", airflow.client.states("af_single_ok", run_id)
    assert airflow.client.dag("af_single_broken") is None

    (grids / "af_single_broken.hcl").write_text(GOOD)
    fixed = airflow.client.wait_for_dag("af_single_broken", timeout=60)
    assert fixed["is_stale"] is False
    wait_until(
        "the import error cleared after the fix",
        lambda: errors_for(airflow, "af_single_broken_dag.py") == [],
    )
