"""The operators of a job's DAG (issue #6): node tasks, checks, the result.

They hold no job semantics: each rebuilds the job's run from the records
earlier tasks pushed and does what the run says
(:mod:`gridflow.engines.airflow.job_tasks`), exactly as the grid operators
reuse the grid runtime. What they add is Airflow's side: reading the
inventory on the worker, pulling and pushing XCom, and ending the task in
the state that shows what happened to the node.

* :class:`JobNodeTaskOperator`: one task of the job on one node (mapped
  over the nodes); success, failed (retried by Airflow while the job's
  ``max_retries`` allow), or skipped when the node does not run it (the
  log says whether it was skipped or cancelled, and why).
* :class:`JobChecksOperator`: a scope's pre- or post-checks on every node.
* :class:`JobDuringChecksSensor`: a scope's during-checks, a sensor beside
  the scope: a round whenever one is due, until the scope is over; fails
  when a round fails (tasks of the scope that start later are cancelled).
* :class:`JobResultOperator`: the job's result document; fails when the
  job did not succeed, so the DAG run's state is the job's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.log import mask_secret

from gridflow.engines.airflow.job_tasks import (
    JobContext,
    TaskResult,
    Verdict,
    job_result,
    poke_during,
    run_checks,
    run_node_task,
)
from gridflow.errors import GridflowError
from gridflow.hooks.connections import register as register_airflow_connections
from gridflow.jobs.inventory import INVENTORY_ENV, load_inventory
from gridflow.jobs.model import Checks, JobPlan
from gridflow.nodes.base import NodeSpec
from gridflow.operators.links import JobSourceLink
from gridflow.plan.models import Location
from gridflow.runtime import loop
from gridflow.runtime.masking import Masker

__all__ = [
    "BrokenJobOperator",
    "JobChecksOperator",
    "JobDuringChecksSensor",
    "JobNodeTaskOperator",
    "JobResultOperator",
    "NodeTaskFailed",
]

log = logging.getLogger(__name__)

OUTPUT_XCOM_KEY = "output"

# Where a task's secrets go besides Airflow's own masker: `gridflow run
# --engine airflow` runs the tasks in its process and masks its output too.
secret_sinks: list[Callable[[str], None]] = []


def _on_secret(secret: str) -> None:
    mask_secret(secret)
    for sink in secret_sinks:
        sink(secret)


class NodeTaskFailed(Exception):
    """A node's attempt failed and the job retries it: Airflow tries again."""


