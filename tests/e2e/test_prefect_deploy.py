"""``gridflow deploy``: Prefect deployments of grids, run for real.

The session's Prefect API server (``prefect_harness``, on 127.0.0.1) holds
the deployments; a real ``prefect worker start --run-once`` process (a
``process`` work pool) or a real ``gridflow deploy --serve`` process runs
them, and the tests read back what the API stored: flow run states, the
result artifact, the deployment itself. Every process started here is
bounded in time and killed by its process group at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from gridflow.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.prefect, pytest.mark.slow]

SECRET = "hunter2-" + uuid.uuid4().hex[:8]

GRID = """
variable "greeting" {
  type        = string
  default     = "hello"
  description = "What to say"
}
variable "times" {
  type    = number
  default = 2
}
variable "token" {
  type      = string
  sensitive = true
}
step "print" "say" {
  count = var.times
  arguments { input = "${var.greeting} ${count.index}" }
}
step "print" "token_length" {
  arguments { input = length(var.token) }
}
step "print" "done" {
  arguments { input = "said ${length(print.say.output)} times" }
}
"""

FAILING = """
variable "code" {
  type = number
}
variable "label" {
  type      = string
  sensitive = true
}
step "cmd" "exit" {
  arguments { argv = ["sh", "-c", "exit ${var.code}"] }
}
step "print" "after" {
  arguments { input = "exit gave ${cmd.exit.output.exit_code}, label of ${length(var.label)}" }
}
"""


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.hcl").write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def api(prefect_harness: None) -> str:
    from prefect.settings import get_current_settings

    url = str(get_current_settings().api.url)
    assert url.startswith("http://127.0.0.1:"), url
    return url


def _env(api_url: str, home: Path, **extra: str) -> dict[str, str]:
    """A child process's environment: this session's API, nothing of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GRIDFLOW_"))}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        **extra,
    )
    return env


