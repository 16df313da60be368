"""The harness itself on a real Airflow: a mapped task, a JSON XCom, conf, import errors.

One DAG run for the whole module (each task start costs seconds here).
"""

from __future__ import annotations

import textwrap
import time

import pytest
from tests.airflow.harness import AirflowServers, RunTimeout

pytestmark = pytest.mark.airflow

DAG_ID = "gridflow_harness_mapped"

# Hand-written on purpose: this checks the harness, not gridflow's builder.
GOOD_DAG = textwrap.dedent(
    f'''
    """Harness check: a mapped task over 3 values and a task returning JSON."""
    import pendulum
    from airflow.sdk import dag, task


    @dag(
        dag_id="{DAG_ID}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={{"factor": 2}},
    )
    def harness_mapped():
        @task
        def times(x: int, **context) -> int:
            # conf given at trigger time overrides the DAG's params.
            return x * context["params"]["factor"]

        @task
        def summary(values) -> dict:
            values = list(values)
            return {{"total": sum(values), "items": values, "nested": {{"ok": True}}}}

        summary(times.expand(x=[1, 2, 3]))


    harness_mapped()
    '''
)

BROKEN_DAG = "from airflow.sdk import dag\n\ndef broken(:\n    pass\n"


@pytest.fixture(scope="module")
def mapped_run(airflow: AirflowServers) -> tuple[str, str]:
    """Both files dropped in at once; the good DAG run once with conf; (run_id, state)."""
    (airflow.dags_folder / "harness_broken.py").write_text(BROKEN_DAG)
    (airflow.dags_folder / "harness_mapped.py").write_text(GOOD_DAG)
    return airflow.client.run_dag(DAG_ID, conf={"factor": 10}, timeout=150)


def test_run_with_conf_is_green(airflow: AirflowServers, mapped_run: tuple[str, str]) -> None:
    run_id, state = mapped_run
    assert state == "success", airflow.diagnostics()
    assert airflow.client.states(DAG_ID, run_id) == {
        ("times", 0): "success",
        ("times", 1): "success",
        ("times", 2): "success",
        ("summary", -1): "success",
    }


def test_xcoms_per_map_index(airflow: AirflowServers, mapped_run: tuple[str, str]) -> None:
    run_id, _ = mapped_run
    client = airflow.client
    assert [client.xcom(DAG_ID, run_id, "times", map_index=i) for i in range(3)] == [10, 20, 30]
    assert client.xcom(DAG_ID, run_id, "summary") == {
        "total": 60,
        "items": [10, 20, 30],
        "nested": {"ok": True},
    }


def test_broken_file_is_an_import_error_and_hides_nothing(
    airflow: AirflowServers, mapped_run: tuple[str, str]
) -> None:
    # The good DAG ran (mapped_run), so it loaded next to the broken file.
    assert airflow.client.dag(DAG_ID) is not None
    errors = _wait_for_import_error(airflow, "harness_broken.py")
    assert "SyntaxError" in errors[0]["stack_trace"]
    assert not [e for e in airflow.client.import_errors() if "harness_mapped" in e["filename"]]


def _wait_for_import_error(airflow: AirflowServers, name: str) -> list[dict[str, str]]:
    # The dag-processor parses both files in the same pass, so this is at most
    # one refresh away from when the good DAG appeared.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in airflow.client.import_errors() if e["filename"].endswith(name)]
        if found:
            return found
        time.sleep(1)
    raise RunTimeout(f"no import error for {name}: {airflow.client.import_errors()}")
