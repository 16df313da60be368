"""The engine-neutral Plan: the only thing engine builders see.

A Plan is pure data (pydantic v2, JSON round-trip): translators produce it,
engine builders (Prefect, Airflow, the local engine) map it onto their own
features, and runners never see it. Step arguments stay *unevaluated*
expressions (:class:`Expr`) because most depend on run-time values: variables
given when the run is triggered and upstream outputs.

Durations are stored in seconds (float). Meta-arguments that shape the graph
(retry, timeout, delays, concurrency) are evaluated when the grid is compiled;
``count``/``for_each``/``if`` and arguments are evaluated at run time.
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridflow.errors import SourcePos
from gridflow.expr import ast

PLAN_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Model):
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def pos(self) -> SourcePos:
        return SourcePos(self.file, self.line, self.col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Expr(_Model):
    """An unevaluated expression: its source text, where it is, and its tree."""

    text: str
    loc: Location
    tree: Any = Field(description="gridflow.expr.ast node encoded by ast.to_json")

    @functools.cached_property
    def node(self) -> ast.Node:
        """The decoded tree, decoded once per Expr object."""
        return ast.from_json(self.tree)

    @classmethod
    def from_node(cls, node: ast.Node, text: str, loc: Location) -> Expr:
        return cls(text=text, loc=loc, tree=ast.to_json(node))


class TypeSpec(_Model):
    """A variable type: ``string``, ``number``, ``bool``, ``any``,
    ``list(T)``, ``set(T)``, ``map(T)``, ``tuple([...])`` or
    ``object({k = T})``."""

    kind: Literal["string", "number", "bool", "any", "list", "set", "map", "tuple", "object"]
    elem: TypeSpec | None = None  # list / set / map
    items: tuple[TypeSpec, ...] = ()  # tuple
    fields: dict[str, TypeSpec] = Field(default_factory=dict)  # object
    optional: tuple[str, ...] = ()  # object attributes declared optional(T)

    def __str__(self) -> str:
        if self.kind in ("list", "set", "map"):
            return f"{self.kind}({self.elem or 'any'})"
        if self.kind == "tuple":
            return "tuple([" + ", ".join(str(i) for i in self.items) + "])"
        if self.kind == "object":
            inner = ", ".join(f"{k} = {v}" for k, v in self.fields.items())
            return "object({" + inner + "})"
        return self.kind


class Variable(_Model):
    """A typed input of the grid (``variable "name" { ... }``)."""

    name: str
    type: TypeSpec = TypeSpec(kind="any")
    default: Any = None
    has_default: bool = False
    sensitive: bool = False
    description: str = ""
    loc: Location


class Resource(_Model):
    """A shared, stateful client (``resource "<type>" "<name>"``)."""

    id: str  # "<type>.<name>"
    type: str
    name: str
    arguments: dict[str, Expr] = Field(default_factory=dict)
    loc: Location


class RefPattern(str, Enum):
    """How a step waits on an upstream step."""

    ALL = "all"  # S.output / S[*] / depends_on: every instance
    INSTANCE = "instance"  # S[3] / S["key"]: that one instance
    EACH = "each"  # S[each]: clone per instance of S, each clone waits for its own
    FIRST = "first"  # S.first_output: the first instance to succeed


class Edge(_Model):
    """A dependency of one step on another."""

    upstream: str  # step id "<runner>.<name>"
    pattern: RefPattern
    index: Expr | None = None  # the key expression, for INSTANCE
    explicit: bool = False  # written in depends_on rather than inferred
    loc: Location


class FanOut(_Model):
    """``count = N`` or ``for_each = map|set``; ``dynamic`` when it reads upstream outputs."""

    kind: Literal["count", "for_each"]
    expr: Expr
    dynamic: bool = False


class Retry(_Model):
    """``retry { attempts, delay, backoff, max_delay }``; attempts include the first try."""

    attempts: int = 1
    delay_s: float = 0.0
    backoff: Literal["fixed", "exponential"] = "fixed"
    max_delay_s: float | None = None

    def delay_before_attempt(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        if attempt <= 1:
            return 0.0
        delay = self.delay_s
        if self.backoff == "exponential":
            delay = self.delay_s * (2 ** (attempt - 2))
        if self.max_delay_s is not None:
            delay = min(delay, self.max_delay_s)
        return delay


class Threshold(_Model):
    """One ``thresholds { metric = "condition" }`` entry (see :mod:`gridflow.plan.thresholds`)."""

    metric: str
    text: str  # as written, for messages
    aggregate: str
    op: str
    value: float  # latency in ms, error_rate as a fraction
    loc: Location


class Load(_Model):
    """How a burst generates load.

    Closed model (``rate_per_s`` unset): every instance starts as soon as one
    of ``concurrency.limit`` slots is free. Open model: instances arrive at
    ``rate_per_s`` for ``duration_s`` (like k6's constant-arrival-rate);
    arrivals that find no free slot are counted as dropped.
    """

    mode: Literal["auto", "burst", "tasks"] = "auto"
    rate_per_s: float | None = None
    duration_s: float | None = None
    shards: int = 1
    processes: int = 1
    thresholds: tuple[Threshold, ...] = ()
    abort_on_fail: bool = False


class Step(_Model):
    """One ``step "<runner>" "<name>"`` block."""

    id: str  # "<runner>.<name>"
    runner: str
    name: str
    loc: Location
    arguments: dict[str, Expr] = Field(default_factory=dict)
    fan_out: FanOut | None = None
    each_of: str | None = None  # cloned per instance of this step ([each])
    edges: list[Edge] = Field(default_factory=list)
    uses: dict[str, str] = Field(default_factory=dict)  # slot -> resource id
    retry: Retry = Retry()
    timeout_s: float | None = None
    delay_before_s: float = 0.0
    delay_after_s: float = 0.0
    concurrency_limit: int | None = None
    if_: Expr | None = Field(default=None, alias="if")
    abort_if_false: bool = False
    continue_on_error: bool = False
    sensitive: bool = False  # mask this step's arguments and outputs everywhere
    load: Load = Load()  # burst settings; only meaningful on a fanned-out step

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def upstream_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for edge in self.edges:
            seen.setdefault(edge.upstream, None)
        return list(seen)


class Plan(_Model):
    """A whole grid (or job), ready for an engine builder."""

    version: int = PLAN_VERSION
    name: str
    kind: Literal["grid", "job"] = "grid"
    sources: list[str] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    locals: dict[str, Expr] = Field(default_factory=dict)
    resources: dict[str, Resource] = Field(default_factory=dict)
    steps: dict[str, Step] = Field(default_factory=dict)  # in topological order

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def downstream(self, step_id: str) -> list[str]:
        return [s.id for s in self.steps.values() if step_id in s.upstream_ids]

    def chain(self, step_id: str) -> list[str]:
        """The steps ``step_id`` is cloned over by ``[each]``, nearest first, the
        chain's root last; empty for a step that is not an ``[each]`` clone."""
        out: list[str] = []
        parent = self.steps[step_id].each_of
        while parent is not None and parent not in out:  # translators refuse cycles
            out.append(parent)
            parent = self.steps[parent].each_of
        return out

    def chain_root(self, step_id: str) -> str | None:
        """The step at the head of ``step_id``'s ``[each]`` chain, or None."""
        chain = self.chain(step_id)
        return chain[-1] if chain else None

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, by_alias=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        return cls.model_validate_json(text)


class LazyPlan:
    """A Plan kept as its JSON text until something reads it.

    A compiled Airflow DAG file embeds its Plan as JSON, and Airflow parses
    the file far more often than a task runs: validating a large Plan on
    every parse would dominate the file's parse time. Operators accept a
    LazyPlan and read it only when they execute. All operators of a file
    share one LazyPlan, so the Plan is validated at most once per process.
    """

    __slots__ = ("_plan", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._plan: Plan | None = None

    def get(self) -> Plan:
        if self._plan is None:
            self._plan = Plan.from_json(self.text)
        return self._plan
