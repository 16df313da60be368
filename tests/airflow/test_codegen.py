"""``gridflow compile --to airflow``: the generated module's DAG is the in-memory builder's.

No Airflow server here: each generated file is imported in this process with
importlib, and its ``dag`` compared with ``build_dag(plan)`` task by task.
"""

from __future__ import annotations

import importlib.util
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from gridflow.plan import Plan
from gridflow.translators.hcl import load_grid

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "dags_examples" / "grids").iterdir()) + sorted(
    (ROOT / "dags_examples" / "airflow").glob("*.hcl")
)

# Fan-out, nested [each] chains, two groups, first_output, S[2], depends_on,
# retries with exponential backoff, timeouts, concurrency limits, sensitive
# variables and typed params.
FANOUT = """
variable "who" {
  type        = list(string)
  default     = ["ada", "grace", "linus"]
  description = "names"
}
variable "token" {
  type      = string
  default   = "s3cr3t-default-value"
  sensitive = true
}
variable "limits" {
  type    = object({ a = number, b = optional(map(bool)) })
  default = { a = 1 }
}
variable "needed" {
  type = set(number)
}
step "print" "start" {
  timeout = "5s"
  arguments { input = "hi ${var.token}" }
}
step "print" "fan" {
  for_each = toset(var.who)
  retry {
    attempts  = 4
    delay     = "2s"
    backoff   = "exponential"
    max_delay = "30s"
  }
  concurrency { limit = 2 }
  timeout      = "10s"
  delay_before = "1s"
  arguments { input = "${print.start.output}-${each.key}" }
}
step "print" "per" {
  retry {
    attempts = 2
    delay    = "500ms"
  }
  arguments { input = print.fan[each].output }
}
step "print" "deeper" {
  arguments { input = print.per[each].output }
}
step "print" "n" {
  count = 3
  concurrency { limit = 1 }
  arguments { input = count.index }
}
step "print" "third" {
  arguments { input = print.n[2].output }
}
step "print" "fast" {
  arguments { input = print.n.first_output }
}
step "print" "again" {
  arguments { input = "${print.deeper[each].output}/${print.third.output}" }
}
step "print" "each_n" {
  arguments { input = print.n[each].output }
}
step "print" "solo" {
  for_each = var.needed
  retry {
    attempts = 3
    delay    = "1s"
    backoff  = "exponential"
  }
  timeout = "1m"
  concurrency { limit = 5 }
  arguments { input = each.key }
}
step "print" "sum" {
  depends_on = ["print.again", "print.fast"]
  arguments { input = "${join(",", print.per.output)} ${length(print.each_n.output)}" }
}
"""


def _grid(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.hcl"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _plans(tmp_path: Path) -> dict[str, Plan]:
    plans = {p.stem if p.suffix else p.name: _load(p) for p in EXAMPLES}
    plans["fanout"] = _load(_grid(tmp_path, "fanout", FANOUT))
    return plans


def _load(path: Path) -> Plan:
    plan: Plan = load_grid([path], environ={}).plan
    return plan


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"compiled_{uuid.uuid4().hex}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _describe(dag: Any) -> dict[str, Any]:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    tasks: dict[str, Any] = {}
    for task_id, task in dag.task_dict.items():
        mapped = isinstance(task, MappedOperator)
        kwargs = task.partial_kwargs if mapped else task.__dict__
        group = task.task_group
        tasks[task_id] = {
            "upstream": sorted(task.upstream_task_ids),
            "class": task.operator_class.__name__ if mapped else type(task).__name__,
            "mapped": mapped,
            "group": group.group_id if group is not None else None,
            "group_class": type(group).__name__ if group is not None else None,
            "step_id": kwargs["step_id"],
            "doc": task.doc,
            **{
                attr: getattr(task, attr)
                for attr in (
                    "retries",
                    "retry_delay",
                    "retry_exponential_backoff",
                    "max_retry_delay",
                    "execution_timeout",
                    "max_active_tis_per_dagrun",
                    "trigger_rule",
                )
            },
        }
    params = {
        name: (param.value, param.schema, param.description)
        for name, param in dag.params.items()
        for param in [dag.params.get_param(name)]
    }
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "fail_fast": dag.fail_fast,
        "catchup": dag.catchup,
        "schedule": type(dag.timetable).__name__,
        "tags": sorted(dag.tags),
        "params": params,
        "tasks": tasks,
    }


def test_generated_module_builds_the_same_dag(tmp_path: Path) -> None:
    from gridflow.engines.airflow.build import build_dag
    from gridflow.engines.airflow.codegen import render_dag_module
    from gridflow.plan.variables import public_plan

    plans = _plans(tmp_path)
    assert len(plans) >= 12
    for name, plan in plans.items():
        path = tmp_path / f"dag_{name}.py"
        path.write_text(render_dag_module(plan), encoding="utf-8")
        module = _import(path)
        assert public_plan(plan) == module.PLAN.get(), name
        built, compiled = _describe(build_dag(plan)), _describe(module.dag)
        assert compiled == built, name

    # The fan-out grid really exercises what it should.
    fan = _describe(build_dag(plans["fanout"]))
    tasks = fan["tasks"]
    assert tasks["print__fan.print.deeper"]["upstream"] == [
        "print.fan.instances",
        "print__fan.print.per",
    ]
    assert tasks["print__fan.print.again"]["upstream"] == [
        "print.fan.instances",
        "print.third",
        "print__fan.print.deeper",
    ]
    assert tasks["print__fan.print.fan"]["retry_exponential_backoff"] == 2.0
    assert tasks["print__fan.print.fan"]["max_active_tis_per_dagrun"] == 2
    assert tasks["print__n.print.n"]["group_class"] == "MappedTaskGroup"
    assert tasks["print.third"]["upstream"] == ["print__n.print.n"]
    assert tasks["print.fast"]["upstream"] == ["print__n.print.n"]
    assert tasks["print.solo"]["mapped"]
    assert tasks["print.solo"]["upstream"] == ["print.solo.instances"]
    assert tasks["print.solo"]["max_active_tis_per_dagrun"] == 5
    assert tasks["print.sum"]["upstream"] == [
        "print.fast",
        "print__fan.print.again",
        "print__fan.print.per",
        "print__n.print.each_n",
    ]
    assert tasks["print.start"]["execution_timeout"] is not None
    assert fan["params"]["token"][0] is None


def test_a_given_dag_id_is_used(tmp_path: Path) -> None:
    from gridflow.engines.airflow.codegen import render_dag_module

    path = tmp_path / "named.py"
    plan = _load(_grid(tmp_path, "g", 'step "print" "a" {\n  arguments { input = 1 }\n}\n'))
    path.write_text(render_dag_module(plan, dag_id="my.dag-1"), encoding="utf-8")
    assert _import(path).dag.dag_id == "my.dag-1"


def test_the_checked_in_example_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridflow.engines.airflow.build import build_dag

    monkeypatch.chdir(ROOT)
    module = _import(ROOT / "dags_examples" / "airflow" / "compiled_fleet_greetings.py")
    plan = _load(Path("dags_examples/airflow/fleet_greetings.hcl"))
    built = _describe(build_dag(plan, dag_id="fleet_greetings_compiled"))
    assert _describe(module.dag) == built
