"""The grid's execution semantics, as a state machine engines drive.

:class:`GridRun` decides *what* may run next; an engine decides *how* it runs
(asyncio tasks in the local engine, Prefect task runs in the Prefect engine).
The protocol is three calls::

    run = GridRun(plan, values, ...)
    while not run.finished:
        for work in run.ready():          # instances whose inputs are complete
            start(work)                   # the engine runs work.arguments
        outcome = wait_for_any()          # ... and reports each outcome
        run.complete(work, outcome)
        if run.cancelling:                # fail-fast: stop what is running
            cancel_everything_running()   # and report those as CANCELLED

Rules it implements (SPEC §1):

* a step waits for its upstream edges: ``all`` waits for every instance,
  ``instance`` for one, ``first`` for the first success, and an ``[each]``
  clone's instance *i* waits only for instance *i* of its source;
* fan-out (``count``/``for_each``) is evaluated when the step's upstreams
  are done, so it may depend on their outputs (dynamic fan-out);
* ``if`` false skips an instance (its output is null; dependents still run);
  ``abort_if_false`` fails the run instead;
* a failure fails the run and cancels what is running (fail-fast) unless the
  step has ``continue_on_error``: then the step is failed, the run goes on and
  dependents see the error in ``S.error`` / ``S[i].error``;
* ``concurrency.limit`` caps a step's instances in flight; ``max_parallel``
  caps the whole run.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gridflow.errors import ExpressionError, GridflowError, SourcePos
from gridflow.expr.evaluator import Scope, evaluate, references, root_members
from gridflow.expr.format import type_name
from gridflow.expr.values import ResourceHandle, StepInstances
from gridflow.plan import Plan, RefPattern, Step
from gridflow.runtime.masking import Masker
from gridflow.runtime.state import ErrorInfo, Instance, Outcome, Status, step_status

DEFAULT_MAX_PARALLEL = 100
# A fan-out of at least this many instances runs as one burst task (SPEC §1);
# below it, one engine task per instance. GRIDFLOW_BURST_THRESHOLD overrides
# it; docs/decisions/0006-bursts.md says how the number was chosen.
DEFAULT_BURST_THRESHOLD = 1000
# Functions whose value differs per call: an argument using them is
# evaluated again for every instance of a burst.
_IMPURE_FUNCTIONS = frozenset({"uuid", "timestamp"})

log = logging.getLogger("gridflow.run")


def burst_threshold_from_env(environ: Mapping[str, str] | None = None) -> int:
    """The burst threshold from GRIDFLOW_BURST_THRESHOLD, else the default."""
    raw = (environ if environ is not None else os.environ).get("GRIDFLOW_BURST_THRESHOLD")
    if raw is None or not raw.strip():
        return DEFAULT_BURST_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        raise GridflowError(
            f"GRIDFLOW_BURST_THRESHOLD={raw!r} is not a whole number; set it to the number "
            f"of instances from which a fan-out runs as one burst (default "
            f"{DEFAULT_BURST_THRESHOLD})"
        ) from None
    return max(1, value)


def wants_burst(step: Step, instances: int, threshold: int) -> bool:
    """Whether a fanned-out step with ``instances`` instances runs as a burst."""
    load = step.load
    if load.mode == "tasks":
        return False
    if load.mode == "burst":
        return True
    return (
        instances >= threshold
        or load.rate_per_s is not None
        or load.shards > 1
        or load.processes > 1
        or bool(load.thresholds)
    )


class CountedPairs(Sequence[tuple[int, int]]):
    """``count = N`` as (key, value) pairs without building N tuples up front:
    a million-instance burst must not hold a million of anything."""

    __slots__ = ("_n",)

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [(k, k) for k in range(self._n)[i]]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i = i % self._n
        return (i, i)


@dataclasses.dataclass(frozen=True)
class Work:
    """One instance ready to run: what the engine hands to the runner."""

    run_id: str
    step: Step
    position: int
    key: int | str | None
    arguments: dict[str, Any]
    uses: dict[str, str]  # slot -> resource id
    burst: BurstPart | None = None  # set when this work is (one shard of) a burst

    @property
    def label(self) -> str:
        if self.burst is not None:
            if self.burst.shards > 1:
                return f"{self.step.id} (burst shard {self.burst.shard + 1}/{self.burst.shards})"
            return f"{self.step.id} (burst)"
        if self.key is None:
            return self.step.id
        return (
            f"{self.step.id}[{self.key!r}]"
            if isinstance(self.key, str)
            else f"{self.step.id}[{self.key}]"
        )


@dataclasses.dataclass(frozen=True)
class BurstPart:
    """What a burst work item carries: the steps run per instance (the fanned
    step, then its ``[each]`` chain), which instances this shard runs, and
    the run's evaluator for their arguments."""

    members: tuple[Step, ...]
    pairs: Sequence[tuple[Any, Any]]  # (key, value) of every instance of the burst
    shard: int
    shards: int
    keep: frozenset[str]  # member ids whose per-instance outputs something reads
    evaluator: InstanceEvaluator

    @property
    def positions(self) -> range:
        return range(self.shard, len(self.pairs), self.shards)


