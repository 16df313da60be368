"""Valid jobs become the JobPlan they mean: GRID's own examples unchanged,
the shipped examples, defaults, positions, and a lossless JSON round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflow.jobs import (
    BackendCheck,
    HttpCheck,
    JobPlan,
    Target,
    read_job,
)
from gridflow.jobs.model import DEFAULT_TASK_TIMEOUT_S

HERE = Path(__file__).parent
GRID_SEED = HERE / "grid_seed"
EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples" / "jobs"
EXAMPLE_JOBS = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "inventory.yaml")


def shape(plan: JobPlan) -> list[tuple[str, str | None, list[str]]]:
    """(kind, condition, ["key backend.action", ...]) per phase."""
    return [(p.kind, p.condition, [f"{t.key} {t.ref}" for t in p.tasks]) for p in plan.phases]


# Every job example of seeds/002 (GRID's README), copied unchanged into grid_seed/.
SEED_SHAPES = {
    "flat_barrier.yaml": [
        ("barrier", None, ["0 apt.update"]),
        ("barrier", None, ["1 apt.install"]),
        ("barrier", None, ["2 systemd.start"]),
    ],
    "hierarchical_pipeline.yaml": [
        ("pipeline", None, ["0.0 apt.update", "0.1 apt.install", "0.2 systemd.enable"]),
        ("barrier", None, ["1 systemd.start"]),
    ],
    "conditions_rollback.yaml": [
        ("barrier", None, ["0 apt.install"]),
        ("barrier", None, ["1 systemd.start"]),
        ("pipeline", "on_failure", ["2.0 apt.remove", "2.1 ping.echo"]),
    ],
    "api_submit.json": [
        ("barrier", None, ["0 apt.install"]),
        ("barrier", None, ["1 systemd.start"]),
    ],
    "spec_example.yaml": [
        ("pipeline", None, ["0.0 apt.update", "0.1 apt.install"]),
        ("barrier", None, ["1 systemd.start"]),
        ("pipeline", "on_failure", ["2.0 apt.remove"]),
    ],
}


@pytest.mark.parametrize(("name", "expected"), SEED_SHAPES.items(), ids=SEED_SHAPES.keys())
def test_grid_examples_load_unchanged(name: str, expected: list[object]) -> None:
    plan = read_job(GRID_SEED / name)
    assert shape(plan) == expected
    assert plan.strategy == "fail-fast"


def test_every_seed_file_is_in_the_table() -> None:
    assert sorted(p.name for p in GRID_SEED.iterdir()) == sorted(SEED_SHAPES)


def test_seed_details() -> None:
    flat = read_job(GRID_SEED / "flat_barrier.yaml")
    assert flat.name == "flat_barrier"  # from the file name
    assert flat.target == Target(scope="group", value="web", loc=flat.target.loc)
    assert flat.timeout_s is None
    install = flat.phases[1].tasks[0]
    assert install.params == {"package": "nginx"}
    assert install.timeout_s == DEFAULT_TASK_TIMEOUT_S == 300
    assert install.max_retries == 0
    assert (install.loc.line, install.loc.col) == (7, 5)

    spec = read_job(GRID_SEED / "spec_example.yaml")
    assert spec.name == "deploy-nginx"
    assert spec.timeout_s == 600
    start = spec.phases[1].tasks[0]
    assert (start.timeout_s, start.max_retries) == (30, 3)
    assert [spec.backoff.delay_before_retry(n) for n in (1, 2, 3)] == [1, 2, 4]

    everyone = read_job(GRID_SEED / "conditions_rollback.yaml")
    assert everyone.target == Target(scope="all", loc=everyone.target.loc)
    echo = everyone.phases[2].tasks[1]
    assert echo.params == {"message": "rollback complete"}


@pytest.mark.parametrize("path", EXAMPLE_JOBS, ids=[p.stem for p in EXAMPLE_JOBS])
def test_shipped_examples_load_and_round_trip(path: Path) -> None:
    plan = read_job(path)
    assert JobPlan.from_json(plan.to_json()) == plan
    assert plan.description or path.read_text().startswith("#")  # each one explains itself


def test_shipped_examples_show_what_they_say() -> None:
    rolling = read_job(EXAMPLES / "rolling_nginx_deploy.yaml")
    deploy, rollback = rolling.phases
    assert (deploy.kind, str(deploy.concurrency)) == ("pipeline", "1")
    assert [t.ref for t in deploy.tasks] == ["apt.update", "apt.install", "systemd.start"]
    assert rollback.condition == "on_failure"
    assert [t.condition for t in rollback.tasks] == [None, "always"]

    budget = read_job(EXAMPLES / "continue_with_budget.yaml")
    assert budget.strategy == "continue"
    assert str(budget.phases[0].tolerate_failures) == "34%"
    assert budget.phases[0].tasks[0].ref == "test.flaky"

    checks = read_job(EXAMPLES / "checks.yaml")
    assert [type(c) for c in checks.checks.pre] == [HttpCheck, BackendCheck]
    during = checks.phases[0].checks
    assert during.during_interval_s == 0.5
    assert [c.kind for c in during.during] == ["http", "backend"]

    both = read_job(EXAMPLES / "pipeline_and_barrier.yaml")
    assert [p.kind for p in both.phases] == ["pipeline", "barrier", "barrier"]


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_option_lands_in_the_plan(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
name: everything
description: every key at once
target: node:web-01
strategy: continue
timeout: 1h
checks:
  pre:
    - name: up
      http: { url: "https://127.0.0.1:8443/ok", expect_status: [200, "3xx"], timeout: 2s,
              verify_tls: false }
  during: [ { backend: systemd, action: status, params: { unit: nginx }, timeout: 5s } ]
tasks:
  - name: pipe
    condition: always
    concurrency: "50%"
    tolerate_failures: 2
    tasks:
      - { name: one, backend: cmd, action: run, params: { argv: [echo, hi], env: { A: 1 } } }
      - { backend: test, action: flaky, params: { rate: "25", delay: 1s }, max_retries: 4,
          timeout: 90, condition: on_failure }
  - backend: ping
    action: sleep
    params: { duration: 1m30s }
    condition: on_success
    concurrency: 3
    tolerate_failures: "0%"
    checks: { post: [ { backend: test, action: succeed } ] }
""",
    )
    plan = read_job(path)
    assert (plan.name, plan.description, str(plan.target)) == (
        "everything",
        "every key at once",
        "node:web-01",
    )
    assert (plan.strategy, plan.timeout_s) == ("continue", 3600)
    probe = plan.checks.pre[0]
    assert isinstance(probe, HttpCheck)
    assert (probe.name, probe.expect_status, probe.timeout_s, probe.verify_tls) == (
        "up",
        [200, "3xx"],
        2,
        False,
    )
    watch = plan.checks.during[0]
    assert isinstance(watch, BackendCheck)
    assert (watch.backend, watch.action, watch.timeout_s) == ("systemd", "status", 5)
    assert plan.checks.during_interval_s == 10  # the default

    pipe, sleep = plan.phases
    assert (pipe.name, pipe.condition, str(pipe.concurrency), str(pipe.tolerate_failures)) == (
        "pipe",
        "always",
        "50%",
        "2",
    )
    one, flaky = pipe.tasks
    assert one.name == "one"
    assert one.params == {"argv": ["echo", "hi"], "shell": None, "env": {"A": "1"}, "cwd": None}
    assert flaky.params == {"rate": 25.0, "delay": 1.0}
    assert (flaky.max_retries, flaky.timeout_s, flaky.condition) == (4, 90, "on_failure")
    assert sleep.tasks[0].params == {"duration": 90.0}
    assert (sleep.condition, str(sleep.concurrency), str(sleep.tolerate_failures)) == (
        "on_success",
        "3",
        "0%",
    )
    assert [c.kind for c in sleep.checks.post] == ["backend"]
    assert JobPlan.from_json(plan.to_json()) == plan
    # An engine rebuilds the backend's own parameter model from the plan.
    assert flaky.action_params().model_dump() == {"rate": 25.0, "delay": 1.0}


