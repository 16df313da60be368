"""The engine-neutral job plan: what a YAML job means, ready for an engine.

A :class:`JobPlan` is pure data (pydantic v2, frozen, JSON round trip), like
:class:`gridflow.plan.Plan` for grids: the translator
(:mod:`gridflow.jobs.translate`) builds it, engine builders map it onto their
features, and backends never see it. Everything here is already validated:
``Task.params`` holds the action's parameters as its catalog model dumped
them (defaults filled in, durations in seconds), so an engine rebuilds the
model with :meth:`Task.action_params` and cannot meet a bad value.

Shape (SPEC §2, §3)::

    JobPlan ── target, strategy, timeout, checks (job-wide)
     └── phases: Phase (barrier: one task on every node, then wait for all;
          │             pipeline: each node runs the tasks in order on its own)
          │   condition, concurrency, tolerate_failures, checks
          └── tasks: Task (backend.action + params, timeout, max_retries)

Durations are seconds (float). ``None`` in :attr:`Phase.condition` means
"as the strategy says" (SPEC §2), which is not the same as ``always``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridflow.backends.catalog import ActionParams, get_action
from gridflow.plan.models import Location

JOB_PLAN_VERSION = 1

#: Per-task timeout when the job does not set one (GRID's default).
DEFAULT_TASK_TIMEOUT_S = 300.0
#: Backend checks are quick reads; HTTP probes use the http_client default.
DEFAULT_CHECK_TIMEOUT_S = 60.0
DEFAULT_HTTP_CHECK_TIMEOUT_S = 10.0
#: How often ``during`` checks run when the job does not say.
DEFAULT_DURING_INTERVAL_S = 10.0

Scope = Literal["all", "group", "node"]
Strategy = Literal["fail-fast", "continue"]
Condition = Literal["always", "on_success", "on_failure"]
PhaseKind = Literal["barrier", "pipeline"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """Which nodes a job runs on: every node, one group, or one node."""

    scope: Scope
    value: str | None = None  # the group or node id; None for "all"
    loc: Location | None = None  # None when given on the command line

    @model_validator(mode="after")
    def _value_matches_scope(self) -> Target:
        if (self.scope == "all") != (self.value is None):
            raise ValueError("scope all takes no value; group and node need one")
        return self

    def __str__(self) -> str:
        """The CLI shorthand: ``all``, ``group:web``, ``node:web-01``."""
        return "all" if self.value is None else f"{self.scope}:{self.value}"


class Backoff(_Model):
    """Wait before each retry: ``initial_s * factor ** (n - 1)``, at most ``max_s``.

    GRID retries with exponential backoff capped at 30 s (SPEC §2); the policy
    is stored in the plan so every engine waits the same.
    """

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0

    def delay_before_retry(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            return 0.0
        # Past ~1000 doublings the float overflows; the cap was reached long before.
        exponent = min(retry - 1, 1000)
        try:
            delay = self.initial_s * self.factor**exponent
        except OverflowError:
            return self.max_s
        return min(delay, self.max_s)


class Concurrency(_Model):
    """How many of a phase's nodes run at once (Ansible's ``serial``):
    a count (``2``) or a percentage of the phase's nodes (``"25%"``)."""

    kind: Literal["count", "percent"]
    value: float

    def nodes_at_once(self, total: int) -> int:
        """For ``total`` nodes: a percentage rounds down, like Ansible's; never below 1."""
        if total <= 0:
            return 0
        n = self.value if self.kind == "count" else math.floor(total * self.value / 100)
        return max(1, min(total, int(n)))

    def __str__(self) -> str:
        return _amount(self.kind, self.value)


class FailureBudget(_Model):
    """How many of a phase's nodes may fail before the phase fails (Ansible's
    ``max_fail_percentage``, Workstream's tolerated failures)."""

    kind: Literal["count", "percent"]
    value: float

    def tolerates(self, failed: int, total: int) -> bool:
        """True while ``failed`` of ``total`` nodes is within the budget.

        A percentage is a ceiling that may be reached, not exceeded:
        ``"34%"`` of 3 nodes tolerates 1 failure (33.3 %), not 2.
        """
        if failed <= 0:
            return True
        if self.kind == "count":
            return failed <= self.value
        return total > 0 and failed * 100 <= self.value * total

    def __str__(self) -> str:
        return _amount(self.kind, self.value)


#: What a phase without ``tolerate_failures`` allows, by strategy: fail-fast
#: tolerates no failure; continue drops failed nodes and goes on.
STRATEGY_BUDGETS: dict[str, FailureBudget] = {
    "fail-fast": FailureBudget(kind="count", value=0),
    "continue": FailureBudget(kind="percent", value=100),
}


