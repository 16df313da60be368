"""A job's execution semantics, as a state machine engines drive.

:class:`JobRun` decides *what* runs next on which node; an engine decides
*how* (asyncio tasks in the local engine, :mod:`gridflow.engines.local_jobs`).
It mirrors :class:`gridflow.runtime.scheduler.GridRun`::

    run = JobRun(plan, nodes)
    run.start()
    while not run.finished:
        for work in run.ready():            # TaskWork / CheckWork / Timer
            start(work)                     # the engine runs it ...
        for work in run.cancellations():    # ... and stops what is no longer wanted
            cancel(work)
        work, outcome = wait_for_any()      # (at the job's deadline: run.expire())
        run.complete(work, outcome)         # every started work is completed,
    run.finish()                            # cancelled ones with a "cancelled" Outcome
    run.result()                            # the SPEC §6 job document

The rules are the contract of docs/jobs.md ("Conditions and strategies",
"Decisions"):

* phases run in order; a barrier runs its task on every node of the phase,
  a pipeline runs each node's chain on its own; ``concurrency`` bounds the
  nodes in progress;
* a node fails a task when its last attempt fails or times out; retries
  re-run only that node, after ``plan.backoff``'s wait;
* a phase fails when more nodes failed than its budget allows (fail-fast: 0,
  continue: all), or when one of its checks fails; then the job *stops*:
  running work of that phase is cancelled and only ``on_failure`` and
  ``always`` phases run. Under fail-fast they run on every node not dropped
  before the stop; under continue failed nodes stay dropped;
* a failed node is dropped from later phases (under fail-fast only while the
  job has not stopped);
* conditions: none = while the job has not stopped, ``on_success`` = nothing
  failed so far (tolerated failures count), ``on_failure`` = something did,
  ``always`` = always. Inside a pipeline they are judged per node on its
  earlier tasks of the chain;
* checks: ``pre`` gates the job or phase, ``post`` verifies it after it
  succeeded, ``during`` runs every interval while it runs and a failure
  aborts it;
* the job's timeout (or :meth:`cancel`) cancels everything: the job ends
  ``cancelled`` and what never ran is reported ``cancelled``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from gridflow.jobs.model import Check, Condition, JobPlan, Phase, Task
from gridflow.jobs.state import (
    CheckRecord,
    CheckStage,
    CheckWork,
    EventKind,
    JobEvent,
    JobStatus,
    NodeStatus,
    NodeTaskRecord,
    Outcome,
    PhaseStatus,
    TaskWork,
    Timer,
    Work,
    duration_fields,
    iso_time,
    task_seed,
)
from gridflow.nodes.base import NodeSpec
from gridflow.plan.durations import format_duration
from gridflow.runners._masking import looks_secret
from gridflow.runtime.masking import Masker
from gridflow.runtime.state import ErrorInfo

log = logging.getLogger("gridflow.job")

Scope = int | None  # a phase index, or None for the job itself
_PhaseStage = Literal["waiting", "pre", "running", "draining", "post", "done"]
_JobStage = Literal["new", "pre", "phases", "post", "done"]
_EVENT_TEXT_LIMIT = 300


@dataclasses.dataclass
class _PhaseRun:
    phase: Phase
    status: PhaseStatus = PhaseStatus.PENDING
    stage: _PhaseStage = "waiting"
    nodes: list[str] = dataclasses.field(default_factory=list)
    queue: collections.deque[str] = dataclasses.field(default_factory=collections.deque)
    active: set[str] = dataclasses.field(default_factory=set)
    slots: int = 0
    chain: dict[str, int] = dataclasses.field(default_factory=dict)  # pipeline position
    chain_failed: set[str] = dataclasses.field(default_factory=set)
    failed_nodes: list[str] = dataclasses.field(default_factory=list)
    after_stop: bool = False  # entered after the job stopped: runs to its end
    halted: bool = False  # aborted: nothing new starts, running work is cancelled
    error: ErrorInfo | None = None
    pending_checks: int = 0
    check_error: ErrorInfo | None = None
    reason: str | None = None  # why it was skipped
    started: float | None = None
    ended: float | None = None

    @property
    def index(self) -> int:
        return self.phase.index


@dataclasses.dataclass
class _During:
    """The ``during`` checks of one scope while it runs."""

    checks: list[Check]
    interval_s: float
    nodes: Callable[[], list[str]]
    live: bool = True
    pending: int = 0


class JobRun:
    """Run state and rules for one run of a :class:`JobPlan` on ``nodes``."""

    def __init__(
        self,
        plan: JobPlan,
        nodes: Sequence[NodeSpec],
        *,
        run_id: str | None = None,
        masker: Masker | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` gives the Unix time the run stamps phases, events and the
        job with: the wall clock, except when a run is rebuilt from records
        (:mod:`gridflow.jobs.replay`), whose clock is the records' own times."""
        if not nodes:
            raise ValueError("a job runs on at least one node")
        self.plan = plan
        self._clock = clock
        self.nodes: dict[str, NodeSpec] = {n.id: n for n in nodes}
        self.expected: list[str] = [n.id for n in nodes]
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.masker = masker if masker is not None else Masker()
        self.on_event = on_event
        self.started: float | None = None
        self.ended: float | None = None
        self.failure: ErrorInfo | None = None  # why the job failed (the first reason)
        self.cancelled: ErrorInfo | None = None  # why it was cancelled (or timed out)
        self.records: dict[str, dict[str, NodeTaskRecord]] = {
            task.key: {node: NodeTaskRecord() for node in self.expected} for task in plan.tasks()
        }
        self.check_records: dict[tuple[Scope, CheckStage, int, str | None], CheckRecord] = {}
        self._stage: _JobStage = "new"
        self._phases = [_PhaseRun(p) for p in plan.phases]
        self._current: int | None = None  # the phase in progress
        self._reached: int | None = None  # the last phase entered (GRID's "step")
        self._ids = 0
        self._ready: list[Work] = []
        self._running: dict[int, Work] = {}
        self._to_cancel: dict[int, Work] = {}
        self._dropped: dict[str, str] = {}  # node -> why it no longer runs
        self._stopped_at: int | None = None  # the phase whose failure stopped the job
        self._stop_nodes: list[str] = []  # fail-fast: who runs on_failure/always phases
        self._any_failure = False  # a node or a phase failed so far (tolerated ones count)
        self._job_checks_pending = 0
        self._job_check_error: ErrorInfo | None = None
        self._during: dict[Scope, _During] = {}
        self._register_secrets()

    # ------------------------------------------------------------ protocol
    def start(self) -> None:
        """Begin: the job's pre-checks, or its first phase."""
        if self._stage != "new":
            raise RuntimeError("a JobRun starts once")
        self.started = self._clock()
        self._emit(
            "job-started",
            f"job {self.plan.name} ({self.run_id}) on {_count(len(self.expected), 'node')} "
            f"({self.plan.target}), strategy {self.plan.strategy}",
        )
        if self.plan.checks.pre:
            self._stage = "pre"
            self._job_checks_pending = self._schedule_checks(
                None, "pre", self.plan.checks.pre, self.expected
            )
        else:
            self._begin_phases()

    def ready(self) -> list[Work]:
        """Work to start now; each must come back through :meth:`complete`."""
        out, self._ready = self._ready, []
        for work in out:
            self._running[work.id] = work
        return out

    def cancellations(self) -> list[Work]:
        """Started work that is no longer wanted: cancel it, then complete it
        (with a ``cancelled`` Outcome, or what it produced if it ended first)."""
        out = [w for wid, w in self._to_cancel.items() if wid in self._running]
        for work in out:
            del self._to_cancel[work.id]
        return out

    def complete(self, work: Work, outcome: Outcome) -> None:
        """Record what running ``work`` produced and decide what follows."""
        if self._running.pop(work.id, None) is None:
            raise ValueError(f"{work.label} was not handed out by ready() or completed twice")
        self._to_cancel.pop(work.id, None)
        if isinstance(work, TaskWork):
            self._task_done(work, outcome)
        elif isinstance(work, CheckWork):
            self._check_done(work, outcome)
        else:
            self._timer_done(work, outcome)

    def cancel(self, reason: str = "the job was cancelled", *, kind: str = "cancelled") -> None:
        """Stop the job from outside: everything running is to be cancelled,
        nothing new starts, and the job ends ``cancelled``."""
        if self.cancelled is not None:
            return
        if self._stage != "done":  # once the job has concluded, only leftovers remain
            self.cancelled = ErrorInfo(kind, reason)
            self._stage = "done"
        for work in [*self._running.values(), *self._ready]:
            self._to_cancel[work.id] = work
        for d in self._during.values():
            d.live = False

    def expire(self) -> None:
        """The job's timeout passed: cancel what remains."""
        limit = format_duration(self.plan.timeout_s or 0.0)
        self.cancel(
            f"the job ran past its timeout of {limit}: the work still running was cancelled "
            "and what had not started never ran",
            kind="timeout",
        )

    @property
    def timeout_s(self) -> float | None:
        """The whole job's time limit; the engine calls :meth:`expire` at it."""
        return self.plan.timeout_s

    @property
    def finished(self) -> bool:
        return self._stage == "done" and not self._running and not self._ready

    @property
    def status(self) -> JobStatus:
        if not self.finished:
            return JobStatus.RUNNING
        if self.cancelled is not None:
            return JobStatus.CANCELLED
        if self.failure is not None:
            return JobStatus.FAILED
        return JobStatus.SUCCESS

    def finish(self) -> None:
        """Settle what never ran and stamp the end; call once the engine is done."""
        if self.ended is not None:
            return
        if self._stage != "done":  # the engine gave up early (a bug or an interruption)
            self.cancel("the job stopped before every phase ran")
        why = self.cancelled.message if self.cancelled else "it never ran"
        for pr in self._phases:
            if pr.status in (PhaseStatus.PENDING, PhaseStatus.RUNNING):
                pr.status = PhaseStatus.CANCELLED
                if pr.started is not None:
                    pr.ended = pr.ended or self._clock()
            for task in pr.phase.tasks:
                for rec in self.records[task.key].values():
                    if not rec.status.terminal:
                        rec.status = NodeStatus.CANCELLED
                        rec.reason = rec.reason or why
                        if rec.started is not None:
                            rec.ended = rec.ended or self._clock()
        for crec in self.check_records.values():
            if not crec.status.terminal:
                crec.status = NodeStatus.CANCELLED
        self.ended = self._clock()
        elapsed = format_duration(self.ended - (self.started or self.ended))
        status = self.status.value
        detail = self.cancelled or self.failure
        self._emit(
            "job-finished",
            f"job {self.plan.name}: {status} in {elapsed}"
            + (f": {detail.message}" if detail else ""),
            status=status,
        )

    # -------------------------------------------------------------- result
    def result(self) -> dict[str, Any]:
        """The job document (SPEC §6, GRID's job response), secrets masked."""
        target: dict[str, Any] = {"scope": self.plan.target.scope}
        if self.plan.target.value is not None:
            target["value"] = self.plan.target.value
        phases: dict[str, Any] = {}
        for pr in self._phases:
            entry: dict[str, Any] = {
                "name": pr.phase.name,
                "kind": pr.phase.kind,
                "condition": pr.phase.condition,
                "status": pr.status.value,
                "keys": [t.key for t in pr.phase.tasks],
                "nodes": list(pr.nodes),
                "failed_nodes": list(pr.failed_nodes),
                **duration_fields(pr.started, pr.ended),
            }
            if pr.error is not None:
                entry["error"] = pr.error.as_dict()
            if pr.reason is not None:
                entry["reason"] = pr.reason
            phases[str(pr.index)] = entry
        doc: dict[str, Any] = {
            "id": self.run_id,
            "name": self.plan.name,
            "target": target,
            "strategy": self.plan.strategy,
            "status": self.status.value,
            "step": self._reached,
            "expected": list(self.expected),
            "results": {
                key: {node: rec.as_dict() for node, rec in by_node.items()}
                for key, by_node in self.records.items()
            },
            "phases": phases,
            "checks": [c.as_dict() for c in self.check_records.values()],
            "dropped": dict(self._dropped),
            "started": iso_time(self.started),
            "ended": iso_time(self.ended),
            **duration_fields(self.started, self.ended or self._clock()),
        }
        problem = self.cancelled or self.failure
        if problem is not None:
            doc["error"] = problem.as_dict()
        redacted: dict[str, Any] = self.masker.redact(doc)
        return redacted

    # ------------------------------------------------------------- helpers
    def _register_secrets(self) -> None:
        """Connection secrets, and values of ``cmd`` env names that look secret."""
        for node in self.nodes.values():
            if node.ssh is not None:
                ssh = node.ssh
                self.masker.add(
                    [s for s in (ssh.password, ssh.key_passphrase, ssh.private_key) if s]
                )
        checks = [*self.plan.checks.pre, *self.plan.checks.post, *self.plan.checks.during]
        for phase in self.plan.phases:
            checks += [*phase.checks.pre, *phase.checks.post, *phase.checks.during]
        params = [t.params for t in self.plan.tasks() if t.backend == "cmd"]
        params += [c.params for c in checks if c.kind == "backend" and c.backend == "cmd"]
        for p in params:
            env = p.get("env") or {}
            self.masker.add([str(v) for k, v in env.items() if looks_secret(str(k))])

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def _emit(self, kind: EventKind, message: str, **fields: Any) -> None:
        if self.on_event is None:
            return
        text = self.masker.redact_text(_one_line(message))
        try:
            self.on_event(JobEvent(kind=kind, time=self._clock(), message=text, **fields))
        except Exception:  # a display must never break a run
            log.warning("job event listener failed", exc_info=True)

    def _busy(self, scope: Scope) -> bool:
        return any(w.scope == scope for w in (*self._running.values(), *self._ready))

    def _cancel_work(self, pick: Callable[[Work], bool]) -> None:
        for work in (*self._running.values(), *self._ready):
            if pick(work):
                self._to_cancel[work.id] = work

    def _fail_job(self, error: ErrorInfo) -> None:
        self._any_failure = True
        if self.failure is None:
            self.failure = error

    def _stop(self, at: int | None) -> None:
        """The job stops: from now on only on_failure and always phases run."""
        if self._stopped_at is not None or self._stage == "done":
            return
        self._stopped_at = -1 if at is None else at
        self._stop_nodes = [n for n in self.expected if n not in self._dropped]
        self._stop_during(None)

    @property
    def _stopped(self) -> bool:
        return self._stopped_at is not None

    # -------------------------------------------------------------- phases
    def _begin_phases(self) -> None:
        self._stage = "phases"
        if self.plan.checks.during:
            self._start_during(
                None,
                self.plan.checks.during,
                self.plan.checks.during_interval_s,
                lambda: [n for n in self.expected if n not in self._dropped],
            )
        self._enter(0)

    def _enter(self, index: int) -> None:
        """Start phase ``index``, skipping those that do not run."""
        while index < len(self._phases) and self._stage == "phases":
            pr = self._phases[index]
            self._current = index
            runs, why = self._should_run(pr.phase)
            nodes = self._candidates()
            if runs and not nodes:
                runs, why = False, "no node left to run on: every node failed and was dropped"
            if runs:
                self._start_phase(pr, nodes)
                return
            self._skip_phase(pr, why)
            index += 1
        if self._stage == "phases":
            self._phases_over()

    def _should_run(self, phase: Phase) -> tuple[bool, str]:
        cond = phase.condition
        if cond == "always":
            return True, ""
        if cond == "on_failure":
            return self._any_failure, "condition on_failure: nothing has failed"
        if cond == "on_success":
            return not self._any_failure, "condition on_success: something failed before"
        if self._stopped:
            where = (
                "a job check failed"
                if self._stopped_at == -1
                else f"phase {self._stopped_at} failed"
            )
            return False, (
                f"the job stopped because {where}: only on_failure and always phases run now"
            )
        return True, ""

    def _candidates(self) -> list[str]:
        if self._stopped and self.plan.strategy == "fail-fast":
            return list(self._stop_nodes)
        return [n for n in self.expected if n not in self._dropped]

    def _skip_phase(self, pr: _PhaseRun, why: str) -> None:
        pr.status = PhaseStatus.SKIPPED
        pr.stage = "done"
        pr.reason = why
        for task in pr.phase.tasks:
            for rec in self.records[task.key].values():
                rec.status = NodeStatus.SKIPPED
                rec.reason = why
        self._emit(
            "phase-skipped",
            f"phase {pr.index} ({_phase_title(pr.phase)}): skipped: {why}",
            phase=pr.index,
            status="skipped",
        )

    def _start_phase(self, pr: _PhaseRun, nodes: list[str]) -> None:
        self._reached = pr.index
        pr.nodes = nodes
        pr.queue = collections.deque(nodes)
        pr.slots = (
            pr.phase.concurrency.nodes_at_once(len(nodes)) if pr.phase.concurrency else len(nodes)
        )
        pr.after_stop = self._stopped
        pr.status = PhaseStatus.RUNNING
        pr.started = self._clock()
        for node in self.expected:
            if node not in nodes:
                why = self._dropped.get(node, "not part of this phase")
                for task in pr.phase.tasks:
                    rec = self.records[task.key][node]
                    rec.status = NodeStatus.SKIPPED
                    rec.reason = why
        pace = f", {pr.slots} at a time" if pr.slots < len(nodes) else ""
        self._emit(
            "phase-started",
            f"phase {pr.index} ({_phase_title(pr.phase)}) on {_count(len(nodes), 'node')}{pace}",
            phase=pr.index,
        )
        if pr.phase.checks.pre:
            pr.stage = "pre"
            pr.pending_checks = self._schedule_checks(pr.index, "pre", pr.phase.checks.pre, nodes)
            return
        self._run_phase(pr)

    def _run_phase(self, pr: _PhaseRun) -> None:
        pr.stage = "running"
        if pr.phase.checks.during:
            self._start_during(
                pr.index,
                pr.phase.checks.during,
                pr.phase.checks.during_interval_s,
                lambda: list(pr.nodes),
            )
        self._fill(pr)
        self._advance(pr)

    def _fill(self, pr: _PhaseRun) -> None:
        """Start nodes while the phase's concurrency allows."""
        while pr.queue and len(pr.active) < pr.slots and not pr.halted:
            node = pr.queue.popleft()
            pr.active.add(node)
            if pr.phase.kind == "barrier":
                self._schedule_task(pr, pr.phase.tasks[0], node, attempt=1)
            else:
                pr.chain[node] = 0
                if self._advance_chain(pr, node):
                    self._settle_node(pr, node)

    def _advance(self, pr: _PhaseRun) -> None:
        """Move the phase on once its nodes are done and its work has drained."""
        if pr.stage == "running" and not pr.queue and not pr.active:
            self._stop_during(pr.index)
            pr.stage = "draining"
        if pr.stage != "draining" or self._busy(pr.index) or self._stage == "done":
            return
        if pr.error is None and pr.phase.checks.post and not pr.halted:
            survivors = [n for n in pr.nodes if n not in pr.failed_nodes]
            pr.stage = "post"
            pr.pending_checks = self._schedule_checks(
                pr.index, "post", pr.phase.checks.post, survivors
            )
            if pr.pending_checks:
                return
        self._end_phase(pr)

    def _end_phase(self, pr: _PhaseRun) -> None:
        pr.stage = "done"
        pr.ended = self._clock()
        pr.status = PhaseStatus.FAILED if pr.error is not None else PhaseStatus.SUCCESS
        # A failed node leaves the job, except that fail-fast keeps, after its
        # stop, every node it had then (rollbacks must reach them).
        if self.plan.strategy == "continue" or not self._stopped:
            for node in pr.failed_nodes:
                key = self._failed_key(pr, node)
                self._dropped.setdefault(node, f"dropped: failed {key} in phase {pr.index}")
        text = f"phase {pr.index} ({_phase_title(pr.phase)}): {pr.status.value}"
        if pr.error is not None:
            text += f": {pr.error.message}"
        elif pr.failed_nodes:
            text += f" (failures tolerated: {', '.join(pr.failed_nodes)})"
        self._emit("phase-finished", text, phase=pr.index, status=pr.status.value)
        self._enter(pr.index + 1)

    def _failed_key(self, pr: _PhaseRun, node: str) -> str:
        for task in pr.phase.tasks:
            if self.records[task.key][node].status.failed:
                return f"{task.key} ({task.backend} {task.action})"
        return f"phase {pr.index}"

    def _phase_failed(self, pr: _PhaseRun, error: ErrorInfo, *, halt: bool) -> None:
        if pr.error is None:
            pr.error = error
        self._fail_job(error)
        self._stop(pr.index)
        if halt and not pr.halted:
            self._halt(pr, f"never started: phase {pr.index} failed first")

    def _halt(self, pr: _PhaseRun, why: str) -> None:
        """Abort a phase: nodes not started are cancelled, running work too."""
        pr.halted = True
        while pr.queue:
            node = pr.queue.popleft()
            for task in pr.phase.tasks:
                rec = self.records[task.key][node]
                rec.status = NodeStatus.CANCELLED
                rec.reason = why
        self._cancel_work(lambda w: w.scope == pr.index)
        self._stop_during(pr.index)
        if pr.stage == "running" and not pr.active:
            pr.stage = "draining"

    def _phases_over(self) -> None:
        self._current = None
        self._stop_during(None)
        survivors = [n for n in self.expected if n not in self._dropped]
        if self.plan.checks.post and self.failure is None and survivors:
            self._stage = "post"
            self._job_checks_pending = self._schedule_checks(
                None, "post", self.plan.checks.post, survivors
            )
            if self._job_checks_pending:
                return
        self._conclude()

    def _conclude(self) -> None:
        if self.failure is None and all(n in self._dropped for n in self.expected):
            self._fail_job(ErrorInfo("failed", "every node failed and was dropped: none is left"))
        self._stage = "done"

    # --------------------------------------------------------------- tasks
    def _schedule_task(self, pr: _PhaseRun, task: Task, node: str, *, attempt: int) -> None:
        delay = self.plan.backoff.delay_before_retry(attempt - 1)
        work = TaskWork(
            id=self._id(),
            phase=pr.index,
            task=task,
            node=node,
            attempt=attempt,
            delay_s=delay,
            seed=task_seed(self.plan.name, task),
        )
        self._ready.append(work)
        if attempt == 1:
            self.records[task.key][node].status = NodeStatus.RUNNING
            self._emit(
                "node-started",
                f"{_task_title(task)} on {node}: started",
                phase=pr.index,
                key=task.key,
                node=node,
                status="running",
                attempt=1,
            )

    def _advance_chain(self, pr: _PhaseRun, node: str) -> bool:
        """Schedule the node's next pipeline task whose condition holds; True
        when its chain is over."""
        tasks = pr.phase.tasks
        pos = pr.chain[node]
        failed = node in pr.chain_failed
        while pos < len(tasks):
            task = tasks[pos]
            if pr.halted:
                rec = self.records[task.key][node]
                rec.status = NodeStatus.CANCELLED
                rec.reason = f"cancelled: phase {pr.index} was aborted"
            elif _chain_runs(task.condition, failed):
                pr.chain[node] = pos
                self._schedule_task(pr, task, node, attempt=1)
                return False
            else:
                rec = self.records[task.key][node]
                rec.status = NodeStatus.SKIPPED
                rec.reason = _chain_skip_reason(task.condition)
                self._emit(
                    "node-finished",
                    f"{_task_title(task)} on {node}: skipped: {rec.reason}",
                    phase=pr.index,
                    key=task.key,
                    node=node,
                    status="skipped",
                )
            pos += 1
        pr.chain[node] = pos
        return True

    def _task_done(self, work: TaskWork, outcome: Outcome) -> None:
        pr = self._phases[work.phase]
        task, node = work.task, work.node
        rec = self.records[task.key][node]
        if outcome.started is not None:
            rec.attempts = work.attempt
            rec.started = rec.started if rec.started is not None else outcome.started
        rec.ended = outcome.ended if outcome.ended is not None else self._clock()
        if outcome.status == "cancelled":
            rec.status = NodeStatus.CANCELLED
            rec.reason = self._cancel_reason(pr)
            self._node_finished_event(pr, task, node, rec)
            self._after_task(pr, node, cancelled=True)
            return
        rec.output = outcome.output
        rec.error = outcome.error
        rec.changed = outcome.changed
        if outcome.status == "success":
            rec.status = NodeStatus.SUCCESS
            self._node_finished_event(pr, task, node, rec)
            self._after_task(pr, node)
            return
        can_retry = (
            not outcome.final
            and work.attempt <= task.max_retries
            and not pr.halted
            and self._stage != "done"
        )
        if can_retry:
            delay = self.plan.backoff.delay_before_retry(work.attempt)
            self._emit(
                "node-retry",
                f"{_task_title(task)} on {node}: attempt {work.attempt} of "
                f"{task.max_retries + 1} {_failed_word(outcome)}, retrying in "
                f"{format_duration(delay)}: {outcome.error}",
                phase=pr.index,
                key=task.key,
                node=node,
                status=outcome.status,
                attempt=work.attempt,
            )
            self._schedule_task(pr, task, node, attempt=work.attempt + 1)
            return
        rec.status = NodeStatus.TIMEOUT if outcome.status == "timeout" else NodeStatus.FAILED
        self._node_finished_event(pr, task, node, rec)
        if pr.phase.kind == "pipeline":
            pr.chain_failed.add(node)
        self._after_task(pr, node)

    def _after_task(self, pr: _PhaseRun, node: str, *, cancelled: bool = False) -> None:
        """A task of ``node`` ended: go on with its chain, or settle the node."""
        if self._stage == "done":
            return
        if pr.phase.kind == "pipeline":
            if cancelled:
                for task in pr.phase.tasks[pr.chain[node] + 1 :]:
                    rec = self.records[task.key][node]
                    rec.status = NodeStatus.CANCELLED
                    rec.reason = self._cancel_reason(pr)
            else:
                pr.chain[node] += 1
                if not self._advance_chain(pr, node):
                    return  # its next task is scheduled
        self._settle_node(pr, node)
        self._fill(pr)
        self._advance(pr)

    def _settle_node(self, pr: _PhaseRun, node: str) -> None:
        """``node`` is done with the phase: count it against the budget if it failed."""
        pr.active.discard(node)
        if pr.phase.kind == "pipeline":
            failed = node in pr.chain_failed
        else:
            failed = self.records[pr.phase.tasks[0].key][node].status.failed
        if not failed:
            return
        pr.failed_nodes.append(node)
        pr.failed_nodes.sort(key=self.expected.index)  # inventory order, whatever the timing
        self._any_failure = True
        budget = pr.phase.failure_budget(self.plan.strategy)
        if pr.error is None and not budget.tolerates(len(pr.failed_nodes), len(pr.nodes)):
            self._phase_failed(pr, self._budget_error(pr), halt=not pr.after_stop)

    def _budget_error(self, pr: _PhaseRun) -> ErrorInfo:
        failed = pr.failed_nodes
        if pr.phase.tolerate_failures is not None:
            verdict = f", more than tolerate_failures {pr.phase.tolerate_failures} allows"
        else:
            verdict = f" and strategy {self.plan.strategy} tolerates none"
        first = failed[0]
        detail = ""
        for task in pr.phase.tasks:
            rec = self.records[task.key][first]
            if rec.status.failed:
                detail = f"; {first}: {_task_title(task)} {rec.status.value}: {rec.error}"
                break
        return ErrorInfo(
            "failed",
            f"phase {pr.index}: {len(failed)} of {_count(len(pr.nodes), 'node')} failed "
            f"({', '.join(failed)}){verdict}{detail}",
        )

    def _node_finished_event(
        self, pr: _PhaseRun, task: Task, node: str, rec: NodeTaskRecord
    ) -> None:
        span = duration_fields(rec.started, rec.ended)["duration"]
        tries = f" after {rec.attempts} attempts" if rec.attempts > 1 else ""
        text = f"{_task_title(task)} on {node}: {rec.status.value}{tries} in {span}"
        if rec.status.failed and rec.error:
            text += f": {rec.error}"
        elif rec.status is NodeStatus.CANCELLED and rec.reason:
            text += f" ({rec.reason})"
        self._emit(
            "node-finished",
            text,
            phase=pr.index,
            key=task.key,
            node=node,
            status=rec.status.value,
            attempt=rec.attempts,
        )

    def _cancel_reason(self, pr: _PhaseRun) -> str:
        if self.cancelled is not None:
            return self.cancelled.message
        if pr.error is not None:
            return f"phase {pr.index} was aborted: {pr.error.message}"
        return "cancelled"

    # -------------------------------------------------------------- checks
    def _schedule_checks(
        self, scope: Scope, stage: CheckStage, checks: Iterable[Check], nodes: Sequence[str]
    ) -> int:
        count = 0
        for index, check in enumerate(checks):
            targets: Sequence[str | None] = [None] if check.kind == "http" else nodes
            for node in targets:
                key = (scope, stage, index, node)
                rec = self.check_records.get(key)
                if rec is None:
                    rec = CheckRecord(scope, stage, index, check, node)
                    self.check_records[key] = rec
                if rec.status is NodeStatus.PENDING:
                    rec.status = NodeStatus.RUNNING
                self._ready.append(CheckWork(self._id(), scope, stage, index, check, node))
                count += 1
        return count

    def _check_done(self, work: CheckWork, outcome: Outcome) -> None:
        rec = self.check_records[(work.scope, work.stage, work.index, work.node)]
        error: ErrorInfo | None = None
        if outcome.status == "cancelled":
            if not rec.status.terminal:
                rec.status = NodeStatus.CANCELLED
        else:
            rec.runs += 1
            rec.started = rec.started if rec.started is not None else outcome.started
            rec.ended = outcome.ended
            rec.output = outcome.output
            if outcome.status == "success":
                if rec.failures == 0:
                    rec.status = NodeStatus.SUCCESS
            else:
                rec.failures += 1
                rec.error = outcome.error
                rec.status = (
                    NodeStatus.TIMEOUT if outcome.status == "timeout" else NodeStatus.FAILED
                )
                error = ErrorInfo("check", f"{work.label} {_failed_word(outcome)}: {outcome.error}")
                self._emit(
                    "check-failed",
                    error.message,
                    phase=work.scope,
                    node=work.node,
                    status=rec.status.value,
                )
        if work.stage == "during":
            self._during_result(work.scope, error)
        elif work.scope is None:
            self._job_check_done(error)
        else:
            self._phase_check_done(self._phases[work.scope], error)

    def _job_check_done(self, error: ErrorInfo | None) -> None:
        if self._stage not in ("pre", "post"):
            return
        self._job_checks_pending -= 1
        if error is not None and self._job_check_error is None:
            self._job_check_error = error
        if self._job_checks_pending > 0:
            return
        error, self._job_check_error = self._job_check_error, None
        if self._stage == "post":
            if error is not None:
                self._fail_job(error)
            self._conclude()
            return
        if error is None:
            self._begin_phases()
            return
        self._fail_job(error)
        for pr in self._phases:
            self._skip_phase(pr, f"the job's pre-checks failed, so nothing ran: {error.message}")
        self._conclude()

    def _phase_check_done(self, pr: _PhaseRun, error: ErrorInfo | None) -> None:
        if pr.stage not in ("pre", "post"):
            self._advance(pr)
            return
        pr.pending_checks -= 1
        if error is not None and pr.check_error is None:
            pr.check_error = error
        if pr.pending_checks > 0 or self._stage == "done":
            return
        error, pr.check_error = pr.check_error, None
        if pr.stage == "post":
            if error is not None:
                self._phase_failed(pr, error, halt=False)
            self._end_phase(pr)
            return
        if pr.halted:
            pr.stage = "draining"
            self._advance(pr)
            return
        if error is None:
            self._run_phase(pr)
            return
        why = f"the phase's pre-checks failed, so it did not run: {error.message}"
        while pr.queue:
            node = pr.queue.popleft()
            for task in pr.phase.tasks:
                rec = self.records[task.key][node]
                rec.status = NodeStatus.SKIPPED
                rec.reason = why
        self._phase_failed(pr, error, halt=False)
        pr.stage = "draining"
        self._advance(pr)

    # -------------------------------------------------------------- during
    def _start_during(
        self,
        scope: Scope,
        checks: list[Check],
        interval_s: float,
        nodes: Callable[[], list[str]],
    ) -> None:
        self._during[scope] = _During(checks, interval_s, nodes)
        self._ready.append(Timer(self._id(), scope, interval_s))

    def _stop_during(self, scope: Scope) -> None:
        d = self._during.get(scope)
        if d is None or not d.live:
            return
        d.live = False
        self._cancel_work(
            lambda w: (
                w.scope == scope
                and (isinstance(w, Timer) or (isinstance(w, CheckWork) and w.stage == "during"))
            )
        )

    def _timer_done(self, work: Timer, outcome: Outcome) -> None:
        d = self._during.get(work.scope)
        if d is None or not d.live or outcome.status == "cancelled" or self._stage == "done":
            self._after_scope_work(work.scope)
            return
        d.pending = self._schedule_checks(work.scope, "during", d.checks, d.nodes())
        if d.pending == 0:
            self._ready.append(Timer(self._id(), work.scope, d.interval_s))

    def _during_result(self, scope: Scope, error: ErrorInfo | None) -> None:
        d = self._during[scope]
        d.pending -= 1
        if not d.live or self._stage == "done":
            self._after_scope_work(scope)
            return
        if error is not None:
            self._stop_during(scope)
            self._during_failed(scope, error)
            return
        if d.pending == 0:
            self._ready.append(Timer(self._id(), scope, d.interval_s))

    def _during_failed(self, scope: Scope, error: ErrorInfo) -> None:
        if scope is not None:
            pr = self._phases[scope]
            if pr.stage in ("pre", "running"):
                self._phase_failed(pr, error, halt=True)
                self._advance(pr)
            return
        current = None if self._current is None else self._phases[self._current]
        if current is not None and current.stage in ("pre", "running"):
            self._phase_failed(current, error, halt=True)
            self._advance(current)
        else:
            self._fail_job(error)
            self._stop(None)

    def _after_scope_work(self, scope: Scope) -> None:
        if scope is not None:
            self._advance(self._phases[scope])


# ----------------------------------------------------------------- helpers


def _chain_runs(condition: Condition | None, failed: bool) -> bool:
    if condition == "always":
        return True
    if condition == "on_failure":
        return failed
    return not failed


def _chain_skip_reason(condition: Condition | None) -> str:
    if condition == "on_failure":
        return "condition on_failure: the node's earlier tasks of this pipeline succeeded"
    return "an earlier task of this pipeline failed on this node"


def _failed_word(outcome: Outcome) -> str:
    return "timed out" if outcome.status == "timeout" else "failed"


def _task_title(task: Task) -> str:
    name = f" [{task.name}]" if task.name else ""
    return f"{task.key} {task.backend} {task.action}{name}"


def _phase_title(phase: Phase) -> str:
    if phase.kind == "barrier":
        what = f"barrier {phase.tasks[0].backend} {phase.tasks[0].action}"
    else:
        what = f"pipeline of {_count(len(phase.tasks), 'task')}"
    return f"{phase.name}: {what}" if phase.name else what


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_SPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = _EVENT_TEXT_LIMIT) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