def _deploy(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["deploy", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _create_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        client.create_work_pool(work_pool=WorkPoolCreate(name=name, type="process"))


def _trigger(name: str, parameters: dict[str, Any]) -> uuid.UUID:
    from prefect.deployments import run_deployment

    flow_run = run_deployment(name, parameters=parameters, timeout=0)
    return flow_run.id


def _wait_final(flow_run_id: uuid.UUID, within: float) -> Any:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + within
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run still {flow_run.state} after {within} s")
            time.sleep(0.5)


def _result_doc(api_url: str, flow_run_id: uuid.UUID) -> dict[str, Any]:
    """The result artifact the flow run published, parsed."""
    from gridflow.engines.prefect_deployed import result_from_markdown

    # Straight to the REST API: Prefect 3.8's client sends nulls this server refuses.
    found = httpx.post(
        f"{api_url}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 10},
        timeout=30,
    ).json()
    assert [a["key"] for a in found] == [found[0]["key"]]
    assert found[0]["type"] == "markdown"
    return result_from_markdown(found[0]["data"])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts (each in its own group); killed at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _start(
    procs: list[subprocess.Popen[str]], argv: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[str]:
    """``argv`` in ``log``'s folder, its output in ``log``, in a process group of its own."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    procs.append(proc)
    return proc


def _gridflow_run(grid: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["run", str(grid), "--engine", "prefect", "-o", "json", *args], catch_exceptions=False
    )
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _same_steps(a: dict[str, Any], b: dict[str, Any]) -> None:
    keys = ("status", "instances", "succeeded", "failed", "skipped", "outputs")
    assert a["status"] == b["status"]
    assert {s: {k: e.get(k) for k in keys} for s, e in a["steps"].items()} == {
        s: {k: e.get(k) for k in keys} for s, e in b["steps"].items()
    }


@pytest.mark.timeout(300)
def test_work_pool_deployment_runs_on_a_process_worker(
    api: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = _write(tmp_path / "hello", GRID)
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    _create_pool(pool)
    monkeypatch.chdir(tmp_path)
    code, out, err = _deploy(
        "hello", "--work-pool", pool, "--name", "hello-dev", "-var", "greeting=hey", "-o", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["deployment"] == "gridflow-grid/hello-dev"
    assert doc["work_pool"] == pool
    assert doc["sensitive"] == ["token"]
    assert "GRIDFLOW_VAR_token" in err

    # A variable of the wrong type is refused when the run is created.
    from prefect.exceptions import PrefectHTTPStatusError

    with pytest.raises(PrefectHTTPStatusError, match="times"):
        _trigger("gridflow-grid/hello-dev", {"times": "three"})

    flow_run_id = _trigger("gridflow-grid/hello-dev", {"times": 3})
    worker = _start(
        processes,
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--run-once"],
        _env(api, tmp_path / "worker-home", GRIDFLOW_VAR_token=SECRET),
        tmp_path / "worker.log",
    )
    flow_run = _wait_final(flow_run_id, within=180)
    log = (tmp_path / "worker.log").read_text()
    assert flow_run.state.is_completed(), log
    worker.wait(timeout=60)
    assert SECRET not in log

    result = _result_doc(api, flow_run_id)
    assert result["status"] == "success"
    assert result["steps"]["print.say"]["outputs"] == ["hey 0", "hey 1", "hey 2"]
    assert result["steps"]["print.token_length"]["output"] == len(SECRET)
    assert result["steps"]["print.done"]["output"] == "said 3 times"
    # The same grid run by `gridflow run` with the same values: the same steps.
    monkeypatch.setenv("GRIDFLOW_VAR_token", SECRET)
    _same_steps(result, _gridflow_run(grid, "-var", "greeting=hey", "-var", "times=3"))


@pytest.mark.timeout(120)
def test_the_stored_deployment_holds_no_secret(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_secret = "default-" + uuid.uuid4().hex[:8]
    _write(
        tmp_path / "secrets",
        GRID.replace("sensitive = true", f'sensitive = true\n  default = "{default_secret}"'),
    )
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    _create_pool(pool)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDFLOW_VAR_token", SECRET + "-env")
    code, out, err = _deploy(
        "secrets", "--work-pool", pool, "-var", f"token={SECRET}", "--cron", "0 6 * * *"
    )
    assert code == 0, err
    assert SECRET not in out + err
    assert default_secret not in out + err

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        stored = client.read_deployment_by_name("gridflow-grid/secrets")
    text = stored.model_dump_json()
    for secret in (SECRET, default_secret):
        assert secret not in text
    schema = stored.parameter_openapi_schema or {}
    token = schema["properties"]["token"]
    assert "default" not in token
    assert token["format"] == "password"
    assert "token" not in stored.parameters
    assert stored.parameters["gridflow_plan"]["variables"]["token"]["has_default"] is False
    # The others are typed parameters with the deploy-time values as defaults.
    assert schema["properties"]["times"] == {
        "title": "times",
        "type": "number",
        "default": 2,
        "position": 1,
    }
    assert stored.parameters["greeting"] == "hello"
    assert stored.entrypoint == "gridflow.engines.prefect_deployed.grid[greeting,times,token]"
    assert stored.pull_steps == []
    assert stored.work_pool_name == pool
    assert [s.schedule.cron for s in stored.schedules] == ["0 6 * * *"]  # type: ignore[union-attr]


@pytest.mark.timeout(300)
def test_serve_runs_deployments_here_and_stops_on_ctrl_c(
    api: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    _write(tmp_path / "exits", FAILING)
    served = _start(
        processes,
        [
            *[sys.executable, "-m", "gridflow", "deploy", "exits", "--serve"],
            *["--name", "exits-here", "-var", f"label={SECRET}"],
        ],
        _env(api, tmp_path / "serve-home"),
        tmp_path / "serve.log",
    )
    deadline = time.monotonic() + 120
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        while True:
            assert served.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                client.read_deployment_by_name("gridflow-grid/exits-here")
                break
            except ObjectNotFound:
                assert time.monotonic() < deadline, "the deployment never appeared"
                time.sleep(0.5)

    ok = _wait_final(_trigger("gridflow-grid/exits-here", {"code": 0}), within=120)
    log = (tmp_path / "serve.log").read_text()
    assert ok.state.is_completed(), log
    # The sensitive value given to `deploy --serve` reached the run, not the API.
    assert _result_doc(api, ok.id)["steps"]["print.after"]["output"] == (
        f"exit gave 0, label of {len(SECRET)}"
    )
    with get_client(sync_client=True) as client:
        stored = client.read_deployment_by_name("gridflow-grid/exits-here")
        assert SECRET not in stored.model_dump_json()
        assert SECRET not in client.read_flow_run(ok.id).model_dump_json()

    failed = _wait_final(_trigger("gridflow-grid/exits-here", {"code": 3}), within=120)
    assert failed.state.is_failed()
    assert "exited with 3" in failed.state.message
    assert "cmd.exit" in failed.state.message
    doc = _result_doc(api, failed.id)
    assert doc["status"] == "failed"
    assert doc["steps"]["cmd.exit"]["status"] == "failed"
    assert "exited with 3" in doc["steps"]["cmd.exit"]["errors"][0]["message"]
    assert doc["steps"]["print.after"]["status"] in ("cancelled", "skipped")

    served.send_signal(signal.SIGINT)
    assert served.wait(timeout=60) == 0
    log = (tmp_path / "serve.log").read_text()
    assert "stopped serving gridflow-grid/exits-here" in log
    assert SECRET not in log


BAD_INPUT = [
    pytest.param(
        {"main.hcl": 'step "print" "x" {\n  arguments { input = }\n}\n'},
        ["--serve"],
        "main.hcl:2:",
        id="syntax-error-file-line",
    ),
    pytest.param(
        {"main.hcl": 'step "nope" "x" {}\n'}, ["--serve"], "main.hcl:1:", id="unknown-runner"
    ),
    pytest.param({"main.hcl": GRID}, [], "--serve", id="neither-serve-nor-pool"),
    pytest.param({"main.hcl": GRID}, ["--serve", "--work-pool", "p"], "--work-pool", id="both"),
    pytest.param(
        {"main.hcl": GRID}, ["--serve", "-var", "nope=1"], 'no variable "nope"', id="unknown-var"
    ),
    pytest.param(
        {"main.hcl": GRID}, ["--serve", "--cron", "every day"], "invalid --cron", id="bad-cron"
    ),
    pytest.param(
        {"main.hcl": GRID},
        ["--serve", "--cron", "* * * * *", "--interval", "5m"],
        "not both",
        id="cron-and-interval",
    ),
    pytest.param(
        {"main.hcl": GRID}, ["--serve", "--interval", "soon"], "--interval", id="bad-interval"
    ),
    pytest.param(
        {"main.hcl": GRID}, ["--serve", "--name", "a/b"], "invalid deployment name", id="bad-name"
    ),
    pytest.param(
        {
            "main.hcl": 'variable "my-var" {\n  default = 1\n}\nstep "print" "x" {\n'
            "  arguments { input = var.my-var }\n}\n"
        },
        ["--serve"],
        '"my-var" cannot be a Prefect parameter',
        id="dashed-variable",
    ),
    pytest.param(
        {"main.hcl": 'variable "gridflow_plan" {\n  default = 1\n}\n'},
        ["--serve"],
        "reserve",
        id="reserved-variable",
    ),
    pytest.param(
        {
            "main.hcl": 'variable "n" {\n  type = number\n}\nstep "print" "x" {\n'
            "  arguments { input = var.n }\n}\n"
        },
        ["--serve", "--interval", "1h"],
        "scheduled runs need a value for variable(s) n",
        id="schedule-without-value",
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("files", "args", "message"), BAD_INPUT)
def test_bad_input_is_a_message_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    # No API is configured: every one of these is refused before one is needed.
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    code, out, err = _deploy("main.hcl", *args)
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_a_job_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text("tasks: []\n")
    code, _, err = _deploy("job.yaml", "--serve")
    assert code == 2
    assert "deploying jobs is not supported yet" in err


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("api_url", "message"),
    [
        pytest.param(None, "set PREFECT_API_URL", id="none-configured"),
        pytest.param("http://127.0.0.1:9/api", "cannot reach the Prefect API", id="unreachable"),
    ],
)
def test_no_prefect_api_is_a_clear_error(tmp_path: Path, api_url: str | None, message: str) -> None:
    _write(tmp_path / "g", GRID)
    env = _env(api_url or "", tmp_path / "home")
    if api_url is None:
        del env["PREFECT_API_URL"]
    proc = subprocess.run(
        [sys.executable, "-m", "gridflow", "deploy", "g", "--serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
def test_a_missing_work_pool_says_how_to_create_it(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "g", GRID)
    monkeypatch.chdir(tmp_path)
    code, _, err = _deploy("g", "--work-pool", "no-such-pool")
    assert code == 2
    assert "prefect work-pool create no-such-pool --type process" in err


def test_the_entrypoint_loads_a_flow_taking_the_grids_variables() -> None:
    import inspect

    from prefect.flows import load_flow_from_entrypoint

    from gridflow.engines.prefect_deployed import FLOW_NAME, entrypoint_for

    flow = load_flow_from_entrypoint(entrypoint_for(["base_url", "count"]))
    assert flow.name == FLOW_NAME
    assert list(inspect.signature(flow.fn).parameters) == [
        "gridflow_plan",
        "gridflow_max_parallel",
        "base_url",
        "count",
    ]
    assert load_flow_from_entrypoint(entrypoint_for([])).name == FLOW_NAME


RUN_VALUES = [
    pytest.param(
        {}, {}, {"greeting": "hello", "times": 2, "token": None}, id="defaults-missing-token"
    ),
    pytest.param(
        {"times": 5, "token": "t"},
        {},
        {"greeting": "hello", "times": 5, "token": "t"},
        id="parameters",
    ),
    pytest.param(
        {"greeting": None, "token": None},
        {"GRIDFLOW_VAR_token": "from-env", "GRIDFLOW_VAR_greeting": "env-hi"},
        {"greeting": "env-hi", "times": 2, "token": "from-env"},
        id="null-parameters-leave-it-to-the-environment",
    ),
    pytest.param(
        {"greeting": "param-hi", "token": "p"},
        {"GRIDFLOW_VAR_greeting": "env-hi"},
        {"greeting": "param-hi", "times": 2, "token": "p"},
        id="parameters-win-over-the-environment",
    ),
]


@pytest.mark.parametrize(("given", "environ", "expected"), RUN_VALUES)
def test_run_values(
    tmp_path: Path, given: dict[str, Any], environ: dict[str, str], expected: dict[str, Any]
) -> None:
    """Where a deployed run's values come from (no Prefect involved)."""
    from gridflow.engines.prefect_deployed import run_values
    from gridflow.errors import UsageError
    from gridflow.translators.hcl import load_grid

    plan = load_grid([_write(tmp_path / "g", GRID)], environ={}).plan
    if expected["token"] is None:
        with pytest.raises(
            UsageError, match=r"no value for variable.s. token: .*GRIDFLOW_VAR_token"
        ):
            run_values(plan, given, environ)
        return
    assert run_values(plan, given, environ) == expected


def test_run_values_refuse_a_wrong_type_naming_the_variable(tmp_path: Path) -> None:
    from gridflow.engines.prefect_deployed import run_values
    from gridflow.errors import UsageError
    from gridflow.translators.hcl import load_grid

    plan = load_grid([_write(tmp_path / "g", GRID)], environ={}).plan
    with pytest.raises(UsageError, match='variable "times" must be number'):
        run_values(plan, {"times": "many", "token": "t"}, {})
