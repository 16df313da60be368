"""The shape of a job's Airflow DAG, decided once, without importing Airflow.

Mapping (docs/jobs.md, "Running jobs on Airflow"):

* a **barrier** phase → one task mapped over the job's nodes
  (``expand(node=[...])``, map index *i* = the *i*-th selected node); what
  comes after waits for every instance;
* a **pipeline** phase → a mapped task group over the nodes, one task per
  task of the chain: node *i*'s task *k* waits only for node *i*'s task
  *k-1*;
* **checks** → one task per scope and stage (``job.pre_checks``,
  ``1.post_checks``) running that stage's checks on every node at once;
* **during checks** → a sensor per scope (``1.during_checks``,
  ``job.during_checks``) *beside* it: same upstream as the scope's first
  task, and what follows the scope waits for it too. Each poke runs a
  round when the run's timer says one is due; it ends once the run wants
  no more rounds (every task of its scope is done, or the scope stopped),
  and fails when a round fails. ``poke`` mode (it keeps its worker slot,
  so rounds keep their pace), except where tasks run one at a time (DAG
  test mode): there ``reschedule`` mode gives the slot back between pokes;
* ``job.result`` → the last task: the job's result document, failed when
  the job failed (so the DAG run's state is the job's);
* every task runs when its upstream tasks are **all done**, whatever their
  state: whether a node runs a phase (conditions, fail-fast stops, nodes
  dropped by ``continue``, failure budgets, the job's timeout) is decided
  inside the task by the job's own rules, from the records earlier tasks
  pushed (:mod:`gridflow.jobs.replay`);
* ``max_retries`` → ``retries`` with exponential backoff (``retry_delay`` =
  the plan's first wait, ``retry_exponential_backoff`` = its factor,
  ``max_retry_delay`` = its cap, 30 s); a retry is the failed node's mapped
  instance only;
* a task's ``timeout`` is enforced by gridflow inside the task (so the
  node is recorded ``timeout``), with ``execution_timeout`` a grace period
  later as Airflow's backstop; the job's ``timeout`` likewise, with
  ``dagrun_timeout`` as the backstop;
* ``concurrency`` → ``max_active_tis_per_dagrun`` (of a pipeline: on each
  task of the chain; a share is of the job's selected nodes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from gridflow.errors import UsageError
from gridflow.jobs.model import JobPlan, Phase, Task
from gridflow.plan.durations import format_duration

from .names import MAX_ID_LEN, dag_id_for

#: Extra time past gridflow's own limits before Airflow stops a task or a run.
TIMEOUT_GRACE_S = 30.0
#: Every task runs once its upstream tasks are done, whatever their state.
TRIGGER_RULE = "all_done"
JOB_SCOPE = "job"
RESULT_TASK_ID = "job.result"
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.-]+")

SensorMode = Literal["poke", "reschedule"]


@dataclass(frozen=True)
class JobTaskShape:
    """One operator of the DAG."""

    task_id: str  # as written inside its group (Airflow adds the group prefix)
    kind: Literal["node_task", "checks", "during", "result"]
    key: str | None = None  # node tasks: the task's result key ("1", "0.2")
    scope: int | None = None  # checks: the phase index, None for the job's
    stage: Literal["pre", "post", "during"] | None = None
    group: str | None = None  # the mapped task group of a pipeline
    mapped: bool = False  # expanded over the nodes (barriers; pipelines through the group)
    retries: int = 0
    retry_delay_s: float = 0.0
    retry_multiplier: float = 2.0
    max_retry_delay_s: float | None = None
    execution_timeout_s: float | None = None
    max_active_per_run: int | None = None
    # during checks: the pace of rounds, the sensor's mode, and the tasks of
    # its scope (full id, mapped over the nodes) whose end ends it
    interval_s: float | None = None
    mode: SensorMode = "poke"
    watched: tuple[tuple[str, bool], ...] = ()
    doc: str = ""

    @property
    def full_id(self) -> str:
        return f"{self.group}.{self.task_id}" if self.group else self.task_id

    @property
    def per_node(self) -> bool:
        """Mapped over the nodes (a barrier's task, or a task of a pipeline's group)."""
        return self.mapped or self.group is not None


@dataclass(frozen=True)
class PipelineShape:
    """A pipeline phase: a task group mapped over the nodes, its tasks chained."""

    group_id: str
    tasks: tuple[JobTaskShape, ...]


Item = JobTaskShape | PipelineShape


@dataclass(frozen=True)
class BesideShape:
    """A during-checks task beside ``items[first..last]`` (its scope): it
    waits for what they wait for, and what follows them waits for it."""

    task: JobTaskShape
    first: int
    last: int


@dataclass(frozen=True)
class JobDagShape:
    dag_id: str
    description: str
    nodes: tuple[str, ...]
    items: tuple[Item, ...]  # in order; each waits for the one before it
    dagrun_timeout_s: float | None
    beside: tuple[BesideShape, ...] = ()

    def tasks(self) -> list[JobTaskShape]:
        out: list[JobTaskShape] = []
        for item in self.items:
            out.extend(item.tasks if isinstance(item, PipelineShape) else (item,))
        return out + [b.task for b in self.beside]

    def task_ids(self) -> list[str]:
        """Every task's full id: where a task finds the records of the others."""
        return [t.full_id for t in self.tasks()]

    def node_task_id(self, key: str) -> str:
        for t in self.tasks():
            if t.key == key:
                return t.full_id
        raise KeyError(key)


