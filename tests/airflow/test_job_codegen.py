"""``gridflow compile JOB.yaml --to airflow``: the generated module's DAG is the
in-memory builder's, it finds its inventory on the worker, and it runs.

Each generated file is imported in this process with importlib and its
``dag`` compared with ``build_job_dag`` task by task, attribute by attribute.
The runs use Airflow's DAG test mode in this process, as ``gridflow run
--engine airflow`` does (tests/airflow/test_jobs_on_airflow.py), on
``connection: local`` nodes; the result document must be the one ``gridflow
run --engine local`` prints. Which node fails comes from ``test flaky``'s
seeded draws, computed here with the backend's own draw.

tests/unit/airflow_codegen/test_job_codegen.py checks the files without
Airflow (structure, hostile text, secrets, ruff, CLI errors).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_cli_job_engines import comparable
from tests.unit.airflow_codegen.test_job_codegen import (
    HOSTILE,
    JOBS,
    RICH,
    example_jobs,
    load,
    write_job,
)
from typer.testing import CliRunner

from gridflow.backends.test_backend import flaky_draw
from gridflow.cli import app
from gridflow.engines.airflow.job_codegen import render_job_dag_module

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"compiled_{uuid.uuid4().hex}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What each operator holds besides Airflow's own settings.
JOB_ATTRS = ("plan", "node_ids", "inventory", "record_task_ids", "key", "node", "scope", "stage")
AIRFLOW_ATTRS = (
    "doc",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "max_active_tis_per_dagrun",
    "trigger_rule",
    "owner",
    "pool",
    "queue",
    "priority_weight",
    "weight_rule",
    "depends_on_past",
)


def describe(dag: Any) -> dict[str, Any]:
    """Everything the DAG, its task groups and its tasks are made of."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    tasks: dict[str, Any] = {}
    for task_id, task in dag.task_dict.items():
        mapped = isinstance(task, MappedOperator)
        group = task.task_group
        tasks[task_id] = {
            "class": task.operator_class.__name__ if mapped else type(task).__name__,
            "mapped": mapped,
            "expand": task.expand_input.value if mapped else None,
            "group": group.group_id if group is not None else None,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            # A mapped task: every argument it was given; others, attribute by attribute.
            "kwargs": dict(task.partial_kwargs) if mapped else None,
            **{a: getattr(task, a, None) for a in JOB_ATTRS if not mapped},
            **{a: getattr(task, a) for a in AIRFLOW_ATTRS},
        }
    groups = {
        group_id: (
            type(group).__name__,
            group._expand_input.value if isinstance(group, MappedTaskGroup) else None,
            sorted(group.upstream_task_ids),
            sorted(group.children),
        )
        for group_id, group in dag.task_group_dict.items()
    }
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "schedule": type(dag.timetable).__name__,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "dagrun_timeout": dag.dagrun_timeout,
        "fail_fast": dag.fail_fast,
        "tags": sorted(dag.tags),
        "params": dict(dag.params),
        "default_args": dag.default_args,
        "doc_md": dag.doc_md,
        "groups": groups,
        "tasks": tasks,
    }


def test_generated_module_builds_the_same_dag(tmp_path: Path) -> None:
    from gridflow.engines.airflow.job_build import build_job_dag

    jobs = [(p, JOBS / "inventory.yaml") for p in example_jobs()]
    jobs.append(write_job(tmp_path / "rich", RICH))
    jobs.append(write_job(tmp_path / "hostile", HOSTILE))
    assert len(jobs) >= 5
    for job, inventory in jobs:
        plan, nodes = load(job, inventory)
        dags = tmp_path / "dags" / f"{job.parent.name}_{job.stem}"
        dags.mkdir(parents=True)
        shutil.copy(inventory, dags / "inventory.yaml")
        path = dags / f"compiled_{job.stem}.py"
        path.write_text(render_job_dag_module(plan, nodes), encoding="utf-8")
        module = _import(path)
        assert plan == module.PLAN, job
        assert nodes == module.NODES, job
        assert str((dags / "inventory.yaml").resolve()) == module.INVENTORY, job
        built = build_job_dag(plan, nodes=nodes, inventory=module.INVENTORY, dag_id=job.stem)
        assert describe(module.dag) == describe(built), job

    # The rich job really exercises what it should.
    rich = describe(_import(tmp_path / "dags" / "rich_job" / "compiled_job.py").dag)
    tasks = rich["tasks"]
    assert tasks["0.warm_up"]["expand"] == {"node": ["web-01", "web-02", "web-03"]}
    assert tasks["0.warm_up"]["kwargs"]["retries"] == 2
    assert tasks["0.warm_up"]["kwargs"]["max_active_tis_per_dagrun"] == 1
    assert tasks["phase1_install.1.1.say"]["upstream"] == ["phase1_install.1.0.test.flaky"]
    assert tasks["phase1_install.1.0.test.flaky"]["upstream"] == ["1.pre_checks"]
    assert tasks["phase1_install.1.0.test.flaky"]["retries"] == 3
    assert tasks["1.post_checks"]["upstream"] == ["phase1_install.1.1.say"]
    assert tasks["job.result"]["upstream"] == ["job.post_checks"]
    assert rich["groups"]["phase1_install"][0] == "MappedTaskGroup"
    assert rich["groups"]["phase3_single"][1] == {"node": ["web-01", "web-02", "web-03"]}
    assert rich["dagrun_timeout"].total_seconds() == 20 * 60 + 30
    assert rich["max_active_runs"] == 1