def test_defaults(tmp_path: Path) -> None:
    plan = read_job(
        write(tmp_path, "target: all\ntasks: [ { backend: ping, action: hostname } ]\n")
    )
    phase = plan.phases[0]
    assert (plan.strategy, plan.timeout_s, bool(plan.checks)) == ("fail-fast", None, False)
    assert (phase.condition, phase.concurrency, phase.tolerate_failures) == (None, None, None)
    assert str(phase.failure_budget("fail-fast")) == "0"
    assert str(phase.failure_budget("continue")) == "100%"
    task = phase.tasks[0]
    assert (task.timeout_s, task.max_retries, task.condition, task.params) == (300, 0, None, {})


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("deploy.yaml", "deploy"),
        ("my job (v2).yml", "my-job-v2"),
        ("...yaml", "job"),
    ],
    ids=["plain", "unsafe-characters", "nothing-left"],
)
def test_name_from_file_name(tmp_path: Path, file_name: str, expected: str) -> None:
    path = write(
        tmp_path, "target: all\ntasks: [ { backend: ping, action: hostname } ]\n", file_name
    )
    assert read_job(path).name == expected


def test_cli_target_replaces_or_supplies_the_files(tmp_path: Path) -> None:
    no_target = write(tmp_path, "tasks: [ { backend: ping, action: hostname } ]\n")
    given = Target(scope="group", value="db")
    assert read_job(no_target, target=given).target == given
    with_target = write(
        tmp_path, "target: all\ntasks: [ { backend: ping, action: hostname } ]\n", "b.yaml"
    )
    assert read_job(with_target, target=given).target == given


def test_yaml_conveniences(tmp_path: Path) -> None:
    """x- keys hold anchors, merge keys work, timestamps stay text, GRID's empty values pass."""
    plan = read_job(
        write(
            tmp_path,
            """\
x-probe: &probe { backend: ping, action: echo }
target: { scope: all, value: "" }
tasks:
  - { <<: *probe, params: { message: 2024-01-01 }, condition: "" }
""",
        )
    )
    task = plan.phases[0].tasks[0]
    assert (task.ref, task.params, plan.phases[0].condition) == (
        "ping.echo",
        {"message": "2024-01-01"},
        None,
    )