@dataclasses.dataclass
class _BurstState:
    """A burst in progress: its members and the shard results received."""

    members: tuple[str, ...]
    pairs: Sequence[tuple[Any, Any]]
    shards: int
    started: int = 0
    results: list[Any] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _StepRun:
    step: Step
    root: str | None  # the chain root of an [each] clone
    instances: list[Instance] = dataclasses.field(default_factory=list)
    expanded: bool = False
    keyed: bool = False
    first_ok: int | None = None
    running: int = 0
    next_position: int = 0  # instances before this one were considered already
    burst: _BurstState | None = None  # on the step at the head of a burst
    in_burst: str | None = None  # the burst's head step, on every member
    pending_burst: bool = False  # a member of a burst that has not ended yet
    summary: dict[str, Any] | None = None  # a burst member's counts and metrics

    @property
    def fanned(self) -> bool:
        return (
            self.step.fan_out is not None
            or self.step.each_of is not None
            or self.step.load.rate_per_s is not None
        )

    @property
    def done(self) -> bool:
        if self.pending_burst:
            return False
        return self.expanded and all(i.status.terminal for i in self.instances)


class GridRun:
    """Run state and scheduling rules for one run of a grid Plan."""

    def __init__(
        self,
        plan: Plan,
        values: Mapping[str, Any],
        *,
        run_id: str | None = None,
        base_dir: str | None = None,
        environ: Mapping[str, str] | None = None,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        masker: Masker | None = None,
        on_event: Callable[[str, Instance], None] | None = None,
        uuid_seed: str | None = None,
        burst_threshold: int | None = None,
    ) -> None:
        """``uuid_seed``: make ``uuid()`` in step arguments repeatable per run,
        step and instance (for engines that evaluate arguments again on a
        retry); without it ``uuid()`` is random."""
        self.plan = plan
        self._uuid_seed = uuid_seed
        self.burst_threshold = (
            burst_threshold if burst_threshold is not None else burst_threshold_from_env()
        )
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.max_parallel = max(1, max_parallel)
        self.masker = masker if masker is not None else Masker()
        self.on_event = on_event
        self.started = time.time()
        self.ended: float | None = None
        self.failure: ErrorInfo | None = None  # first failure that stopped the run
        self.cancelling = False
        self._running = 0
        self._steps: dict[str, _StepRun] = {}
        for step in plan.steps.values():
            self._steps[step.id] = _StepRun(step, plan.chain_root(step.id))
        for name, variable in plan.variables.items():
            if variable.sensitive and name in values:
                self.masker.add(values[name])
        self._base_dir = base_dir
        self._environ = environ
        self._roots: dict[str, Any] = {"var": dict(values)}
        self._resources = {rid: ResourceHandle(rid) for rid in plan.resources}
        try:
            self._roots["local"] = self._evaluate_locals()
        except ExpressionError as exc:
            self._roots["local"] = {}
            self._fail_run(ErrorInfo("expression", str(exc)))

    # ------------------------------------------------------------------ setup
    def _scope(self, file: str, roots: dict[str, Any] | None = None) -> Scope:
        return Scope(
            roots=roots if roots is not None else self._roots,
            steps=self._StepsView(self),
            each={},
            resources=self._resources,
            file=file,
            base_dir=self._base_dir,
            environ=self._environ,
        )

    def _evaluate_locals(self) -> dict[str, Any]:
        # Locals may refer to each other; evaluate them in dependency order
        # (the translator rejected cycles, so the order exists).
        result: dict[str, Any] = {}
        for name in _locals_order(self.plan):
            expr = self.plan.locals[name]
            roots = {"var": self._roots["var"], "local": result}
            result[name] = evaluate(expr.node, self._scope(expr.loc.file, roots))
        return result

    class _StepsView(Mapping[str, Any]):
        """``scope.steps``: what ``StepRef(id)`` evaluates to, built on access."""

        def __init__(self, run: GridRun) -> None:
            self._run = run

        def __getitem__(self, step_id: str) -> Any:
            sr = self._run._steps[step_id]
            if not sr.fanned:
                if sr.instances:
                    return sr.instances[0].as_value()
                return {"output": None, "error": None, "status": "pending"}
            return StepInstances(
                [i.key if i.key is not None else i.position for i in sr.instances],
                [i.as_value() for i in sr.instances],
                first_ok=sr.first_ok,
                keyed=sr.keyed,
            )

        def __iter__(self) -> Any:
            return iter(self._run._steps)

        def __len__(self) -> int:
            return len(self._run._steps)

    # ------------------------------------------------------------- queries
    @property
    def finished(self) -> bool:
        if self._running:
            return False
        if self.cancelling:
            return True
        return all(sr.done for sr in self._steps.values())

    @property
    def status(self) -> Status:
        if not self.finished:
            return Status.RUNNING
        if self.failure is not None:
            return Status.CANCELLED if self.failure.kind == "cancelled" else Status.FAILED
        return Status.SUCCESS

    def instances(self, step_id: str) -> list[Instance]:
        return list(self._steps[step_id].instances)

    def expanded(self, step_id: str) -> bool:
        return self._steps[step_id].expanded

    def resource_arguments(self, resource_id: str) -> tuple[str, dict[str, Any]]:
        """A resource's type and its arguments evaluated with the run's variables."""
        res = self.plan.resources[resource_id]
        args = {
            name: evaluate(expr.node, self._scope(expr.loc.file))
            for name, expr in res.arguments.items()
        }
        return res.type, args

    # ------------------------------------------------------------ scheduling
    def ready(self) -> list[Work]:
        """Instances that may start now; they are marked RUNNING."""
        if self.cancelling:
            return []
        out: list[Work] = []
        progress = True
        while progress and not self.cancelling:
            progress = False
            for sr in self._steps.values():
                if self.cancelling:
                    break
                if not sr.expanded and self._can_expand(sr):
                    self._expand(sr)
                    progress = True
                if sr.expanded and not sr.done:
                    started = self._start_ready_instances(sr, out)
                    progress = progress or started
        return out

    def _upstream_done_for_expand(self, sr: _StepRun) -> bool:
        for edge in sr.step.edges:
            up = self._steps[edge.upstream]
            if edge.pattern is RefPattern.EACH:
                continue  # waited on per instance
            if edge.pattern is RefPattern.FIRST:
                if not (up.first_ok is not None or up.done):
                    return False
            elif edge.pattern is RefPattern.INSTANCE and edge.index is not None:
                if not up.expanded:
                    return False
                inst = self._instance_for_key(up, edge.index)
                if inst is not None and not inst.status.terminal:
                    return False
            elif not up.done:
                return False
        return True

    def _can_expand(self, sr: _StepRun) -> bool:
        if sr.in_burst is not None:
            return False
        if sr.root is not None and not self._steps[sr.root].expanded:
            return False
        if sr.step.each_of is not None and not self._steps[sr.step.each_of].expanded:
            return False
        return self._upstream_done_for_expand(sr)

    def _instance_for_key(self, up: _StepRun, index_expr: Any) -> Instance | None:
        try:
            key = evaluate(index_expr.node, self._scope(index_expr.loc.file))
        except ExpressionError:
            return None
        for inst in up.instances:
            if inst.key == key or (not up.keyed and inst.position == key):
                return inst
        return None

    def _expand(self, sr: _StepRun) -> None:
        step = sr.step
        sr.expanded = True
        if sr.root is not None:
            root = self._steps[sr.root]
            sr.keyed = root.keyed
            sr.instances = [Instance(step.id, i.position, i.key, i.value) for i in root.instances]
            return
        if step.fan_out is None and step.load.rate_per_s is None:
            sr.instances = [Instance(step.id, 0, None)]
            return
        pairs: Sequence[tuple[Any, Any]]
        if step.fan_out is None:  # open model without count: arrivals are counted
            pairs, keyed = CountedPairs(0), False
        else:
            expr = step.fan_out.expr
            try:
                value = evaluate(expr.node, self._scope(expr.loc.file))
                pairs, keyed = _fan_out_pairs(step.fan_out.kind, value, expr.loc.pos())
            except GridflowError as exc:
                sr.instances = []
                self._fail_run(ErrorInfo("expression", f"{step.id}: {exc}"))
                return
        load = step.load
        if load.rate_per_s is not None and load.duration_s is not None:
            arrivals = max(1, math.ceil(load.rate_per_s * load.duration_s))
            if step.fan_out is None or len(pairs) > arrivals:
                pairs = CountedPairs(arrivals)
        sr.keyed = keyed
        if wants_burst(step, len(pairs), self.burst_threshold) and self._start_burst(sr, pairs):
            return
        sr.instances = [Instance(step.id, pos, key, val) for pos, (key, val) in enumerate(pairs)]

    def _start_burst(self, sr: _StepRun, pairs: Sequence[tuple[Any, Any]]) -> bool:
        """Make ``sr`` the head of a burst with its ``[each]`` chain; False (run
        as tasks) when a chain step also waits on something not done yet."""
        step = sr.step
        members = [sr.step.id] + [
            other.step.id for other in self._steps.values() if other.root == step.id
        ]
        member_set = set(members)
        for mid in members[1:]:
            for edge in self._steps[mid].step.edges:
                if edge.pattern is RefPattern.EACH or edge.upstream in member_set:
                    continue
                if not self._steps[edge.upstream].done:
                    if step.load.mode == "burst" or step.load.rate_per_s is not None:
                        self._fail_run(
                            ErrorInfo(
                                "expression",
                                f"{step.id} runs as a burst, but {mid}, cloned over it with "
                                f"[each], also waits for {edge.upstream}, which is not done "
                                f"when the burst starts; make {mid} wait for the whole burst "
                                f"(reference {step.id}.output) or remove that reference",
                            )
                        )
                        return True
                    log.warning(
                        "%s: %s fan-out instances run as tasks, not as a burst: %s waits for %s",
                        step.id,
                        len(pairs),
                        mid,
                        edge.upstream,
                    )
                    return False
        sr.burst = _BurstState(tuple(members), pairs, max(1, step.load.shards))
        for mid in members:
            member = self._steps[mid]
            member.expanded = True
            member.instances = []
            member.in_burst = step.id
            member.pending_burst = True
            member.keyed = sr.keyed
        return True

    def _instance_roots(self, sr: _StepRun, inst: Instance) -> dict[str, Any]:
        return self.instance_roots(sr.step, inst.key, inst.value)

    def _each_ready(self, sr: _StepRun, inst: Instance) -> bool:
        for edge in sr.step.edges:
            if edge.pattern is RefPattern.EACH:
                up = self._steps[edge.upstream]
                if not up.expanded or inst.position >= len(up.instances):
                    return False
                if not up.instances[inst.position].status.terminal:
                    return False
        return True

    def _start_ready_instances(self, sr: _StepRun, out: list[Work]) -> bool:
        if sr.burst is not None:
            return self._start_burst_shards(sr, out)
        if sr.in_burst is not None:
            return False  # run inside its burst's work
        started = False
        limit = sr.step.concurrency_limit
        for inst in sr.instances:
            if self.cancelling:
                break
            if inst.status is not Status.PENDING:
                continue
            if self._running >= self.max_parallel:
                break
            if limit is not None and sr.running >= limit:
                break
            if not self._each_ready(sr, inst):
                continue
            work = self._prepare(sr, inst)
            started = True
            if work is not None:
                out.append(work)
        return started

    def _start_burst_shards(self, sr: _StepRun, out: list[Work]) -> bool:
        state = sr.burst
        assert state is not None
        started = False
        while state.started < state.shards and self._running < self.max_parallel:
            if self.cancelling:
                break
            members = tuple(self._steps[m].step for m in state.members)
            part = BurstPart(
                members=members,
                pairs=state.pairs,
                shard=state.started,
                shards=state.shards,
                keep=self._kept_outputs(state.members),
                evaluator=InstanceEvaluator(self, members),
            )
            state.started += 1
            sr.running += 1
            self._running += 1
            started = True
            out.append(Work(self.run_id, sr.step, part.shard, None, {}, dict(sr.step.uses), part))
        return started

    def _kept_outputs(self, members: Sequence[str]) -> frozenset[str]:
        """Members whose per-instance results a step outside the burst reads
        (``S.output``, ``S[3]``, ``S.first_output``); only those are kept."""
        inside = set(members)
        kept = {
            edge.upstream
            for step in self.plan.steps.values()
            if step.id not in inside
            for edge in step.edges
            if edge.upstream in inside and not edge.explicit
        }
        return frozenset(kept)

    def _prepare(self, sr: _StepRun, inst: Instance) -> Work | None:
        """Evaluate ``if`` and the arguments; start the instance or settle it."""
        step = sr.step
        roots = self._instance_roots(sr, inst)
        each = {
            edge.upstream: self._steps[edge.upstream].instances[inst.position].as_value()
            for edge in step.edges
            if edge.pattern is RefPattern.EACH
        }
        try:
            verdict = self.evaluate_instance(step, roots, each, inst.position)
            if verdict == "abort":
                self._settle(sr, inst, Outcome(Status.FAILED, error=ABORTED, attempts=0))
                return None
            if verdict == "skip":
                self._settle(sr, inst, Outcome(Status.SKIPPED, attempts=0))
                return None
            assert isinstance(verdict, dict)
            arguments = verdict
        except GridflowError as exc:
            self._settle(
                sr,
                inst,
                Outcome(Status.FAILED, error=ErrorInfo("expression", str(exc)), attempts=0),
            )
            return None
        if step.sensitive:
            self.masker.add(arguments)
        inst.status = Status.RUNNING
        inst.started = time.time()
        sr.running += 1
        self._running += 1
        self._emit("started", inst)
        return Work(self.run_id, step, inst.position, inst.key, arguments, dict(step.uses))

    def evaluate_instance(
        self,
        step: Step,
        roots: dict[str, Any],
        each: Mapping[str, Any],
        position: int,
        names: Sequence[str] | None = None,
        *,
        check_if: bool = True,
    ) -> dict[str, Any] | str:
        """Evaluate ``if`` (unless ``check_if`` is false) and the arguments
        (``names`` of them; all by default) of one instance: the arguments, or
        ``"skip"`` / ``"abort"`` when ``if`` is false. Raises
        :class:`GridflowError` when an expression fails."""
        scope = self._scope(step.loc.file, roots)
        seed = None
        if self._uuid_seed is not None:
            seed = f"{self._uuid_seed}/{step.id}/{position}"
        scope = dataclasses.replace(scope, each=each, uuid_seed=seed)
        if step.if_ is not None and check_if:
            cond = evaluate(step.if_.node, dataclasses.replace(scope, file=step.if_.loc.file))
            if not isinstance(cond, bool):
                raise ExpressionError(
                    f"the if condition must be true or false, got {type_name(cond)}",
                    pos=step.if_.loc.pos(),
                    hint="compare explicitly, e.g. if = var.enabled == true",
                )
            if not cond:
                return "abort" if step.abort_if_false else "skip"
        wanted = step.arguments if names is None else {n: step.arguments[n] for n in names}
        return {
            name: evaluate(expr.node, dataclasses.replace(scope, file=expr.loc.file))
            for name, expr in wanted.items()
        }

    def instance_roots(self, step: Step, key: Any, value: Any) -> dict[str, Any]:
        """The roots an instance's expressions see: variables, locals and
        ``count.index`` or ``each.key``/``each.value`` of its chain root."""
        roots = dict(self._roots)
        root_id = self.plan.chain_root(step.id)
        source = self.plan.steps[root_id] if root_id is not None else step
        if source.fan_out is None or source.fan_out.kind == "count":
            if source.fan_out is not None or source.load.rate_per_s is not None:
                roots["count"] = {"index": key}
        else:
            roots["each"] = {"key": key, "value": value}
        return roots

    # ------------------------------------------- one task per instance
    # Engines whose tasks run apart (Airflow workers) rebuild only what one
    # task needs: upstream instances restored from the engine's own store
    # (XCom), then this step's instances expanded and one prepared, by the
    # same rules the in-process engines use. No semantics live in engines.

    def restore(
        self,
        step_id: str,
        records: Sequence[Mapping[str, Any]],
        keys: Sequence[tuple[int | str | None, Any]] | None = None,
        count: int | None = None,
    ) -> None:
        """Set ``step_id``'s instances from :meth:`Instance.to_record` records.

        Positions that have no record yet (an instance still running
        elsewhere, or one that never ran) are pending: with ``keys`` (from
        :meth:`instance_keys`) they get their key and value; with ``count``
        (the step's number of instances) only their place.
        """
        sr = self._steps[step_id]
        source = self._steps[sr.root].step if sr.root is not None else sr.step
        by_position = {int(r["position"]): Instance.from_record(step_id, dict(r)) for r in records}
        if keys is None:
            size = count if count is not None else max(by_position, default=-1) + 1
            sr.instances = [by_position.get(p) or Instance(step_id, p, None) for p in range(size)]
        else:
            sr.instances = [
                by_position.get(p) or Instance(step_id, p, key, value)
                for p, (key, value) in enumerate(keys)
            ]
        sr.expanded = True
        sr.keyed = source.fan_out is not None and source.fan_out.kind == "for_each"
        succeeded = [i for i in sr.instances if i.status is Status.SUCCESS]
        # first_output: the instance that succeeded first in time.
        sr.first_ok = (
            min(succeeded, key=lambda i: (i.ended or 0.0, i.position)).position
            if succeeded
            else None
        )

    def instance_keys(self, step_id: str) -> list[tuple[int | str | None, Any]]:
        """Expand ``step_id`` (its upstreams restored) and list (key, value) per instance.

        Raises :class:`ExpressionError` when the fan-out cannot be evaluated.
        """
        sr = self._steps[step_id]
        if not sr.expanded:
            self._expand(sr)
            if self.failure is not None and not sr.instances:
                raise ExpressionError(self.failure.message)
        return [(i.key, i.value) for i in sr.instances]

    def prepare_one(self, step_id: str, position: int) -> Work | Outcome:
        """Work for one instance, or the Outcome it settled to without running
        (skipped by ``if``, or failed evaluating its arguments)."""
        sr = self._steps[step_id]
        self.instance_keys(step_id)
        inst = sr.instances[position]
        work = self._prepare(sr, inst)
        if work is not None:
            return work
        return Outcome(inst.status, inst.output, inst.error, inst.attempts)

    def static_fan_out_size(self, step_id: str) -> int | None:
        """The number of instances of ``step_id`` from variables and locals
        alone, or None when its fan-out reads upstream outputs (or fails)."""
        step = self.plan.steps[step_id]
        load = step.load
        arrivals = None
        if load.rate_per_s is not None and load.duration_s is not None:
            arrivals = max(1, math.ceil(load.rate_per_s * load.duration_s))
        if step.fan_out is None:
            return arrivals
        if step.fan_out.dynamic:
            return None
        expr = step.fan_out.expr
        try:
            value = evaluate(expr.node, self._scope(expr.loc.file))
            pairs, _ = _fan_out_pairs(step.fan_out.kind, value, expr.loc.pos())
        except GridflowError:
            return None
        return len(pairs) if arrivals is None else min(len(pairs), arrivals)

    # ------------------------------------------------- bursts in separate tasks
    def burst_work(self, step_id: str, shard: int) -> Work:
        """The work of one shard of the burst headed by ``step_id`` (its
        upstream steps restored first). Raises GridflowError when the fan-out
        cannot be evaluated or the step does not run as a burst."""
        sr = self._steps[step_id]
        if not sr.expanded:
            self._expand(sr)
        if self.failure is not None and sr.burst is None:
            raise GridflowError(self.failure.message)
        state = sr.burst
        if state is None:
            raise GridflowError(f"{step_id} does not run as a burst")
        members = tuple(self._steps[m].step for m in state.members)
        part = BurstPart(
            members=members,
            pairs=state.pairs,
            shard=shard,
            shards=state.shards,
            keep=self._kept_outputs(state.members),
            evaluator=InstanceEvaluator(self, members),
        )
        sr.running += 1
        self._running += 1
        state.started += 1
        return Work(self.run_id, sr.step, shard, None, {}, dict(sr.step.uses), part)

    def finish_burst(self, step_id: str, shard_outcomes: Sequence[Outcome]) -> None:
        """Merge the outcomes of every shard of ``step_id``'s burst (one per
        shard, in any order; a shard that never ran is an Outcome without a
        dict output) and settle its members."""
        sr = self._steps[step_id]
        if not sr.expanded:
            self._expand(sr)
        state = sr.burst
        if state is None:
            raise GridflowError(self.failure.message if self.failure else f"{step_id} is no burst")
        for outcome in shard_outcomes:
            if len(state.results) >= state.shards:
                break
            work = self.burst_work(step_id, state.started % state.shards)
            self.complete(work, outcome)

    def burst_records(self, step_id: str) -> dict[str, dict[str, Any]]:
        """Per member of the burst headed by ``step_id``: its result summary and,
        when kept, its instance records (what downstream tasks restore)."""
        state = self._steps[step_id].burst
        if state is None:
            raise GridflowError(f"{step_id} does not run as a burst")
        out: dict[str, dict[str, Any]] = {}
        for mid in state.members:
            member = self._steps[mid]
            out[mid] = {
                "burst": True,
                "summary": member.summary,
                "instances": [i.to_record() for i in member.instances] or None,
            }
        return out

    def restore_burst(self, step_id: str, record: Mapping[str, Any]) -> None:
        """Set a burst member from what :meth:`burst_records` gave for it."""
        sr = self._steps[step_id]
        sr.expanded = True
        sr.pending_burst = False
        sr.summary = dict(record.get("summary") or {})
        instances = record.get("instances")
        source = self.plan.steps[self.plan.chain_root(step_id) or step_id]
        sr.keyed = source.fan_out is not None and source.fan_out.kind == "for_each"
        sr.instances = [Instance.from_record(step_id, dict(r)) for r in instances or []]
        succeeded = [i for i in sr.instances if i.status is Status.SUCCESS]
        sr.first_ok = (
            min(succeeded, key=lambda i: (i.ended or 0.0, i.position)).position
            if succeeded
            else None
        )
        failed = sr.summary.get("status") == Status.FAILED.value
        if failed and not sr.step.continue_on_error:
            error = sr.summary.get("error") or {"kind": "failed", "message": "the burst failed"}
            self._fail_run(
                ErrorInfo(
                    error["kind"], f"{step_id}: {error['message']}", error.get("details") or {}
                )
            )

    def records(self, step_id: str) -> list[dict[str, Any]]:
        return [i.to_record() for i in self._steps[step_id].instances]

    def needs(self, step_id: str) -> list[str]:
        """Steps whose instances a task of ``step_id`` must restore first."""
        step = self.plan.steps[step_id]
        return list(dict.fromkeys([*step.upstream_ids, *self.plan.chain(step_id)]))

    # ------------------------------------------------------------ completion
    def complete(self, work: Work, outcome: Outcome) -> None:
        """Record what running ``work`` produced."""
        sr = self._steps[work.step.id]
        if work.burst is not None:
            self._complete_burst_shard(sr, work, outcome)
            return
        inst = sr.instances[work.position]
        if inst.status is Status.RUNNING:
            sr.running -= 1
            self._running -= 1
        cancelled = outcome.error is not None and outcome.error.kind == "cancelled"
        if self.cancelling and outcome.status is Status.FAILED and cancelled:
            outcome = dataclasses.replace(outcome, status=Status.CANCELLED)
        self._settle(sr, inst, outcome)

    def _complete_burst_shard(self, sr: _StepRun, work: Work, outcome: Outcome) -> None:
        from gridflow.burst.results import merge_shards  # burst code loads only when used

        state = sr.burst
        assert state is not None
        assert work.burst is not None
        sr.running -= 1
        self._running -= 1
        state.results.append(outcome.output if isinstance(outcome.output, dict) else None)
        if outcome.status is not Status.SUCCESS and not isinstance(outcome.output, dict):
            error = outcome.error or ErrorInfo("error", "the burst failed")
            if error.kind != "cancelled":
                self._fail_run(ErrorInfo(error.kind, f"{work.label}: {error.message}"))
        if len(state.results) < state.shards:
            return
        members = [self._steps[m].step for m in state.members]
        merged = merge_shards(
            members,
            len(state.pairs),
            state.results,
            work.burst.keep,
            cancelled=self.cancelling
            and self.failure is not None
            and self.failure.kind == "cancelled",
        )
        for mid in state.members:
            self._settle_burst_member(self._steps[mid], merged[mid], state.pairs)

    def _settle_burst_member(
        self, member: _StepRun, result: Any, pairs: Sequence[tuple[Any, Any]]
    ) -> None:
        member.pending_burst = False
        member.summary = {
            "status": result.status.value,
            **result.counts,
            "metrics": result.metrics,
        }
        if result.failure is not None:
            # Kept for engines that restore the burst elsewhere (Airflow).
            member.summary["error"] = result.failure.as_dict()
        if result.records is not None:
            by_position = {int(r["position"]): r for r in result.records}
            member.instances = []
            for pos in range(len(pairs)):
                rec = by_position.get(pos)
                if rec is None:
                    key, value = pairs[pos]
                    inst = Instance(member.step.id, pos, key, value, status=Status.CANCELLED)
                else:
                    inst = Instance.from_record(member.step.id, rec)
                member.instances.append(inst)
                if member.step.sensitive and inst.output is not None:
                    self.masker.add(inst.output)
            succeeded = [i for i in member.instances if i.status is Status.SUCCESS]
            if succeeded:
                member.first_ok = min(
                    succeeded, key=lambda i: (i.ended or 0.0, i.position)
                ).position
        if result.failure is not None and not member.step.continue_on_error:
            self._fail_run(
                ErrorInfo(
                    result.failure.kind,
                    f"{member.step.id}: {result.failure.message}",
                    result.failure.details,
                )
            )

    def _settle(self, sr: _StepRun, inst: Instance, outcome: Outcome) -> None:
        inst.status = outcome.status
        inst.output = outcome.output
        inst.error = outcome.error
        inst.attempts = outcome.attempts
        inst.started = outcome.started or inst.started
        inst.ended = outcome.ended or time.time()
        if sr.step.sensitive and outcome.output is not None:
            self.masker.add(outcome.output)
        if outcome.status is Status.SUCCESS and sr.first_ok is None:
            sr.first_ok = inst.position
        self._emit(outcome.status.value, inst)
        if outcome.status is Status.FAILED and not sr.step.continue_on_error:
            error = outcome.error or ErrorInfo("error", "failed")
            self._fail_run(ErrorInfo(error.kind, f"{inst.label}: {error.message}", error.details))

    def _fail_run(self, error: ErrorInfo) -> None:
        if self.failure is None:
            self.failure = error
        self.cancelling = True

    def conclude_restored(self, failure: ErrorInfo | None = None) -> None:
        """End a run that happened elsewhere, every step restored from records.

        The run fails as the in-process engines would have failed it: on the
        first instance (by end time) that failed in a step without
        ``continue_on_error``, or on ``failure`` (an error the other engine
        reported outside any instance, e.g. a fan-out that could not be
        evaluated). What never ran is then cancelled by :meth:`finish`.
        """
        failed = [
            inst
            for sr in self._steps.values()
            if not sr.step.continue_on_error
            for inst in sr.instances
            if inst.status is Status.FAILED
        ]
        if failed:
            first = min(failed, key=lambda i: (i.ended or 0.0, i.step, i.position))
            error = first.error or ErrorInfo("error", "failed")
            self._fail_run(ErrorInfo(error.kind, f"{first.label}: {error.message}", error.details))
        if failure is not None:
            self._fail_run(failure)
        if not self.cancelling and not all(sr.done for sr in self._steps.values()):
            self._fail_run(ErrorInfo("cancelled", "the run stopped before every step ran"))
        self.finish()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run from outside (e.g. Ctrl-C); running work must be cancelled."""
        self._fail_run(ErrorInfo("cancelled", reason))

    def _emit(self, event: str, inst: Instance) -> None:
        if self.on_event is not None:
            self.on_event(event, inst)

    # --------------------------------------------------------------- result
    def finish(self) -> None:
        """Settle what never ran (after fail-fast) and stamp the end time."""
        for sr in self._steps.values():
            if sr.pending_burst:
                sr.pending_burst = False
                head = self._steps[sr.in_burst or sr.step.id].burst
                total = len(head.pairs) if head is not None else 0
                if sr.summary is None:
                    sr.summary = {
                        "status": Status.CANCELLED.value,
                        "instances": total,
                        "succeeded": 0,
                        "failed": 0,
                        "skipped": 0,
                        "cancelled": total,
                        "attempts": 0,
                    }
            for inst in sr.instances:
                if not inst.status.terminal:
                    inst.status = Status.CANCELLED
        self.ended = time.time()

    def result(self) -> dict[str, Any]:
        """The SPEC §6 result document, secrets masked."""
        steps: dict[str, Any] = {}
        for sr in self._steps.values():
            if sr.summary is not None:
                steps[sr.step.id] = self._burst_entry(sr)
                continue
            insts = sr.instances
            status = step_status(insts, sr.expanded)
            if not sr.expanded:
                status = Status.CANCELLED if self.finished else Status.PENDING
            counts = {s: sum(1 for i in insts if i.status is s) for s in Status}
            entry: dict[str, Any] = {
                "status": status.value,
                "instances": len(insts),
                "succeeded": counts[Status.SUCCESS],
                "failed": counts[Status.FAILED],
                "skipped": counts[Status.SKIPPED],
                "cancelled": counts[Status.CANCELLED],
                "attempts": sum(i.attempts for i in insts),
                # SPEC §6: outputs in instance order, for every step; a step that
                # is not fanned out also gets its one value as "output".
                "outputs": [i.output for i in insts],
            }
            if not sr.fanned:
                entry["output"] = insts[0].output if insts else None
            if sr.keyed:
                entry["keys"] = [i.key for i in insts]
            errors = [
                {"instance": i.key, **i.error.as_dict()} for i in insts if i.error is not None
            ]
            if errors:
                entry["errors"] = errors
            durations = [(i.ended - i.started) * 1000 for i in insts if i.started and i.ended]
            if durations:
                entry["duration_ms"] = round(max(durations), 3)
            if sr.step.sensitive:
                entry["outputs"] = ["***" for _ in insts]
                if "output" in entry:
                    entry["output"] = "***"
            steps[sr.step.id] = entry
        doc: dict[str, Any] = {
            "status": self.status.value,
            "run_id": self.run_id,
            "grid": self.plan.name,
            "started": _iso(self.started),
            "ended": _iso(self.ended) if self.ended else None,
            "duration_ms": round(((self.ended or time.time()) - self.started) * 1000, 3),
            "steps": steps,
        }
        if self.failure is not None:
            doc["error"] = self.failure.as_dict()
        redacted: dict[str, Any] = self.masker.redact(doc)
        return redacted

    def _burst_entry(self, sr: _StepRun) -> dict[str, Any]:
        """A burst member's result: counts and metrics; per-instance outputs
        only where they were kept (SPEC §6 omits them for bursts)."""
        summary = dict(sr.summary or {})
        entry: dict[str, Any] = {
            "status": summary.pop("status"),
            **{k: summary.pop(k) for k in ("instances", "succeeded", "failed", "skipped")},
            "cancelled": summary.pop("cancelled", 0),
            "attempts": summary.pop("attempts", 0),
        }
        if sr.instances:
            entry["outputs"] = (
                ["***" for _ in sr.instances]
                if sr.step.sensitive
                else [i.output for i in sr.instances]
            )
            if sr.keyed:
                entry["keys"] = [i.key for i in sr.instances]
            errors = [
                {"instance": i.key, **i.error.as_dict()}
                for i in sr.instances
                if i.error is not None
            ]
            if errors:
                entry["errors"] = errors[:20]
        if "error" in summary:
            entry["error"] = summary["error"]
        if "metrics" in summary:
            entry["metrics"] = summary["metrics"]
            entry["duration_ms"] = round(summary["metrics"].get("duration_s", 0.0) * 1000, 3)
        return entry


ABORTED = ErrorInfo("aborted", "the if condition is false (abort_if_false)")


class InstanceEvaluator:
    """Arguments of a burst's instances, evaluated as little as possible.

    An argument that reads neither ``count``/``each``, nor an ``[each]``
    output, nor a function whose value changes per call (``uuid()``,
    ``timestamp()``) is the same for every instance: it is evaluated once.
    A load test of a million identical requests evaluates its arguments once,
    not a million times.
    """

    def __init__(self, run: GridRun, members: Sequence[Step]) -> None:
        self._run = run
        self._varying: dict[str, tuple[str, ...]] = {}
        self._constant: dict[str, dict[str, Any] | GridflowError] = {}
        for step in members:
            self._varying[step.id] = tuple(
                name for name, expr in step.arguments.items() if _per_instance(expr.node)
            )

    def varying(self, step: Step) -> tuple[str, ...]:
        return self._varying[step.id]

    def constant_arguments(self, step: Step) -> dict[str, Any]:
        """The arguments that are the same for every instance (cached)."""
        cached = self._constant.get(step.id)
        if cached is None:
            names = [n for n in step.arguments if n not in self._varying[step.id]]
            roots = self._run.instance_roots(step, 0, 0)
            try:
                result = self._run.evaluate_instance(step, roots, {}, 0, names, check_if=False)
                assert isinstance(result, dict)
                cached = result
            except GridflowError as exc:
                cached = exc
            self._constant[step.id] = cached
        if isinstance(cached, GridflowError):
            raise cached
        return cached

    def evaluate(
        self, step: Step, position: int, key: Any, value: Any, each: Mapping[str, Any]
    ) -> dict[str, Any] | str:
        """``if`` and the varying arguments of one instance (see
        :meth:`GridRun.evaluate_instance`); constant ones are not included."""
        varying = self._varying[step.id]
        if step.if_ is None and not varying:
            return {}
        roots = self._run.instance_roots(step, key, value)
        return self._run.evaluate_instance(step, roots, each, position, varying)


def _per_instance(node: Any) -> bool:
    refs = references(node)
    return bool(
        refs["each"]
        or {"count", "each"} & refs["roots"]
        or refs["steps"]
        or _IMPURE_FUNCTIONS & refs["functions"]
    )


def _fan_out_pairs(
    kind: str, value: Any, pos: SourcePos
) -> tuple[Sequence[tuple[int | str, Any]], bool]:
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(
                f"count must be a whole number, got {type_name(value)}",
                pos=pos,
                hint="use length(...) to count a collection",
            )
        if isinstance(value, float) and not value.is_integer():
            raise ExpressionError(f"count must be a whole number, got {value}", pos=pos)
        n = int(value)
        if n < 0:
            raise ExpressionError(f"count must not be negative, got {n}", pos=pos)
        return CountedPairs(n), False
    if isinstance(value, dict):
        return [(str(k), value[k]) for k in sorted(value)], True
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ExpressionError(
                "for_each over a list needs strings (each becomes a key)",
                pos=pos,
                hint="use a map to fan out over other values: { for v in list : v.id => v }",
            )
        if len(set(value)) != len(value):
            raise ExpressionError(
                "for_each has duplicate keys", pos=pos, hint="wrap the list in toset(...)"
            )
        return [(v, v) for v in value], True
    raise ExpressionError(
        f"for_each needs a map or a set of strings, got {type_name(value)}",
        pos=pos,
        hint='use count = N for a number, or toset(["a", "b"]) for names',
    )


def _locals_order(plan: Plan) -> list[str]:
    """Local names so that each comes after the locals it reads."""
    deps: dict[str, set[str]] = {}
    for name, expr in plan.locals.items():
        deps[name] = {
            node.name for node in root_members(expr.node, "local") if node.name in plan.locals
        }
    order: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in placed or name in visiting:
            return
        visiting.add(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.discard(name)
        placed.add(name)
        order.append(name)

    for name in plan.locals:
        visit(name)
    return order


def _iso(ts: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")