def job_dag_shape(
    plan: JobPlan,
    nodes: list[str],
    *,
    dag_id: str | None = None,
    during_mode: SensorMode = "poke",
) -> JobDagShape:
    """Decide the DAG of ``plan`` on ``nodes``. Raises UsageError for what
    Airflow would refuse (ids). ``during_mode`` is the during-checks
    sensors' mode: ``reschedule`` where tasks run one at a time."""
    items: list[Item] = []
    beside: list[BesideShape] = []
    if plan.checks.pre:
        items.append(_checks(None, "pre", plan))
    phases_from = len(items)
    for phase in plan.phases:
        if phase.checks.pre:
            items.append(_checks(phase.index, "pre", plan))
        items.append(_phase(plan, phase, len(nodes)))
        at = len(items) - 1
        if phase.checks.during:
            watched = tuple((t.full_id, True) for t in _item_tasks(items[at]))
            task = _during(phase.index, plan, watched, during_mode)
            beside.append(BesideShape(task, at, at))
        if phase.checks.post:
            items.append(_checks(phase.index, "post", plan))
    if plan.checks.during:
        scope = [t for item in items[phases_from:] for t in _item_tasks(item)]
        scope += [b.task for b in beside]
        watched = tuple((t.full_id, t.per_node) for t in scope)
        task = _during(None, plan, watched, during_mode)
        beside.append(BesideShape(task, phases_from, len(items) - 1))
    if plan.checks.post:
        items.append(_checks(None, "post", plan))
    items.append(
        JobTaskShape(
            task_id=RESULT_TASK_ID,
            kind="result",
            doc="The job's result document (XCom); fails when the job failed or was cancelled.",
        )
    )
    shape = JobDagShape(
        dag_id=dag_id or dag_id_for(plan.name),
        description=f"gridflow job {plan.name} ({plan.target}, strategy {plan.strategy})",
        nodes=tuple(nodes),
        items=tuple(items),
        dagrun_timeout_s=None if plan.timeout_s is None else plan.timeout_s + TIMEOUT_GRACE_S,
        beside=tuple(beside),
    )
    for task_id in shape.task_ids():
        if len(task_id) > MAX_ID_LEN:
            raise UsageError(
                f"job {plan.name}: the Airflow task id {task_id[:60]}... is longer than "
                f"{MAX_ID_LEN} characters; give the phase or task a shorter name"
            )
    return shape


def _item_tasks(item: Item) -> tuple[JobTaskShape, ...]:
    return item.tasks if isinstance(item, PipelineShape) else (item,)


def _label(name: str | None, fallback: str) -> str:
    cleaned = _NOT_KEY.sub("_", name).strip("_") if name else ""
    return cleaned or fallback


