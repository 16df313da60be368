"""Every example grid on three engines gives the same step results.

* Prefect: ``gridflow`` in the main ``.venv`` (Airflow and Prefect cannot
  share one environment, decision 0002), one process running every example
  on the Prefect engine;
* ``gridflow run --engine airflow -o json`` (DAG test mode, this process);
* the real Airflow servers of the session: the example grids copied into the
  dags folder next to the loader, triggered through the REST API with the
  demo server's address as a param; results read back from XCom.

Compared per step: status, instance counts, and the outputs of steps whose
output does not depend on timing or on the machine (``print`` steps, minus
the ones listed in ``TIMING``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.airflow.harness import AirflowServers, HarnessError
from tests.support.demo import demo_server
from typer.testing import CliRunner

from gridflow.cli import app

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
GRIDS = ROOT / "dags_examples" / "grids"
AIRFLOW_EXAMPLES = ROOT / "dags_examples" / "airflow"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"

# name -> path of the grid (a folder of .hcl files, or one file)
EXAMPLES: dict[str, Path] = {
    **{p.name: p for p in sorted(GRIDS.iterdir()) if p.is_dir()},
    **{p.stem: p for p in sorted(AIRFLOW_EXAMPLES.glob("*.hcl"))},
}
COMPILED = "compiled_fleet_greetings"  # dags_examples/airflow/<this>.py
COMPILED_DAG = "fleet_greetings_compiled"  # its dag_id
NEEDS_SERVER = {name for name, path in EXAMPLES.items() if path.parent == GRIDS}

# Outputs that depend on timing or on the machine, not on the engine.
TIMING = {
    ("race_first_output", "print.winner"),  # whichever instance finished first
    ("http_fanout", "print.summary"),  # includes the slowest request's duration
    ("race_first_output", "print.fastest"),  # includes a duration
    ("retries_and_timeouts", "print.report"),  # includes a duration
    ("disk_check", "print.report"),  # free disk space
    ("env_and_cmd", "print.report"),  # the worker's environment
}

PREFECT_SCRIPT = """
import json, sys
from pathlib import Path
from gridflow.engines.prefect import configure_prefect_environment, run_grid
from gridflow.translators.hcl import load_grid
configure_prefect_environment(Path(sys.argv[1]))
out = {}
for name, path, url in json.loads(sys.argv[2]):
    args = [f"base_url={url}"] if url else []
    loaded = load_grid([path], var_args=args, name=name)
    base = path if Path(path).is_dir() else str(Path(path).parent)
    out[name] = run_grid(loaded.plan, loaded.values, base_dir=base).result()
print("RESULTS " + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with demo_server() as url:
        yield url


@pytest.fixture(scope="module")
def prefect_results(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert MAIN_PYTHON.exists(), "the main .venv is missing: run `make setup` first"
    todo = [[n, str(p), demo_url if n in NEEDS_SERVER else ""] for n, p in EXAMPLES.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env["DEMO_API_TOKEN"] = "not-a-real-token"
    home = tmp_path_factory.mktemp("prefect-parity")
    proc = subprocess.run(
        [str(MAIN_PYTHON), "-c", PREFECT_SCRIPT, str(home), json.dumps(todo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert lines, proc.stdout[-3000:]
    results: dict[str, Any] = json.loads(lines[-1][len("RESULTS ") :])
    return results


@pytest.fixture(scope="module")
def rest_results(airflow: AirflowServers, demo_url: str) -> dict[str, Any]:
    """Every example as a DAG on the real servers, run through the REST API."""
    folder = airflow.dags_folder / "gridflow_examples"
    folder.mkdir()
    for name, path in EXAMPLES.items():
        if path.is_dir():
            shutil.copytree(path, folder / name)
        else:
            shutil.copy(path, folder / f"{name}.hcl")
    shutil.copy(AIRFLOW_EXAMPLES / "gridflow_dags.py", folder / "gridflow_dags.py")
    # The compiled example DAG file too: it needs no grid file at run time.
    shutil.copy(AIRFLOW_EXAMPLES / f"{COMPILED}.py", folder / f"{COMPILED}.py")
    client = airflow.client
    runs = {}
    for name in [*EXAMPLES, COMPILED_DAG]:
        client.wait_for_dag(name, timeout=180)
        client.unpause(name)
        conf = {"base_url": demo_url} if name in NEEDS_SERVER else {}
        runs[name] = client.trigger(name, conf)
    out: dict[str, Any] = {}
    for name, run_id in runs.items():
        state = client.wait(name, run_id, timeout=600)
        records: dict[str, list[Any]] = {}
        for ti in client.task_instances(name, run_id):
            task_id = ti["task_id"]
            if task_id.endswith(".instances"):
                continue
            step_id = task_id.split(".", 1)[1] if "__" in task_id.split(".")[0] else task_id
            try:
                value = client.xcom(name, run_id, task_id, map_index=ti["map_index"])
            except HarnessError:  # never ran (the run failed before): no record
                continue
            rec = json.loads(value) if isinstance(value, str) else value
            records.setdefault(step_id, []).append(rec)
        out[name] = {"state": state, "records": records}
    return out


def airflow_engine_result(name: str, demo_url: str) -> dict[str, Any]:
    args = ["-var", f"base_url={demo_url}"] if name in NEEDS_SERVER else []
    result = CliRunner().invoke(
        app,
        ["run", str(EXAMPLES[name]), "--engine", "airflow", "-o", "json", *args],
        catch_exceptions=False,
        env={"DEMO_API_TOKEN": "not-a-real-token"},
    )
    assert result.exit_code == 0, result.stderr[-3000:]
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def summary(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        step_id: (
            step["status"],
            step["instances"],
            step["succeeded"],
            step["failed"],
            step["skipped"],
            step["outputs"]
            if step_id.startswith("print.") and (name, step_id) not in TIMING
            else None,
        )
        for step_id, step in doc["steps"].items()
    }


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_airflow_engine_matches_prefect(
    name: str, demo_url: str, prefect_results: dict[str, Any]
) -> None:
    expected = prefect_results[name]
    assert expected["status"] == "success", expected
    doc = airflow_engine_result(name, demo_url)
    assert doc["status"] == "success"
    assert summary(doc, name) == summary(expected, name)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_real_airflow_run_matches_prefect(
    name: str, rest_results: dict[str, Any], prefect_results: dict[str, Any]
) -> None:
    got = rest_results[name]
    assert got["state"] == "success"
    expected = prefect_results[name]["steps"]
    assert sorted(got["records"]) == sorted(expected)
    for step_id, step in expected.items():
        records = sorted(got["records"][step_id], key=lambda r: r["position"])
        statuses = [r["status"] for r in records]
        assert len(records) == step["instances"], step_id
        assert statuses.count("success") == step["succeeded"], step_id
        assert statuses.count("skipped") == step["skipped"], step_id
        if step_id.startswith("print.") and (name, step_id) not in TIMING:
            assert [r["output"] for r in records] == step["outputs"], step_id


def test_compiled_dag_file_runs_like_its_grid(
    rest_results: dict[str, Any], prefect_results: dict[str, Any]
) -> None:
    got = rest_results[COMPILED_DAG]
    assert got["state"] == "success"
    expected = prefect_results["fleet_greetings"]["steps"]
    assert sorted(got["records"]) == sorted(expected)
    (summary_record,) = got["records"]["print.summary"]
    assert summary_record["output"] == expected["print.summary"]["output"]
