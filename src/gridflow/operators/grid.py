"""The operators every gridflow DAG is made of.

One generic operator runs any step, rather than one operator class per
runner: a step's semantics (``if``, argument expressions, fan-out keys,
``[each]`` pairing, masking, retry decisions) live in the engine-neutral
runtime that the Prefect and local engines use too
(:mod:`gridflow.engines.airflow.instance`). An operator per runner would
either duplicate that or be a thin alias with nothing of its own;
docs/decisions/0005-airflow-dag-shape.md has the reasoning.

* :class:`GridInstancesOperator` counts a fanned-out step's instances; the
  step's task maps over its output (``expand(position=...)``).
* :class:`GridStepOperator` runs one instance of one step and pushes the
  instance's record (small JSON) as its XCom return value.
* :class:`GridBurstOperator` runs a burst (every instance of a fan-out and
  its ``[each]`` chain in this task), or one of its shards, or merges the
  shards' results; it pushes the members' counts and metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.crypto import get_fernet
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.log import mask_secret

from gridflow.engines.airflow.instance import (
    RunContext,
    Verdict,
    count_instances,
    merge_burst,
    run_burst_shard,
    run_instance,
)
from gridflow.engines.airflow.names import instances_task_id, shard_task_id, task_id_for
from gridflow.engines.airflow.records import ERROR_XCOM_KEY, Cipher, seal, unseal
from gridflow.errors import GridflowError
from gridflow.hooks.connections import register as register_airflow_connections
from gridflow.operators.links import GridSourceLink
from gridflow.plan import LazyPlan, Location, Plan
from gridflow.runtime import loop
from gridflow.runtime.masking import Masker
from gridflow.translators.hcl.varsources import scheduler_values

__all__ = [
    "BrokenGridOperator",
    "GridBurstOperator",
    "GridInstancesOperator",
    "GridStepOperator",
    "StepFailed",
]

log = logging.getLogger(__name__)


# Where a task's secrets go besides Airflow's own masker. `gridflow run
# --engine airflow` runs the tasks in its own process and adds its masker
# here, so what it prints on the terminal is masked too.
secret_sinks: list[Callable[[str], None]] = []


def _on_secret(secret: str) -> None:
    mask_secret(secret)
    for sink in secret_sinks:
        sink(secret)


class StepFailed(Exception):
    """A step's attempt failed and Airflow may try again (retries remain)."""