def test_the_checked_in_example_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridflow.engines.airflow.job_build import build_job_dag

    monkeypatch.chdir(ROOT)
    module = _import(JOBS / "compiled_rolling_nginx_deploy.py")
    plan, nodes = load(
        Path("dags_examples/jobs/rolling_nginx_deploy.yaml"),
        Path("dags_examples/jobs/inventory.yaml"),
    )
    # It reads the example inventory it sits beside.
    assert str((JOBS / "inventory.yaml").resolve()) == module.INVENTORY
    built = build_job_dag(
        plan, nodes=nodes, inventory=module.INVENTORY, dag_id="rolling_nginx_deploy"
    )
    assert describe(module.dag) == describe(built)


def test_tasks_read_the_inventory_beside_the_file_else_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    plan, nodes = load(*write_job(tmp_path / "src", RICH))
    alone = tmp_path / "alone" / "compiled.py"
    alone.parent.mkdir()
    alone.write_text(render_job_dag_module(plan, nodes), encoding="utf-8")
    result = _import(alone).dag.get_task("job.result")
    assert result.inventory is None

    monkeypatch.delenv("GRIDFLOW_INVENTORY", raising=False)
    with pytest.raises(AirflowFailException, match="beside the job file \\(or the compiled DAG"):
        result._nodes()
    monkeypatch.setenv("GRIDFLOW_INVENTORY", str(tmp_path / "src" / "inventory.yaml"))
    assert [n.id for n in result._nodes()] == nodes

    # Beside the file, an inventory that lost a node since the file was compiled.
    (alone.parent / "inventory.yaml").write_text(
        "nodes:\n  - { id: web-01, groups: [web], connection: local }\n", encoding="utf-8"
    )
    result = _import(alone).dag.get_task("job.result")
    assert result.inventory == str((alone.parent / "inventory.yaml").resolve())
    with pytest.raises(AirflowFailException, match="web-02, web-03 of job rich-job are not in"):
        result._nodes()


# -------------------------------------------------------------------- runs


INVENTORY = """\
nodes:
  - { id: n1, groups: [fleet], connection: local }
  - { id: n2, groups: [fleet], connection: local }
  - { id: n3, groups: [fleet], connection: local }
  - { id: other, groups: [elsewhere], connection: local }
"""
NODES = ("n1", "n2", "n3")

# strategy continue: the node whose flaky task fails both attempts is fixed,
# then dropped; job and phase checks around it; the job succeeds.
CONTINUE = """\
name: flaky-fleet
target: group:fleet
strategy: continue
timeout: 10m
checks:
  pre: [{ backend: ping, action: hostname }]
  post: [{ backend: cmd, action: run, params: { argv: ["true"] } }]
tasks:
  - name: install
    checks:
      pre: [{ backend: test, action: succeed, params: { message: ready } }]
      post: [{ backend: ping, action: hostname }]
    tasks:
      - { backend: ping, action: echo, params: { message: hello } }
      - { backend: test, action: flaky, params: { rate: 50 }, max_retries: 1 }
      - { backend: ping, action: echo, params: { message: fix }, condition: on_failure }
  - { backend: test, action: succeed, params: { message: after }, concurrency: 2 }
  - { backend: ping, action: echo, params: { message: report }, condition: on_failure }
"""

