"""The Airflow DAG's shape, ids, XCom records and one-task runs, without Airflow."""

from __future__ import annotations

import asyncio
import base64
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gridflow.engines.airflow.instance import RunContext, Verdict, count_instances, run_instance
from gridflow.engines.airflow.names import check_ids, task_id_for
from gridflow.engines.airflow.records import SEALED, NoKeyError, seal, unseal
from gridflow.engines.airflow.shape import GroupShape, TaskShape, dag_shape
from gridflow.errors import UsageError
from gridflow.plan import Plan
from gridflow.runtime.masking import Masker
from gridflow.translators.hcl import load_grid

GRID = """
variable "who" {
  type    = string
  default = "world"
}
variable "token" {
  type      = string
  default   = "s3cr3t-default"
  sensitive = true
}
variable "sizes" {
  type    = list(number)
  default = [1, 2]
}
step "print" "start" {
  arguments { input = "hi ${var.who}" }
}
step "print" "fan" {
  for_each = toset(["a", "b"])
  retry {
    attempts = 3
    delay    = "2s"
    backoff  = "exponential"
  }
  timeout = "5s"
  concurrency { limit = 1 }
  arguments { input = "${print.start.output}-${each.key}" }
}
step "print" "per" {
  arguments { input = print.fan[each].output }
}
step "print" "n" {
  count = 2
  arguments { input = count.index }
}
step "print" "sum" {
  arguments { input = "${join(",", print.per.output)} ${print.n[1].output}" }
}
"""


def load(tmp_path: Path, text: str = GRID) -> Plan:
    (tmp_path / "g.hcl").write_text(textwrap.dedent(text))
    return load_grid([tmp_path / "g.hcl"], environ={}).plan


def test_shape_maps_fan_out_chains_and_meta_arguments(tmp_path: Path) -> None:
    shape = dag_shape(load(tmp_path))
    assert shape.dag_id == "g"
    kinds = [
        (i.group_id, [t.task_id for t in i.tasks]) if isinstance(i, GroupShape) else i.task_id
        for i in shape.items
    ]
    assert kinds == [
        "print.start",
        "print.fan.instances",
        ("print__fan", ["print.fan", "print.per"]),
        "print.n.instances",
        "print.n",
        "print.sum",
    ]
    tasks = {(t.group, t.task_id): t for t in shape.tasks()}
    fan = tasks[("print__fan", "print.fan")]
    assert (fan.retries, fan.retry_delay_s, fan.exponential_backoff) == (2, 2.0, True)
    assert fan.execution_timeout_s == 35.0  # 5 s + 30 s grace
    assert fan.max_active_per_run == 1
    assert tasks[("print__fan", "print.per")].upstream == ("print__fan.print.fan",)
    assert tasks[(None, "print.fan.instances")].upstream == ("print.start",)
    assert tasks[(None, "print.n")].expand_over == "print.n.instances"
    assert set(tasks[(None, "print.sum")].upstream) == {"print__fan.print.per", "print.n"}


def test_params_are_typed_and_sensitive_defaults_never_shown(tmp_path: Path) -> None:
    params = {p.name: p for p in dag_shape(load(tmp_path)).params}
    assert params["who"].default == "world"
    assert params["who"].schema == {"type": "string"}
    assert params["sizes"].schema == {"type": "array", "items": {"type": "number"}}
    assert params["token"].default is None
    assert params["token"].schema == {"type": ["string", "null"]}
    assert "s3cr3t" not in repr(params["token"])


def test_task_ids_and_group_collisions(tmp_path: Path) -> None:
    plan = load(tmp_path)
    assert task_id_for(plan, "print.per") == "print__fan.print.per"
    assert task_id_for(plan, "print.sum") == "print.sum"
    two = load(
        tmp_path,
        """
        step "print" "a__b" {
          count = 2
          arguments { input = 1 }
        }
        step "print" "c" {
          arguments { input = print.a__b[each].output }
        }
        step "print" "d" {
          count = 2
          arguments { input = 1 }
        }
        step "print" "e" {
          arguments { input = print.d[each].output }
        }
        """,
    )
    check_ids(two)
    # Step ids "print.a__b" and "print__a.b" would both be group "print__a__b".
    d = two.steps["print.d"].model_copy(update={"id": "print__a.b"})
    e = two.steps["print.e"].model_copy(update={"each_of": "print__a.b"})
    clash = two.model_copy(
        update={
            "steps": {
                **{k: v for k, v in two.steps.items() if k != "print.d"},
                d.id: d,
                "print.e": e,
            }
        }
    )
    with pytest.raises(UsageError, match="same Airflow task group id 'print__a__b'"):
        check_ids(clash)


class FakeCipher:
    """Reversible, marks its output, stands in for Airflow's Fernet."""

    is_encrypted = True

    def encrypt(self, msg: bytes) -> bytes:
        return b"enc:" + base64.b64encode(msg)

    def decrypt(self, msg: bytes, ttl: int | None = None) -> bytes:
        assert msg.startswith(b"enc:")
        return base64.b64decode(msg[4:])