def _phase(plan: JobPlan, phase: Phase, node_count: int) -> Item:
    at_once = phase.concurrency.nodes_at_once(node_count) if phase.concurrency else None
    if phase.kind == "barrier":
        task = phase.tasks[0]
        label = _label(phase.name, task.ref)
        return _node_task(plan, task, f"{phase.index}.{label}", None, at_once, phase)
    # Group ids may not hold dots.
    named = _label(phase.name, "").replace(".", "_") if phase.name else ""
    group = f"phase{phase.index}" + (f"_{named}" if named else "")
    tasks = tuple(
        _node_task(plan, t, f"{t.key}.{_label(t.name, t.ref)}", group, at_once, phase)
        for t in phase.tasks
    )
    return PipelineShape(group, tasks)


def _node_task(
    plan: JobPlan, task: Task, task_id: str, group: str | None, at_once: int | None, phase: Phase
) -> JobTaskShape:
    where = f"phase {phase.index} ({phase.kind}{', ' + phase.name if phase.name else ''})"
    return JobTaskShape(
        task_id=task_id,
        kind="node_task",
        key=task.key,
        group=group,
        mapped=group is None,
        retries=task.max_retries,
        retry_delay_s=plan.backoff.initial_s,
        retry_multiplier=plan.backoff.factor,
        max_retry_delay_s=plan.backoff.max_s,
        execution_timeout_s=task.timeout_s + TIMEOUT_GRACE_S,
        max_active_per_run=at_once,
        doc=f"{task.key} {task.backend} {task.action} on one node, {where} ({task.loc})",
    )


def _checks(scope: int | None, stage: Literal["pre", "post"], plan: JobPlan) -> JobTaskShape:
    checks = plan.checks if scope is None else plan.phases[scope].checks
    listed = checks.pre if stage == "pre" else checks.post
    slowest = max(c.timeout_s for c in listed)
    where = JOB_SCOPE if scope is None else str(scope)
    return JobTaskShape(
        task_id=f"{where}.{stage}_checks",
        kind="checks",
        scope=scope,
        stage=stage,
        execution_timeout_s=slowest + TIMEOUT_GRACE_S,
        doc=f"The {stage}-checks of {'the job' if scope is None else f'phase {scope}'}, "
        "on every node at once.",
    )


def _during(
    scope: int | None,
    plan: JobPlan,
    watched: tuple[tuple[str, bool], ...],
    mode: SensorMode,
) -> JobTaskShape:
    checks = plan.checks if scope is None else plan.phases[scope].checks
    where = JOB_SCOPE if scope is None else str(scope)
    what = "the job (every phase)" if scope is None else f"phase {scope}"
    # The sensor lasts as long as its scope: only the job's timeout bounds it.
    limit = None if plan.timeout_s is None else plan.timeout_s + TIMEOUT_GRACE_S
    return JobTaskShape(
        task_id=f"{where}.during_checks",
        kind="during",
        scope=scope,
        stage="during",
        execution_timeout_s=limit,
        interval_s=checks.during_interval_s,
        mode=mode,
        watched=watched,
        doc=f"The during-checks of {what}: a round every "
        f"{format_duration(checks.during_interval_s)} while it runs; fails, stopping it, "
        "when a round fails.",
    )


def operator_settings(shaped: JobTaskShape) -> dict[str, Any]:
    """Airflow arguments of one task besides what the operator itself takes."""
    out: dict[str, Any] = {"trigger_rule": TRIGGER_RULE, "doc": shaped.doc}
    if shaped.kind == "node_task":
        out["retries"] = shaped.retries
        if shaped.retries:
            out["retry_delay"] = timedelta(seconds=shaped.retry_delay_s)
            out["retry_exponential_backoff"] = shaped.retry_multiplier
            if shaped.max_retry_delay_s is not None:
                out["max_retry_delay"] = timedelta(seconds=shaped.max_retry_delay_s)
        if shaped.max_active_per_run is not None:
            out["max_active_tis_per_dagrun"] = shaped.max_active_per_run
    else:
        out["retries"] = 0
    if shaped.kind == "during":
        assert shaped.interval_s is not None
        out["mode"] = shaped.mode
        # A sensor's own timeout (7 days unless told) counts from its first poke.
        if shaped.execution_timeout_s is not None:
            out["timeout"] = timedelta(seconds=shaped.execution_timeout_s)
    if shaped.execution_timeout_s is not None:
        out["execution_timeout"] = timedelta(seconds=shaped.execution_timeout_s)
    return out