# fail-fast: one node fails its barrier task twice (the others pass at once,
# so the stop finds them done, whatever order DAG test mode picks); what
# follows is skipped, the rollback runs everywhere, the job fails.
FAIL_FAST = """\
name: upgrade-rollback
target: group:fleet
checks:
  pre: [{ backend: ping, action: hostname }]
tasks:
  - name: prepare
    tasks:
      - { backend: ping, action: echo, params: { message: hello } }
      - { backend: test, action: succeed, params: { message: ready } }
  - { backend: test, action: flaky, params: { rate: 50 }, max_retries: 1 }
  - { backend: ping, action: echo, params: { message: after } }
  - { backend: ping, action: echo, params: { message: rollback }, condition: on_failure }
"""


def failing(seed: str) -> tuple[set[str], set[str]]:
    """The nodes failing both attempts, and those failing only the first (rate 50 %)."""
    draws = {n: [flaky_draw(n, a, seed) < 50 for a in (1, 2)] for n in NODES}
    return {n for n, d in draws.items() if all(d)}, {
        n for n, d in draws.items() if d == [True, False]
    }


def _cli(args: list[str], home: Path) -> Any:
    return CliRunner().invoke(app, args, env={"GRIDFLOW_INVENTORY": "", "GRIDFLOW_HOME": str(home)})


@pytest.mark.parametrize(
    ("job_text", "seed", "status"),
    [(CONTINUE, "flaky-fleet:0.1", "success"), (FAIL_FAST, "upgrade-rollback:1", "failed")],
    ids=["continue-drops-the-failed-node", "fail-fast-rolls-back"],
)
def test_compiled_dag_runs_as_the_local_engine(
    tmp_path: Path, job_text: str, seed: str, status: str
) -> None:
    from gridflow.engines.airflow.job_run import run_job_dag_file
    from gridflow.engines.airflow.run import configure_airflow_environment, engine_home
    from gridflow.jobs import load_job

    both, first_only = failing(seed)
    assert len(both) == 1, "the draws no longer fail exactly one node"
    if status == "failed":
        assert not first_only, "the draws no longer let the other nodes pass at once"
    src = tmp_path / "src"
    src.mkdir()
    (src / "job.yaml").write_text(job_text, encoding="utf-8")
    (src / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")

    local = _cli(
        ["run", str(src / "job.yaml"), "-i", str(src / "inventory.yaml"), "-o", "json"],
        tmp_path / "home",
    )
    assert local.exit_code == (0 if status == "success" else 1), local.stderr
    local_doc = json.loads(local.stdout)

    # The compiled file in a folder of Airflow's dags folder, its inventory beside it.
    dags = configure_airflow_environment(engine_home()) / f"compiled_{uuid.uuid4().hex[:8]}"
    dags.mkdir()
    shutil.copy(src / "inventory.yaml", dags / "inventory.yaml")
    compiled = _cli(
        [
            "compile",
            str(src / "job.yaml"),
            "--to",
            "airflow",
            "-i",
            str(src / "inventory.yaml"),
            "--dag-id",
            f"compiled_{dags.name}",
            "-o",
            str(dags / "job_dag.py"),
        ],
        tmp_path / "home",
    )
    assert compiled.exit_code == 0, compiled.stderr
    plan, nodes = load_job(src / "job.yaml", src / "inventory.yaml")
    doc = run_job_dag_file(dags / "job_dag.py", plan, nodes).result()

    assert doc["status"] == local_doc["status"] == status
    assert comparable(doc) == comparable(local_doc)
    if status == "success":
        assert sorted(doc["dropped"]) == sorted(both)
        assert {n for n, e in doc["results"]["0.2"].items() if e["status"] == "success"} == both
        assert {n for n, e in doc["results"]["1"].items() if e["status"] == "success"} == (
            set(NODES) - both
        )
    else:
        assert {n: e["attempts"] for n, e in doc["results"]["1"].items()} == {
            n: 2 if n in both else 1 for n in NODES
        }
        assert {e["status"] for e in doc["results"]["2"].values()} == {"skipped"}
        assert {e["status"] for e in doc["results"]["3"].values()} == {"success"}
