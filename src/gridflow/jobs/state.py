"""What a job run hands to an engine, what comes back, and what it records.

Pure data, no scheduling and no I/O (:mod:`gridflow.jobs.run` holds the
rules, :mod:`gridflow.jobs.execute` the I/O). Three kinds of *work* go to an
engine:

* :class:`TaskWork`: one attempt of a task on one node (after ``delay_s``:
  the retry backoff);
* :class:`CheckWork`: one check, on one node (a backend check) or from the
  worker (an HTTP probe);
* :class:`Timer`: wait ``delay_s``, then report: the pace of ``during`` checks.

Each comes back as an :class:`Outcome`. The run records per node and task a
:class:`NodeTaskRecord`, per check a :class:`CheckRecord`, and tells whoever
listens what happens through :class:`JobEvent`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any, Literal

from gridflow.jobs.model import Check, Task
from gridflow.plan.durations import format_duration

CheckStage = Literal["pre", "post", "during"]


class NodeStatus(str, enum.Enum):
    """A node's status on one task (SPEC §2: success | failed | skipped |
    cancelled | timeout), plus the two states before it ends."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def terminal(self) -> bool:
        return self not in (NodeStatus.PENDING, NodeStatus.RUNNING)

    @property
    def failed(self) -> bool:
        """Failed or timed out: what counts against a failure budget."""
        return self in (NodeStatus.FAILED, NodeStatus.TIMEOUT)


class PhaseStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class JobStatus(str, enum.Enum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


# ------------------------------------------------------------------- work


@dataclasses.dataclass(frozen=True)
class TaskWork:
    """One attempt of ``task`` on ``node``: wait ``delay_s``, then run it
    with the task's timeout. ``seed`` goes to the backend (``test flaky``)."""

    id: int
    phase: int
    task: Task
    node: str
    attempt: int = 1
    delay_s: float = 0.0
    seed: str = ""

    @property
    def scope(self) -> int | None:
        return self.phase

    @property
    def label(self) -> str:
        return f"{self.task.key} {self.task.backend} {self.task.action} on {self.node}"


@dataclasses.dataclass(frozen=True)
class CheckWork:
    """One run of ``check``: on ``node`` (a backend check) or, with ``node``
    None, from the worker (an HTTP probe). ``scope`` is the phase index, or
    None for the job's own checks."""

    id: int
    scope: int | None
    stage: CheckStage
    index: int  # place in its list, for the record
    check: Check
    node: str | None

    @property
    def label(self) -> str:
        where = "job" if self.scope is None else f"phase {self.scope}"
        on = f" on {self.node}" if self.node else ""
        return f"{where} {self.stage}-check {check_name(self.check)}{on}"


@dataclasses.dataclass(frozen=True)
class Timer:
    """Wait ``delay_s`` and report: the next round of ``during`` checks is due."""

    id: int
    scope: int | None
    delay_s: float

    @property
    def label(self) -> str:
        return f"{'job' if self.scope is None else f'phase {self.scope}'} during-check timer"


Work = TaskWork | CheckWork | Timer

OutcomeStatus = Literal["success", "failed", "timeout", "cancelled"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What running one work item produced. Times are Unix times.

    ``final`` marks a failure that trying again cannot mend (a rejected host
    key, no transport for the node): such a failure is not retried.
    """

    status: OutcomeStatus
    output: str = ""
    error: str | None = None
    changed: bool | None = None
    started: float | None = None
    ended: float | None = None
    final: bool = False


# ---------------------------------------------------------------- records


def check_name(check: Check) -> str:
    """How a check is named in messages: its ``name``, else what it does."""
    if check.name:
        return check.name
    if check.kind == "http":
        return f"{check.method} {check.url}"
    return f"{check.backend} {check.action}"


def task_seed(job_name: str, task: Task) -> str:
    """The seed of a task's random draws (``test flaky``): the job and the task,
    so a dry run shows the draw the run will make."""
    return f"{job_name}:{task.key}"


def iso_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).isoformat()


def duration_fields(started: float | None, ended: float | None) -> dict[str, Any]:
    """``duration`` as GRID writes it (``"2.3s"``) and ``duration_s`` as a number."""
    seconds = max(0.0, ended - started) if started is not None and ended is not None else 0.0
    return {"duration": format_duration(seconds), "duration_s": round(seconds, 6)}


@dataclasses.dataclass
class NodeTaskRecord:
    """One node's result on one task: all of its attempts together.

    ``started`` is when the first attempt started, ``ended`` when the last
    ended: the duration includes the waits between retries.
    """

    status: NodeStatus = NodeStatus.PENDING
    output: str = ""
    error: str | None = None
    changed: bool | None = None
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    reason: str | None = None  # why it was skipped or cancelled

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "status": self.status.value,
            "output": self.output,
            "error": self.error,
            **duration_fields(self.started, self.ended),
            "attempts": self.attempts,
            "changed": self.changed,
            "started": iso_time(self.started),
            "ended": iso_time(self.ended),
        }
        if self.reason is not None:
            doc["reason"] = self.reason
        return doc


@dataclasses.dataclass
class CheckRecord:
    """One check on one node (or from the worker): a ``during`` check keeps
    one record over all of its rounds, with the last failure if any."""

    scope: int | None
    stage: CheckStage
    index: int
    check: Check
    node: str | None
    status: NodeStatus = NodeStatus.PENDING
    runs: int = 0
    failures: int = 0
    output: str = ""
    error: str | None = None
    started: float | None = None
    ended: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": "job" if self.scope is None else str(self.scope),
            "stage": self.stage,
            "name": check_name(self.check),
            "kind": self.check.kind,
            "node": self.node,
            "status": self.status.value,
            "runs": self.runs,
            "failures": self.failures,
            "output": self.output,
            "error": self.error,
            **duration_fields(self.started, self.ended),
        }


EventKind = Literal[
    "job-started",
    "job-finished",
    "phase-started",
    "phase-finished",
    "phase-skipped",
    "node-started",
    "node-retry",
    "node-finished",
    "check-failed",
]


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """Something that happened in a job run, for progress displays and logs.

    ``message`` is a human sentence with the run's secrets already masked.
    """

    kind: EventKind
    time: float
    message: str
    phase: int | None = None
    key: str | None = None  # the task's result key ("1", "0.2")
    node: str | None = None
    status: str | None = None
    attempt: int = 0
