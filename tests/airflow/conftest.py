"""One real Airflow 3 for the whole session (see harness.py); only in .venv-airflow.

The main suite (``.venv``, no Airflow) runs with ``-m "not airflow"`` but
still collects this folder, so nothing here imports Airflow or gridflow's
Airflow modules at import time, and the test modules are skipped from
collection when Airflow is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.airflow.harness import AirflowServers, DatabaseUnavailable, start_airflow

#: The URL template of gridflow's "Grid source" / "Job source" links on the
#: session's servers (test_dags_on_airflow.py reads the links back).
SOURCE_URL_ENV = "AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE"
SOURCE_URL_TEMPLATE = "https://git.test/acme/ops/blob/main/{path}#L{line}"

if importlib.util.find_spec("airflow") is None:
    # Without Airflow the modules would fail to import; they are all marked
    # `airflow` and deselected by the main suite anyway.
    collect_ignore_glob = ["test_*.py"]
else:
    # Tests that import Airflow in the pytest process (hooks, schema checks)
    # would otherwise create and read ~/airflow; the servers get their own
    # home from the harness, which drops every inherited AIRFLOW* variable.
    # gridflow's Airflow engine (`run --engine airflow`, in this process) sets
    # the same up under its own home; Airflow reads its configuration once per
    # process, so that happens here, before any test imports Airflow.
    from gridflow.engines.airflow.dag_test import configure_airflow_environment

    configure_airflow_environment(Path(tempfile.mkdtemp(prefix="gridflow-pytest-airflow-")))


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServers]:
    """A running Airflow (api-server, scheduler, dag-processor) for the session.

    Connections from ``tests/airflow/connections.py`` are in every server's
    environment (``AIRFLOW_CONN_*``), since the servers start only once, and
    so is gridflow's ``[gridflow] source_url_template`` (extra links).
    Tests write DAG files into ``airflow.dags_folder`` with unique names.
    The metadata DB is a throwaway PostgreSQL, or SQLite with
    ``GRIDFLOW_TEST_AIRFLOW_DB=sqlite`` (harness.py).
    """
    from tests.airflow.connections import AIRFLOW_TEST_CONNECTIONS

    root = tmp_path_factory.mktemp("airflow")
    env = {**AIRFLOW_TEST_CONNECTIONS, SOURCE_URL_ENV: SOURCE_URL_TEMPLATE}
    try:
        servers = start_airflow(root, extra_env=env)
    except DatabaseUnavailable as exc:
        # What to install or set, not a traceback through the harness.
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    try:
        yield servers
    finally:
        report = os.environ.get("GRIDFLOW_AIRFLOW_TIMINGS")
        # Opt-in, for docs/decisions/0002: start-up/stop times and memory.
        pss_mb = servers.memory_pss_kb() / 1024 if report else 0.0
        t0 = time.monotonic()
        servers.stop()
        if report:
            stopped = time.monotonic() - t0
            print(
                f"\nairflow harness: {servers.timings} stop_s={stopped:.1f} "
                f"pss_at_end_mb={pss_mb:.0f}"
            )


@pytest.fixture
def dags_folder(airflow: AirflowServers) -> Path:
    return airflow.dags_folder