class _GridOperator(BaseOperator):
    """What both operators share: the Plan, the step, the run's values."""

    ui_color = "#e8f0fe"
    # Airflow deep-copies operators (e.g. to render templates); the Plan is
    # read-only and may be large.
    shallow_copy_attrs: Sequence[str] = ("_plan_source",)
    # "Grid source" in the task's UI: the step's block in its .hcl file.
    operator_extra_links = (GridSourceLink(),)

    def __init__(
        self,
        *,
        plan: Plan | LazyPlan,
        step_id: str,
        base_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(plan, Plan) and step_id not in plan.steps:
            raise ValueError(f"step {step_id!r} is not in grid {plan.name!r}")
        # A LazyPlan (compiled DAG files) is read only when a task executes.
        self._plan_source = plan
        self.step_id = step_id
        self.base_dir = base_dir

    @property
    def plan(self) -> Plan:
        source = self._plan_source
        plan = source.get() if isinstance(source, LazyPlan) else source
        if self.step_id not in plan.steps:
            raise AirflowFailException(f"step {self.step_id!r} is not in grid {plan.name!r}")
        return plan

    def source_location(self) -> Location:
        """Where the step is written, for the "Grid source" link."""
        return self.plan.steps[self.step_id].loc

    def _context(self, context: Mapping[str, Any]) -> tuple[RunContext, _XComRecords]:
        plan = self.plan
        # Steps naming a connection (s3's connection = "...") read Airflow's.
        register_airflow_connections()
        # GridRun adds the sensitive variables' values to this masker, and every
        # secret it learns also goes to Airflow's own masker (task logs).
        masker = Masker(on_secret=_on_secret)
        values = run_values(plan, context.get("params") or {}, os.environ)
        run_id = getattr(context.get("dag_run"), "run_id", None)
        ctx = RunContext(plan, values, run_id=run_id, base_dir=self.base_dir, masker=masker)
        return ctx, _XComRecords(context["ti"], plan, _cipher(), masker)


class GridInstancesOperator(_GridOperator):
    """Counts the instances of a fanned-out step (``count`` / ``for_each``).

    Returns ``[0, 1, ..., n-1]``: the positions the step's mapped task (or
    its ``[each]`` chain's mapped task group) expands over.
    """

    ui_color = "#f1f3f4"

    def execute(self, context: Any) -> list[int]:
        ctx, records = self._context(context)
        try:
            count = count_instances(ctx, self.step_id, records)
        except GridflowError as exc:
            message = f"{self.step_id}: {exc}"
            # Kept for the run's result; not retried: the same expression gives
            # the same error again.
            context["ti"].xcom_push(key=ERROR_XCOM_KEY, value=message)
            raise AirflowFailException(message) from None
        log.info("%s: %d instance(s)", self.step_id, count)
        return list(range(count))


class GridStepOperator(_GridOperator):
    """Runs one instance of one grid step on this worker.

    ``position`` is the instance's place in the step's instance order (the
    map index when mapped). The XCom return value is the instance record:
    status, output, error, attempts, timing; secrets inside it are replaced
    by ``***`` and the full record is kept encrypted
    (:mod:`gridflow.engines.airflow.records`).

    How the task ends: success; skipped when ``if`` is false (dependents
    still run: their trigger rule waits for all upstream tasks to be done);
    failed (the DAG's fail-fast stops the run) — or, with
    ``continue_on_error``, success with a record whose status is ``failed``,
    because a failed task would stop a fail-fast DAG.
    """

    template_fields: Sequence[str] = ("position",)

    def __init__(self, *, position: Any = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.position = position

    def execute(self, context: Any) -> dict[str, Any]:
        ctx, records = self._context(context)
        ti = context["ti"]
        attempt = int(getattr(ti, "try_number", 1) or 1)
        try:
            result = asyncio.run(
                run_instance(ctx, self.step_id, int(self.position), records, attempt=attempt)
            )
            assert ctx.masker is not None
            shown = seal(result.record, ctx.masker, records.cipher)
        except GridflowError as exc:
            raise AirflowFailException(f"{self.step_id}: {exc}") from None
        message = ctx.masker.redact_text(result.message) if ctx.masker else result.message
        if result.verdict is Verdict.SUCCESS:
            return shown
        ti.xcom_push(key="return_value", value=shown)
        if result.verdict is Verdict.SKIP:
            raise AirflowSkipException(message)
        if result.verdict is Verdict.CONTINUE:
            log.warning("%s failed (continue_on_error, the run goes on): %s", self.step_id, message)
            return shown
        if result.verdict is Verdict.RETRY:
            raise StepFailed(message)
        raise AirflowFailException(message)


class GridBurstOperator(_GridOperator):
    """Runs a burst on this worker (SPEC §1 load-test mode).

    ``shards = 1``: the whole burst, then its result. ``shards = K``: mapped
    over ``shard`` (0..K-1), each task runs one shard and returns its
    measurements (HDR histograms, counts) as XCom; the task with
    ``merge = True`` merges them exactly and judges the thresholds. The
    task that ends the burst returns, per member step, its counts, metrics
    and (only where a later step reads them) per-instance records. It fails
    when a member failed (thresholds, or failed instances without
    thresholds) unless that step has ``continue_on_error``. Instances are
    retried inside the burst, so the task itself has no retries.
    """

    template_fields: Sequence[str] = ("shard",)
    ui_color = "#fef7e0"

    def __init__(self, *, shards: int = 1, shard: Any = 0, merge: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.shards = shards
        self.shard = shard
        self.merge = merge

    def execute(self, context: Any) -> dict[str, Any]:
        ctx, records = self._context(context)
        assert ctx.masker is not None
        try:
            if self.shards > 1 and not self.merge:
                result = loop.run(
                    run_burst_shard(ctx, self.step_id, int(self.shard), records, logger=log)
                )
                return seal(result, ctx.masker, records.cipher)
            if self.merge:
                shard_results = records.shard_results(self.step_id)
            else:
                shard_results = [loop.run(run_burst_shard(ctx, self.step_id, 0, records))]
            members, verdict, message = merge_burst(ctx, self.step_id, shard_results, records)
            shown = seal(members, ctx.masker, records.cipher)
        except GridflowError as exc:
            raise AirflowFailException(f"{self.step_id}: {exc}") from None
        message = ctx.masker.redact_text(message)
        if verdict is Verdict.SUCCESS:
            return shown
        if verdict is Verdict.CONTINUE:
            log.warning("%s failed (continue_on_error, the run goes on): %s", self.step_id, message)
            return shown
        context["ti"].xcom_push(key="return_value", value=shown)
        raise AirflowFailException(message)


class BrokenGridOperator(BaseOperator):
    """The one task of a grid that did not load: fails with the grid's errors."""

    ui_color = "#fce8e6"

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> None:
        raise AirflowFailException("the grid did not load:\n" + self.message)


class _XComRecords:
    """The records other tasks of this run pushed (gridflow's RecordSource)."""

    def __init__(self, ti: Any, plan: Plan, cipher: Cipher | None, masker: Masker) -> None:
        self._ti = ti
        self._plan = plan
        self.cipher = cipher
        self._masker = masker

    def records(self, step_id: str) -> list[dict[str, Any]]:
        # A list of task ids makes Airflow return every map index's value.
        pulled = self._ti.xcom_pull(task_ids=[task_id_for(self._plan, step_id)])
        return [unseal(r, self.cipher, self._masker) for r in pulled or [] if isinstance(r, dict)]

    def shard_results(self, step_id: str) -> list[dict[str, Any]]:
        """What the shard tasks of ``step_id``'s burst returned, one per shard."""
        pulled = self._ti.xcom_pull(task_ids=[shard_task_id(step_id)])
        return [unseal(r, self.cipher, self._masker) for r in pulled or [] if isinstance(r, dict)]

    def count(self, step_id: str) -> int:
        positions = self._ti.xcom_pull(task_ids=[instances_task_id(step_id)])
        found = [p for p in positions or [] if isinstance(p, list)]
        return len(found[0]) if found else 0


def run_values(plan: Plan, params: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The run's variable values: the grid's defaults, then ``GRIDFLOW_VAR_*`` on
    the worker, then the DAG run's params (what was given when triggering).

    A param left null (the trigger form's empty field, or a sensitive
    variable, whose param never carries a value) does not override.
    """
    given = {k: v for k, v in params.items() if k in plan.variables}
    values, missing = scheduler_values(plan.variables, given, environ)
    if missing:
        names = ", ".join(missing)
        raise AirflowFailException(
            f"no value for variable(s) {names}: trigger the DAG with them in the run's conf "
            f"(params) or set GRIDFLOW_VAR_<name> on the workers"
        )
    return values


def _cipher() -> Cipher | None:
    try:
        fernet: Cipher = get_fernet()
    except Exception:  # an invalid key: sealing then reports what to set
        return None
    return fernet