def _amount(kind: str, value: float) -> str:
    text = f"{value:g}"
    return f"{text}%" if kind == "percent" else text


class BackendCheck(_Model):
    """A read-only backend action used as a check, run on every node it covers."""

    kind: Literal["backend"] = "backend"
    name: str | None = None
    backend: str
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = DEFAULT_CHECK_TIMEOUT_S
    loc: Location

    def action_params(self) -> ActionParams:
        return _action_params(self.backend, self.action, self.params)


class HttpCheck(_Model):
    """An HTTP probe, sent once from the worker: passes when the status is expected."""

    kind: Literal["http"] = "http"
    name: str | None = None
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    # As http_request's expect_status writes it (200, "2xx", "200-299", lists);
    # parse with gridflow.runners._http.StatusSet.parse.
    expect_status: list[int | str] = Field(default_factory=lambda: list[int | str](["2xx"]))
    timeout_s: float = DEFAULT_HTTP_CHECK_TIMEOUT_S
    verify_tls: bool = True
    loc: Location


Check = Annotated[BackendCheck | HttpCheck, Field(discriminator="kind")]


class Checks(_Model):
    """Workstream's checks (SPEC §3): ``pre`` gates the start, ``post``
    verifies the result, ``during`` runs every ``during_interval_s`` while
    the job or phase runs and aborts it on a failure."""

    pre: list[Check] = Field(default_factory=list)
    post: list[Check] = Field(default_factory=list)
    during: list[Check] = Field(default_factory=list)
    during_interval_s: float = DEFAULT_DURING_INTERVAL_S

    def __bool__(self) -> bool:
        return bool(self.pre or self.post or self.during)

    def count(self) -> int:
        return len(self.pre) + len(self.post) + len(self.during)


class Task(_Model):
    """One backend action, run on a node."""

    key: str  # "<phase>" for a barrier task, "<phase>.<sub>" in a pipeline (result keys)
    name: str | None = None
    backend: str
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = DEFAULT_TASK_TIMEOUT_S
    max_retries: int = 0
    # Only for the tasks of a pipeline: whether this node runs it, given how
    # its earlier tasks went. A barrier phase's condition is Phase.condition.
    condition: Condition | None = None
    loc: Location

    @property
    def ref(self) -> str:
        """``backend.action``, as messages and logs name it."""
        return f"{self.backend}.{self.action}"

    def action_params(self) -> ActionParams:
        """The validated parameter model the backend builds its command from."""
        return _action_params(self.backend, self.action, self.params)


class Phase(_Model):
    """One top-level item of ``tasks``: a barrier or a pipeline."""

    index: int
    kind: PhaseKind
    name: str | None = None
    tasks: list[Task]
    condition: Condition | None = None  # None: as the job's strategy says
    concurrency: Concurrency | None = None  # None: every node at once
    tolerate_failures: FailureBudget | None = None  # None: as the job's strategy says
    checks: Checks = Checks()
    loc: Location

    def failure_budget(self, strategy: Strategy) -> FailureBudget:
        """The budget in force: the phase's own, else the strategy's."""
        return self.tolerate_failures or STRATEGY_BUDGETS[strategy]

    @model_validator(mode="after")
    def _shape(self) -> Phase:
        if not self.tasks:
            raise ValueError("a phase has at least one task")
        if self.kind == "barrier":
            if len(self.tasks) != 1:
                raise ValueError("a barrier phase has exactly one task")
            if self.tasks[0].condition is not None:
                raise ValueError("a barrier task's condition is the phase's condition")
        return self


class JobPlan(_Model):
    """A whole job, ready for an engine builder."""

    version: int = JOB_PLAN_VERSION
    kind: Literal["job"] = "job"
    name: str
    description: str = ""
    source: str  # the job file, as given
    target: Target
    strategy: Strategy = "fail-fast"
    timeout_s: float | None = None  # whole job; None: no limit
    backoff: Backoff = Backoff()
    checks: Checks = Checks()
    phases: list[Phase]

    def tasks(self) -> list[Task]:
        """Every task, in order."""
        return [t for p in self.phases for t in p.tasks]

    def with_target(self, target: Target) -> JobPlan:
        """The same job aimed at other nodes (``-t`` on the command line)."""
        return self.model_copy(update={"target": target})

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> JobPlan:
        return cls.model_validate_json(text)


def _action_params(backend: str, action: str, params: dict[str, Any]) -> ActionParams:
    spec = get_action(backend, action)
    if spec is None:  # the translator refuses these; a hand-made plan might not
        raise ValueError(f"unknown action {backend}.{action}")
    return spec.params.model_validate(params)