def test_records_with_secrets_are_sealed_and_carry_their_secrets() -> None:
    masker = Masker()
    masker.add("tok-123456")
    record = {"position": 0, "status": "success", "output": {"auth": "Bearer tok-123456"}}
    shown = seal(record, masker, FakeCipher())
    assert shown["output"] == {"auth": "Bearer ***"}
    assert "tok-123456" not in repr(shown)
    reader = Masker()
    assert unseal(shown, FakeCipher(), reader) == record
    assert reader.redact_text("x tok-123456") == "x ***"
    plain = {"position": 0, "status": "success", "output": "nothing secret"}
    assert seal(plain, masker, None) is plain
    assert SEALED not in seal(plain, masker, FakeCipher())
    with pytest.raises(NoKeyError, match="AIRFLOW__CORE__FERNET_KEY"):
        seal(record, masker, None)


class Store:
    """Records by step, as XCom would hold them."""

    def __init__(self) -> None:
        self.data: dict[str, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def records(self, step_id: str) -> list[dict[str, Any]]:
        return self.data.get(step_id, [])

    def count(self, step_id: str) -> int:
        return self.counts[step_id]


def run_one(ctx: RunContext, store: Store, step_id: str, position: int = 0, attempt: int = 1):  # type: ignore[no-untyped-def]
    result = asyncio.run(run_instance(ctx, step_id, position, store, attempt=attempt))
    store.data.setdefault(step_id, []).append(result.record)
    return result


def test_one_task_at_a_time_verdicts(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "list" {
          arguments { input = ["x", "y", "z"] }
        }
        step "print" "each_item" {
          for_each = toset(print.list.output)
          arguments { input = "item ${each.value}" }
        }
        step "print" "off" {
          if = length(print.each_item.output) > 5
          arguments { input = "never" }
        }
        step "cmd" "fails" {
          continue_on_error = true
          arguments { argv = ["false"] }
        }
        step "cmd" "retried" {
          retry { attempts = 2 }
          arguments { argv = ["false"] }
        }
        """,
    )
    ctx = RunContext(plan, {})
    store = Store()
    assert run_one(ctx, store, "print.list").verdict is Verdict.SUCCESS
    store.counts["print.each_item"] = count_instances(ctx, "print.each_item", store)
    assert store.counts["print.each_item"] == 3
    outputs = [run_one(ctx, store, "print.each_item", p).record["output"] for p in range(3)]
    assert outputs == ["item x", "item y", "item z"]
    off = run_one(ctx, store, "print.off")
    assert (off.verdict, off.record["status"]) == (Verdict.SKIP, "skipped")
    fails = run_one(ctx, store, "cmd.fails")
    assert (fails.verdict, fails.record["status"]) == (Verdict.CONTINUE, "failed")
    assert run_one(ctx, store, "cmd.retried", attempt=1).verdict is Verdict.RETRY
    last = run_one(ctx, store, "cmd.retried", attempt=2)
    assert (last.verdict, last.record["attempts"]) == (Verdict.FAIL, 2)


def test_each_chain_instance_runs_with_only_its_own_upstream_record(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "fan" {
          count = 3
          arguments { input = count.index * 10 }
        }
        step "print" "per" {
          arguments { input = print.fan[each].output + 1 }
        }
        """,
    )
    ctx = RunContext(plan, {})
    store = Store()
    store.counts["print.fan"] = 3
    # Only instance 2 of the chain root has finished (a parallel Airflow).
    store.data["print.fan"] = [
        {"position": 2, "key": 2, "value": 2, "status": "success", "output": 20, "attempts": 1}
    ]
    result = run_one(ctx, store, "print.per", 2)
    assert (result.verdict, result.record["output"], result.record["key"]) == (
        Verdict.SUCCESS,
        21,
        2,
    )


def test_shape_refuses_what_airflow_would(tmp_path: Path) -> None:
    plan = load(tmp_path, 'step "print" "ok" {\n  arguments { input = 1 }\n}\n')
    long = plan.model_copy(
        update={
            "steps": {
                "print." + "x" * 260: plan.steps["print.ok"].model_copy(
                    update={"id": "print." + "x" * 260, "name": "x" * 260}
                )
            }
        }
    )
    with pytest.raises(UsageError, match="longer than 250"):
        dag_shape(long)
    assert isinstance(dag_shape(plan).items[0], TaskShape)


def test_uuid_is_the_same_on_every_try_of_an_instance(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """
        step "print" "ids" {
          count = 2
          arguments { input = [uuid(), uuid()] }
        }
        step "print" "other" {
          arguments { input = uuid() }
        }
        """,
    )
    store = Store()
    store.counts["print.ids"] = 2
    first = RunContext(plan, {}, run_id="run-1")
    again = RunContext(plan, {}, run_id="run-1")
    tries = [
        asyncio.run(run_instance(c, "print.ids", 0, store, attempt=a)).record["output"]
        for c, a in ((first, 1), (again, 2))
    ]
    assert tries[0] == tries[1]  # a retry sees the values of the first try
    a, b = tries[0]
    assert a != b  # two calls, two values
    other_instance = asyncio.run(run_instance(first, "print.ids", 1, store)).record["output"]
    other_step = asyncio.run(run_instance(first, "print.other", 0, store)).record["output"]
    other_run = asyncio.run(
        run_instance(RunContext(plan, {}, run_id="run-2"), "print.ids", 0, store)
    ).record["output"]
    assert len({a, *other_instance, other_step, *other_run}) == 6
