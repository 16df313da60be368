"""Where a job's during-checks go in its Airflow DAG, decided without Airflow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gridflow.engines.airflow.job_shape import (
    JobTaskShape,
    PipelineShape,
    SensorMode,
    job_dag_shape,
    operator_settings,
)
from gridflow.jobs import load_job
from gridflow.jobs.model import JobPlan

PlanOn = tuple[JobPlan, list[str]]

INVENTORY = """\
nodes:
  - { id: web-01, connection: local }
  - { id: web-02, connection: local }
"""

JOB = """\
name: rollout
target: all
timeout: 10m
checks:
  pre: [{ backend: ping, action: hostname }]
  during: { interval: 5s, checks: [{ http: { url: "http://127.0.0.1:8080/health" } }] }
  post: [{ backend: ping, action: hostname }]
tasks:
  - backend: ping
    action: echo
    checks:
      pre: [{ backend: ping, action: hostname }]
      during: [{ backend: ping, action: hostname }]
      post: [{ backend: ping, action: hostname }]
  - name: roll
    tasks:
      - { backend: ping, action: echo }
      - { backend: ping, action: hostname }
    checks:
      during: { interval: 500ms, checks: [{ backend: ping, action: hostname }] }
"""


@pytest.fixture
def plan_and_nodes(tmp_path: Path) -> PlanOn:
    (tmp_path / "job.yaml").write_text(JOB)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    plan, nodes = load_job(tmp_path / "job.yaml", tmp_path / "inventory.yaml")
    return plan, [n.id for n in nodes]


def _ids(item: JobTaskShape | PipelineShape) -> list[str]:
    return [t.full_id for t in item.tasks] if isinstance(item, PipelineShape) else [item.full_id]


def test_during_checks_are_sensors_beside_their_scope(plan_and_nodes: PlanOn) -> None:
    plan, nodes = plan_and_nodes
    shape = job_dag_shape(plan, nodes)
    assert [_ids(i) for i in shape.items] == [
        ["job.pre_checks"],
        ["0.pre_checks"],
        ["0.ping.echo"],
        ["0.post_checks"],
        ["phase1_roll.1.0.ping.echo", "phase1_roll.1.1.ping.hostname"],
        ["job.post_checks"],
        ["job.result"],
    ]
    beside = {b.task.task_id: b for b in shape.beside}
    assert list(beside) == ["0.during_checks", "1.during_checks", "job.during_checks"]
    # a phase's: after its pre-checks (started with its tasks), before its post-checks
    phase0 = beside["0.during_checks"]
    assert (phase0.first, phase0.last) == (2, 2)
    assert phase0.task.watched == (("0.ping.echo", True),)
    assert (phase0.task.interval_s, phase0.task.scope) == (10.0, 0)  # a bare list: every 10 s
    phase1 = beside["1.during_checks"]
    assert (phase1.first, phase1.last, phase1.task.interval_s) == (4, 4, 0.5)
    assert phase1.task.watched == (
        ("phase1_roll.1.0.ping.echo", True),
        ("phase1_roll.1.1.ping.hostname", True),
    )
    # the job's: from phase 0's pre-checks to the last phase, with the phases' sensors
    job = beside["job.during_checks"]
    assert (job.first, job.last, job.task.scope, job.task.interval_s) == (1, 4, None, 5.0)
    assert job.task.watched == (
        ("0.pre_checks", False),
        ("0.ping.echo", True),
        ("0.post_checks", False),
        ("phase1_roll.1.0.ping.echo", True),
        ("phase1_roll.1.1.ping.hostname", True),
        ("0.during_checks", False),
        ("1.during_checks", False),
    )
    # every task's records are read: the sensors' too
    assert {"0.during_checks", "1.during_checks", "job.during_checks"} <= set(shape.task_ids())


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_during_sensor_lasts_as_long_as_the_job_may(
    plan_and_nodes: PlanOn, mode: SensorMode
) -> None:
    plan, nodes = plan_and_nodes
    shape = job_dag_shape(plan, nodes, during_mode=mode)
    [sensor] = [b.task for b in shape.beside if b.task.scope == 1]
    settings = operator_settings(sensor)
    assert settings["mode"] == mode
    assert settings["timeout"] == settings["execution_timeout"] == timedelta(minutes=10, seconds=30)
    assert (settings["retries"], settings["trigger_rule"]) == (0, "all_done")
    assert settings["doc"].startswith("The during-checks of phase 1: a round every 500ms")
    unbounded = plan.model_copy(update={"timeout_s": None})
    [sensor] = [b.task for b in job_dag_shape(unbounded, nodes).beside if b.task.scope == 1]
    assert "timeout" not in operator_settings(sensor)
    assert "execution_timeout" not in operator_settings(sensor)