class _JobOperator(BaseOperator):
    """What every job operator shares: the plan, the nodes, where the inventory is."""

    ui_color = "#e6f4ea"
    shallow_copy_attrs: Sequence[str] = ("plan",)
    # "Job source" in the task's UI: the task or check in the job file.
    operator_extra_links = (JobSourceLink(),)

    def __init__(
        self,
        *,
        plan: JobPlan,
        node_ids: Sequence[str],
        inventory: str | None,
        record_task_ids: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.node_ids = list(node_ids)
        self.inventory = inventory
        self.record_task_ids = list(record_task_ids)

    def source_location(self) -> Location | None:
        """Where this task's work is written, for the "Job source" link: the
        job file's first line unless a subclass knows better."""
        return Location(file=self.plan.source, line=1, col=1)

    def _context(self, context: Any) -> JobContext:
        # Inventory nodes with conn_id read Airflow's own connections (ssh type).
        register_airflow_connections()
        dag_run = context["dag_run"]
        started = getattr(dag_run, "start_date", None)
        masker = Masker(on_secret=_on_secret)
        return JobContext(
            plan=self.plan,
            nodes=self._nodes(),
            run_id=str(dag_run.run_id),
            started_at=started.timestamp() if started is not None else 0.0,
            masker=masker,
        )

    def _nodes(self) -> list[NodeSpec]:
        """The job's nodes, read from the inventory on this worker (secrets too)."""
        path = self.inventory or os.environ.get(INVENTORY_ENV, "").strip()
        if not path:
            raise AirflowFailException(
                f"no inventory for job {self.plan.name}: put an inventory.yaml beside the job "
                f"file (or the compiled DAG file) in the dags folder, or set {INVENTORY_ENV} "
                "on every Airflow worker"
            )
        try:
            inventory = load_inventory(Path(path))
        except GridflowError as exc:
            raise AirflowFailException(f"the inventory {path} does not load: {exc}") from None
        by_id = {n.id: n for n in inventory.nodes}
        missing = [n for n in self.node_ids if n not in by_id]
        if missing:
            raise AirflowFailException(
                f"node(s) {', '.join(missing)} of job {self.plan.name} are not in the "
                f"inventory {path}: the DAG's nodes were chosen when it was built (a job file "
                "in the dags folder: when the folder was parsed; a compiled DAG file: when it "
                "was compiled, so compile it again or put the nodes back)"
            )
        return [by_id[n] for n in self.node_ids]

    def _records(self, ti: Any, *, outputs: bool = False) -> list[dict[str, Any]]:
        """Every record the job's other tasks pushed so far in this DAG run."""
        out: list[dict[str, Any]] = []
        for task_id in self.record_task_ids:
            if task_id == self.task_id:
                continue
            for value in ti.xcom_pull(task_ids=[task_id]) or []:
                out.extend(_flat(value))
            if outputs:
                for value in ti.xcom_pull(task_ids=[task_id], key=OUTPUT_XCOM_KEY) or []:
                    out.extend(_flat(value))
        return out

    def _end(self, ti: Any, result: TaskResult) -> list[dict[str, Any]]:
        """Push what the task made and end it as the verdict says."""
        if result.outputs:
            ti.xcom_push(key=OUTPUT_XCOM_KEY, value=result.outputs)
        if result.verdict is Verdict.SUCCESS:
            return result.records
        if result.records:
            ti.xcom_push(key="return_value", value=result.records)
        if result.verdict is Verdict.SKIP:
            raise AirflowSkipException(result.message)
        if result.verdict is Verdict.RETRY:
            raise NodeTaskFailed(result.message)
        raise AirflowFailException(result.message)


def _flat(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _checks_location(plan: JobPlan, scope: int | None, stage: str) -> Location | None:
    """The first ``stage`` check of the job (``scope`` None) or of phase ``scope``."""
    checks: Checks = plan.checks if scope is None else plan.phases[scope].checks
    found = getattr(checks, stage, None) or []
    if found:
        loc: Location = found[0].loc
        return loc
    return plan.phases[scope].loc if scope is not None else None


class JobNodeTaskOperator(_JobOperator):
    """One task of a job on one node; mapped over the nodes (``node``)."""

    template_fields: Sequence[str] = ("node",)

    def __init__(self, *, key: str, node: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.node = node

    def source_location(self) -> Location | None:
        return next((t.loc for t in self.plan.tasks() if t.key == self.key), None)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        ti = context["ti"]
        ctx = self._context(context)
        task = next(t for t in self.plan.tasks() if t.key == self.key)
        # Airflow counts tries on; a cleared task starts again at the job's attempt 1.
        tries = int(getattr(ti, "try_number", 1) or 1)
        attempt = (tries - 1) % (task.max_retries + 1) + 1
        node = str(self.node)
        result = loop.run(run_node_task(ctx, self.key, node, attempt, self._records(ti)))
        log.info(
            "%s on %s, attempt %d: %s %s",
            self.key,
            node,
            attempt,
            result.verdict.value,
            result.message,
        )
        return self._end(ti, result)


class JobChecksOperator(_JobOperator):
    """The pre- or post-checks of the job (``scope`` None) or of a phase."""

    ui_color = "#fef7e0"

    def __init__(self, *, scope: int | None, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scope = scope
        self.stage = stage

    def source_location(self) -> Location | None:
        return _checks_location(self.plan, self.scope, self.stage)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        ti = context["ti"]
        ctx = self._context(context)
        result = loop.run(run_checks(ctx, self.scope, self.stage, self._records(ti)))
        return self._end(ti, result)


#: How often a during-checks sensor between rounds looks whether its scope
#: is over (one call to the API server): the longest it keeps what follows
#: the scope waiting.
LOOK_EVERY_S = 1.0
#: Its rounds so far, in the task's state store (kept across reschedules,
#: which clear a task's XCom).
DURING_STATE_KEY = "gridflow.during"
_FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


class JobDuringChecksSensor(BaseSensorOperator, _JobOperator):
    """The during-checks of the job (``scope`` None) or of a phase, beside it.

    Each poke replays the job's run with the rounds run so far and does what
    it says (:func:`~gridflow.engines.airflow.job_tasks.poke_during`): wait
    for the next round, run it, or end. The next poke comes when the round
    is due, or within :data:`LOOK_EVERY_S` to see whether every task of
    ``watched`` (the scope's; ``True``: mapped over the nodes) has ended.
    """

    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        scope: int | None,
        interval_s: float,
        watched: Sequence[tuple[str, bool]],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", min(interval_s, LOOK_EVERY_S))
        super().__init__(**kwargs)
        self.scope = scope
        self.interval_s = interval_s
        self.watched = [(str(task_id), bool(per_node)) for task_id, per_node in watched]

    def source_location(self) -> Location | None:
        return _checks_location(self.plan, self.scope, "during")

    def execute(self, context: Any) -> Any:
        # A new try (a cleared task) starts over; reschedules of one try go on.
        store, try_number = context["task_state_store"], int(context["ti"].try_number or 1)
        state = store.get(DURING_STATE_KEY)
        if not isinstance(state, dict) or state.get("try") != try_number:
            store.set(DURING_STATE_KEY, {"try": try_number, "rounds": [], "next": None})
        return super().execute(context)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        ti, store = context["ti"], context["task_state_store"]
        state = dict(store.get(DURING_STATE_KEY))
        over = self._scope_over(ti)
        due = state.get("next")
        if not over and due is not None and time.time() < float(due):
            self._look_again_in(float(due) - time.time())
            return False
        ctx = self._context(context)
        rounds = list(state["rounds"])
        step = loop.run(
            poke_during(
                ctx,
                self.scope,
                self._records(ti),
                rounds,
                scope_over=over,
                fresh=lambda: self._records(ti),
            )
        )
        ran = sum(1 for r in step.rounds if r.get("kind") == "round")
        if ran > sum(1 for r in rounds if r.get("kind") == "round"):
            log.info("%s: round %d ran", self.task_id, ran)
        if step.result is None:
            state.update(rounds=step.rounds, next=time.time() + step.wait_s)
            store.set(DURING_STATE_KEY, state)
            self._look_again_in(step.wait_s)
            return False
        log.info("%s: %s %s", self.task_id, step.result.verdict.value, step.result.message)
        if step.result.verdict is Verdict.SUCCESS:
            return PokeReturnValue(is_done=True, xcom_value=step.result.records)
        self._end(ti, step.result)  # pushes the records, then ends skipped or failed
        return False  # not reached: _end raises

    def _look_again_in(self, wait_s: float) -> None:
        # The sensor sleeps (poke mode) or is rescheduled by poke_interval after
        # a False poke: the round's due time, or a look at the scope before that.
        self.poke_interval = max(min(wait_s, LOOK_EVERY_S), 0.05)

    def _scope_over(self, ti: Any) -> bool:
        """Whether every task instance of the scope has ended (Task SDK)."""
        found = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=[t for t, _ in self.watched], run_ids=[ti.run_id]
        )
        states = found.get(ti.run_id, {})
        for task_id, per_node in self.watched:
            keys = [f"{task_id}_{i}" for i in range(len(self.node_ids))] if per_node else [task_id]
            if any(states.get(key) not in _FINISHED for key in keys):
                return False
        return True


class JobResultOperator(_JobOperator):
    """The job's result document; fails when the job failed or was cancelled."""

    ui_color = "#e8f0fe"

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        ctx = self._context(context)
        _, doc = job_result(ctx, self._records(ti, outputs=True))
        if doc["status"] == "success":
            return doc
        ti.xcom_push(key="return_value", value=doc)
        problem = doc.get("error") or {}
        raise AirflowFailException(
            f"job {doc['name']} {doc['status']}: {problem.get('message', '')}".rstrip(": ")
        )


class BrokenJobOperator(BaseOperator):
    """The one task of a job file that did not load: fails with its errors."""

    ui_color = "#fce8e6"

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> None:
        raise AirflowFailException("the job did not load:\n" + self.message)
