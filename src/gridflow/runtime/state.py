"""Run state of a grid: instances, their outcomes, and the result document.

Pure data plus the rules that summarise it (a step's status from its
instances, the run's status from its steps); no scheduling and no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Status(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)


@dataclasses.dataclass
class ErrorInfo:
    """A failure as results and downstream expressions see it."""

    kind: str  # "expected" | "retryable" | "timeout" | "cancelled" | "expression" | "bug" | ...
    message: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.details:
            data["details"] = self.details
        return data


@dataclasses.dataclass
class Outcome:
    """What one execution of an instance (all its attempts) produced."""

    status: Status
    output: Any = None
    error: ErrorInfo | None = None
    attempts: int = 1
    started: float | None = None
    ended: float | None = None


@dataclasses.dataclass
class Instance:
    """One instance of a step: a count index, a for_each key, or the only one."""

    step: str
    position: int  # place in the step's instance order
    key: int | str | None  # count index / for_each key / None for a single instance
    value: Any = None  # each.value for for_each
    status: Status = Status.PENDING
    output: Any = None
    error: ErrorInfo | None = None
    attempts: int = 0
    started: float | None = None
    ended: float | None = None

    @property
    def label(self) -> str:
        if self.key is None:
            return self.step
        return (
            f"{self.step}[{self.key!r}]"
            if isinstance(self.key, str)
            else f"{self.step}[{self.key}]"
        )

    def to_record(self) -> dict[str, Any]:
        """Everything about this instance as JSON, for engines that keep state
        between processes (Airflow XCom); :meth:`from_record` reads it back."""
        return {
            "position": self.position,
            "key": self.key,
            "value": self.value,
            "status": self.status.value,
            "output": self.output,
            "error": self.error.as_dict() if self.error else None,
            "attempts": self.attempts,
            "started": self.started,
            "ended": self.ended,
        }

    @classmethod
    def from_record(cls, step: str, record: dict[str, Any]) -> Instance:
        error = record.get("error")
        return cls(
            step=step,
            position=int(record["position"]),
            key=record.get("key"),
            value=record.get("value"),
            status=Status(record["status"]),
            output=record.get("output"),
            error=ErrorInfo(error["kind"], error["message"], dict(error.get("details") or {}))
            if error
            else None,
            attempts=int(record.get("attempts") or 0),
            started=record.get("started"),
            ended=record.get("ended"),
        )

    def as_value(self) -> dict[str, Any]:
        """The instance as expressions see it: ``{"output", "error", "status"}``."""
        return {
            "output": self.output,
            "error": self.error.as_dict() if self.error else None,
            "status": self.status.value,
        }


def step_status(instances: list[Instance], expanded: bool) -> Status:
    """A step's status from its instances.

    Any failed instance fails the step; any cancelled (or never started in a
    finished run) cancels it; all skipped skips it; zero instances succeed.
    """
    if not expanded:
        return Status.PENDING
    statuses = {i.status for i in instances}
    if Status.FAILED in statuses:
        return Status.FAILED
    if Status.RUNNING in statuses or Status.PENDING in statuses:
        return Status.RUNNING
    if Status.CANCELLED in statuses:
        return Status.CANCELLED
    if instances and statuses == {Status.SKIPPED}:
        return Status.SKIPPED
    return Status.SUCCESS
