# ruff: noqa: E501  (grid text is kept as users write it)
"""Grids dropped into a real Airflow's dags folder next to the one-line loader.

The servers (api-server, scheduler, dag-processor, LocalExecutor) are the
session's (tests/airflow/harness.py). All DAG runs are triggered at once by
one module fixture, so they run side by side, and the tests then read what
Airflow recorded: DAG runs, task instance states, XCom records, task logs and
import errors, through the REST API.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.airflow.harness import AirflowServers
from tests.support.http_server import LocalHTTPServer

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]

LOADER = '''"""Airflow DAGs: one per gridflow grid in this folder."""

from gridflow.provider import load_dags

load_dags(globals())
'''

SECRET = "tok-" + uuid.uuid4().hex


def grids(server: str) -> dict[str, str]:
    return {
        "af_semantics.hcl": f"""
variable "greeting" {{
  type    = string
  default = "hello"
}}
step "http_request" "get" {{
  for_each = toset(["a", "b", "c"])
  arguments {{ url = "{server}/status/20${{length(each.key)}}" }}
}}
step "print" "per" {{
  arguments {{ input = "${{var.greeting}} ${{each.key}}=${{http_request.get[each].output.status_code}}" }}
}}
step "print" "second" {{
  arguments {{ input = http_request.get["b"].output.status_code }}
}}
step "print" "maybe" {{
  if        = var.greeting == "never"
  arguments {{ input = "skipped" }}
}}
step "cmd" "fails" {{
  continue_on_error = true
  arguments {{ argv = ["sh", "-c", "exit 3"] }}
}}
step "print" "after" {{
  arguments {{
    input = "${{join(",", print.per.output)}} ${{step.print.maybe.status}} ${{cmd.fails.error.kind}}"
  }}
}}
""",
        "af_retry.hcl": f"""
step "http_request" "flaky" {{
  retry {{
    attempts = 3
    delay    = "1s"
  }}
  arguments {{
    url          = "{server}/flaky/{uuid.uuid4().hex}/1"
    expect_status = [200]
  }}
}}
""",
        "af_failfast.hcl": f"""
step "http_request" "slow" {{
  arguments {{
    url     = "{server}/delay/30000"
    timeout = "60s"
  }}
}}
step "cmd" "boom" {{
  delay_before = "2s"
  arguments {{ argv = ["false"] }}
}}
step "print" "never" {{
  arguments {{ input = http_request.slow.output.status_code }}
}}
""",
        "af_secret.hcl": f"""
step "print" "token" {{
  sensitive = true
  arguments {{ input = "{SECRET}" }}
}}
step "print" "uses" {{
  arguments {{ input = "token is ${{print.token.output}}" }}
}}
step "print" "length" {{
  arguments {{ input = length(print.token.output) }}
}}
""",
        "af_limit.hcl": """
step "cmd" "one_at_a_time" {
  count = 3
  concurrency { limit = 1 }
  arguments { argv = ["sleep", "2"] }
}
""",
        "af_burst.hcl": f"""
step "http_request" "load" {{
  count  = 400
  shards = 2
  concurrency {{ limit = 20 }}
  thresholds {{
    error_rate = "< 1%"
  }}
  arguments {{ url = "{server}/status/200?i=${{count.index}}" }}
}}
step "print" "code" {{
  arguments {{ input = http_request.load[each].output.status_code }}
}}
step "print" "total" {{
  arguments {{ input = length(print.code.output) }}
}}
""",
        "af_broken.hcl": """
step "print" "x" {
  arguments {
    input = 2s
  }
}
""",
    }


@dataclass
class Run:
    dag_id: str
    run_id: str
    state: str
    seconds: float


@pytest.fixture(scope="module")
def runs(airflow: AirflowServers, http_server: LocalHTTPServer) -> dict[str, Run]:
    folder = airflow.dags_folder / "gridflow_grids"
    folder.mkdir()
    for name, text in grids(http_server.url).items():
        (folder / name).write_text(text)
    (folder / "loader.py").write_text(LOADER)
    client = airflow.client
    started: dict[str, tuple[str, float]] = {}
    conf = {"af_semantics": {"greeting": "hi"}}
    for dag_id in ("af_semantics", "af_retry", "af_failfast", "af_secret", "af_limit", "af_burst"):
        client.wait_for_dag(dag_id, timeout=120)
        client.unpause(dag_id)
        started[dag_id] = (client.trigger(dag_id, conf.get(dag_id)), time.monotonic())
    out: dict[str, Run] = {}
    for dag_id, (run_id, t0) in started.items():
        state = client.wait(dag_id, run_id, timeout=300)
        out[dag_id] = Run(dag_id, run_id, state, time.monotonic() - t0)
    return out


def record(airflow: AirflowServers, run: Run, task_id: str, map_index: int = -1) -> Any:
    value = airflow.client.xcom(run.dag_id, run.run_id, task_id, map_index=map_index)
    return json.loads(value) if isinstance(value, str) else value


def test_broken_grid_shows_its_error_and_hides_nothing(
    airflow: AirflowServers, runs: dict[str, Run]
) -> None:
    assert set(runs) == {
        "af_semantics", "af_retry", "af_failfast", "af_secret", "af_limit", "af_burst"
    }  # fmt: skip
    assert not [e for e in airflow.client.import_errors() if "gridflow_grids" in e["filename"]]
    broken = airflow.client.wait_for_dag("af_broken")
    assert "gridflow-broken" in [t["name"] for t in broken["tags"]]
    assert broken["description"].startswith("BROKEN grid: af_broken.hcl:4:13: error: durations")
    run_id, state = airflow.client.run_dag("af_broken")
    assert state == "failed"
    log = airflow.client.task_log("af_broken", run_id, "grid_error")
    assert 'af_broken.hcl:4:13: error: durations are strings: write \\"2s\\"' in log or (
        'af_broken.hcl:4:13: error: durations are strings: write "2s"' in log
    ), log
    assert "Traceback" not in log


def test_fan_out_each_chain_if_and_continue_on_error(
    airflow: AirflowServers, runs: dict[str, Run]
) -> None:
    run = runs["af_semantics"]
    assert run.state == "success"
    states = airflow.client.states(run.dag_id, run.run_id)
    assert states[("http_request.get.instances", -1)] == "success"
    for i in range(3):
        assert states[("http_request__get.http_request.get", i)] == "success"
        assert states[("http_request__get.print.per", i)] == "success"
    assert states[("print.maybe", -1)] == "skipped"  # `if` false: skipped ...
    assert states[("print.after", -1)] == "success"  # ... and dependents still run
    assert states[("cmd.fails", -1)] == "success"  # continue_on_error: the run went on
    fails = record(airflow, run, "cmd.fails")
    assert fails["status"] == "failed"
    assert fails["error"]["kind"] == "expected"
    keys = [record(airflow, run, "http_request__get.print.per", i)["key"] for i in range(3)]
    assert keys == ["a", "b", "c"]
    assert record(airflow, run, "print.second")["output"] == 201
    after = record(airflow, run, "print.after")["output"]
    assert after == "hi a=201,hi b=201,hi c=201 skipped expected"  # conf overrode the default


def test_retries_are_airflow_retries(airflow: AirflowServers, runs: dict[str, Run]) -> None:
    run = runs["af_retry"]
    assert run.state == "success"
    rec = record(airflow, run, "http_request.flaky")
    assert rec["status"] == "success"
    assert rec["attempts"] == 2
    (ti,) = airflow.client.task_instances(run.dag_id, run.run_id)
    assert ti["try_number"] == 2


def test_fail_fast_stops_a_request_in_flight(airflow: AirflowServers, runs: dict[str, Run]) -> None:
    run = runs["af_failfast"]
    assert run.state == "failed"
    # The slow request would take 30 s; fail-fast stops its task well before.
    # Timed on the task instance itself: the whole run also waits for free
    # executor slots, which says nothing about fail-fast.
    slow = _finished_task_instance(airflow, run, "http_request.slow")
    started = datetime.fromisoformat(slow["start_date"])
    # A task instance failed by fail-fast from outside gets its end date when
    # its worker notices; until then the run's own end (set when fail-fast
    # failed the run) bounds when the task was stopped.
    ended = datetime.fromisoformat(
        slow["end_date"] or airflow.client.dag_run(run.dag_id, run.run_id)["end_date"]
    )
    assert (ended - started).total_seconds() < 28, slow
    states = airflow.client.states(run.dag_id, run.run_id)
    assert states[("cmd.boom", -1)] == "failed"
    assert states[("http_request.slow", -1)] == "failed"  # stopped by fail-fast
    assert states[("print.never", -1)] in ("skipped", "upstream_failed")


def _finished_task_instance(
    airflow: AirflowServers, run: Run, task_id: str, timeout: float = 30.0
) -> dict[str, Any]:
    """The task instance, once Airflow recorded its end (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        (ti,) = [
            t
            for t in airflow.client.task_instances(run.dag_id, run.run_id)
            if t["task_id"] == task_id
        ]
        if ti["end_date"] or time.monotonic() > deadline:
            return ti
        time.sleep(1.0)


def test_sensitive_output_is_sealed_in_xcom_and_masked_in_logs(
    airflow: AirflowServers, runs: dict[str, Run]
) -> None:
    run = runs["af_secret"]
    assert run.state == "success"
    client = airflow.client
    for task_id in ("print.token", "print.uses", "print.length"):
        shown = json.dumps(client.xcom(run.dag_id, run.run_id, task_id))
        assert SECRET not in shown, task_id
        log = client.task_log(run.dag_id, run.run_id, task_id)
        assert SECRET not in log, task_id
    token = record(airflow, run, "print.token")
    assert token["output"] == "***"
    assert "sealed" in token
    assert record(airflow, run, "print.uses")["output"] == "token is ***"
    # The downstream task could open the sealed record: it saw the real value.
    assert record(airflow, run, "print.length")["output"] == len(SECRET)


def test_concurrency_limit_is_max_active_mapped_instances(
    airflow: AirflowServers, runs: dict[str, Run]
) -> None:
    run = runs["af_limit"]
    assert run.state == "success"
    spans = sorted(
        (rec["started"], rec["ended"])
        for rec in (record(airflow, run, "cmd.one_at_a_time", i) for i in range(3))
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"instances overlapped: {spans}"


def test_plans_are_cached_by_content(airflow: AirflowServers, runs: dict[str, Run]) -> None:
    cache = Path(airflow.env["GRIDFLOW_HOME"]) / "cache" / "plans"
    assert len(list(cache.glob("*.json"))) >= 4


def test_sharded_burst_runs_as_mapped_shards_and_a_merge(
    airflow: AirflowServers, runs: dict[str, Run]
) -> None:
    run = runs["af_burst"]
    assert run.state == "success"
    states = airflow.client.states(run.dag_id, run.run_id)
    assert states[("http_request.load.shard", 0)] == "success"
    assert states[("http_request.load.shard", 1)] == "success"
    assert states[("http_request.load", -1)] == "success"
    # The [each] chain ran inside the burst: no task of its own.
    assert not [t for t, _ in states if t.startswith("print.code")]
    merged = record(airflow, run, "http_request.load")
    load = merged["http_request.load"]["summary"]
    assert load["succeeded"] == 400
    assert load["metrics"]["requests"] == 400
    assert load["metrics"]["shards"] == 2
    assert load["metrics"]["thresholds"][0]["ok"] is True
    shard = record(airflow, run, "http_request.load.shard", 0)
    assert shard["output"]["steps"]["http_request.load"]["metrics"]["counts"]["requests"] == 200
    assert record(airflow, run, "print.total")["output"] == 400


def _line(text: str, needle: str) -> int:
    (line,) = [i for i, row in enumerate(text.splitlines(), 1) if needle in row]
    return line


def test_tasks_link_to_their_step_in_the_grid_file(
    airflow: AirflowServers, runs: dict[str, Run], http_server: LocalHTTPServer
) -> None:
    # The servers run with [gridflow] source_url_template set (conftest.py);
    # the default dags-folder bundle is the dags folder, so {path} starts there.
    assert "{path}" in airflow.env["AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE"]
    texts = grids(http_server.url)

    def url(grid: str, step: str) -> str:
        line = _line(texts[f"{grid}.hcl"], step)
        return f"https://git.test/acme/ops/blob/main/gridflow_grids/{grid}.hcl#L{line}"

    cases = [
        # (grid, task id, map index, the step block it shows)
        ("af_semantics", "print.second", -1, 'step "print" "second"'),
        ("af_semantics", "http_request.get.instances", -1, 'step "http_request" "get"'),
        ("af_semantics", "http_request__get.print.per", 2, 'step "print" "per"'),
        ("af_semantics", "print.maybe", -1, 'step "print" "maybe"'),  # skipped
        ("af_failfast", "cmd.boom", -1, 'step "cmd" "boom"'),  # failed
        ("af_burst", "http_request.load.shard", 1, 'step "http_request" "load"'),
        ("af_burst", "http_request.load", -1, 'step "http_request" "load"'),
    ]
    for grid, task_id, map_index, step in cases:
        run = runs[grid]
        links = airflow.client.extra_links(run.dag_id, run.run_id, task_id, map_index=map_index)
        assert links == {"Grid source": url(grid, step)}, (grid, task_id, map_index)
