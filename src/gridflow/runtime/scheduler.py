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
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gridflow.errors import ExpressionError, GridflowError, SourcePos
from gridflow.expr.evaluator import Scope, evaluate, root_members
from gridflow.expr.format import type_name
from gridflow.expr.values import ResourceHandle, StepInstances
from gridflow.plan import Plan, RefPattern, Step
from gridflow.runtime.masking import Masker
from gridflow.runtime.state import ErrorInfo, Instance, Outcome, Status, step_status

DEFAULT_MAX_PARALLEL = 100


@dataclasses.dataclass(frozen=True)
class Work:
    """One instance ready to run: what the engine hands to the runner."""

    run_id: str
    step: Step
    position: int
    key: int | str | None
    arguments: dict[str, Any]
    uses: dict[str, str]  # slot -> resource id

    @property
    def label(self) -> str:
        if self.key is None:
            return self.step.id
        return (
            f"{self.step.id}[{self.key!r}]"
            if isinstance(self.key, str)
            else f"{self.step.id}[{self.key}]"
        )


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

    @property
    def fanned(self) -> bool:
        return self.step.fan_out is not None or self.step.each_of is not None

    @property
    def done(self) -> bool:
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
    ) -> None:
        """``uuid_seed``: make ``uuid()`` in step arguments repeatable per run,
        step and instance (for engines that evaluate arguments again on a
        retry); without it ``uuid()`` is random."""
        self.plan = plan
        self._uuid_seed = uuid_seed
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
        if step.fan_out is None:
            sr.instances = [Instance(step.id, 0, None)]
            return
        expr = step.fan_out.expr
        try:
            value = evaluate(expr.node, self._scope(expr.loc.file))
            pairs, keyed = _fan_out_pairs(step.fan_out.kind, value, expr.loc.pos())
        except GridflowError as exc:
            sr.instances = []
            self._fail_run(ErrorInfo("expression", f"{step.id}: {exc}"))
            return
        sr.keyed = keyed
        sr.instances = [Instance(step.id, pos, key, val) for pos, (key, val) in enumerate(pairs)]

    def _instance_roots(self, sr: _StepRun, inst: Instance) -> dict[str, Any]:
        roots = dict(self._roots)
        source = self._steps[sr.root].step if sr.root is not None else sr.step
        if source.fan_out is not None:
            if source.fan_out.kind == "count":
                roots["count"] = {"index": inst.key}
            else:
                roots["each"] = {"key": inst.key, "value": inst.value}
        return roots

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

    def _prepare(self, sr: _StepRun, inst: Instance) -> Work | None:
        """Evaluate ``if`` and the arguments; start the instance or settle it."""
        step = sr.step
        roots = self._instance_roots(sr, inst)
        each = {
            edge.upstream: self._steps[edge.upstream].instances[inst.position].as_value()
            for edge in step.edges
            if edge.pattern is RefPattern.EACH
        }
        file = step.loc.file
        scope = self._scope(file, roots)
        seed = None
        if self._uuid_seed is not None:
            seed = f"{self._uuid_seed}/{step.id}/{inst.position}"
        scope = dataclasses.replace(scope, each=each, uuid_seed=seed)
        try:
            if step.if_ is not None:
                cond = evaluate(step.if_.node, dataclasses.replace(scope, file=step.if_.loc.file))
                if not isinstance(cond, bool):
                    raise ExpressionError(
                        f"the if condition must be true or false, got {type_name(cond)}",
                        pos=step.if_.loc.pos(),
                        hint="compare explicitly, e.g. if = var.enabled == true",
                    )
                if not cond:
                    if step.abort_if_false:
                        self._settle(
                            sr,
                            inst,
                            Outcome(
                                Status.FAILED,
                                error=ErrorInfo(
                                    "aborted",
                                    "the if condition is false (abort_if_false)",
                                ),
                                attempts=0,
                            ),
                        )
                    else:
                        self._settle(sr, inst, Outcome(Status.SKIPPED, attempts=0))
                    return None
            arguments = {
                name: evaluate(expr.node, dataclasses.replace(scope, file=expr.loc.file))
                for name, expr in step.arguments.items()
            }
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
        inst = sr.instances[work.position]
        if inst.status is Status.RUNNING:
            sr.running -= 1
            self._running -= 1
        cancelled = outcome.error is not None and outcome.error.kind == "cancelled"
        if self.cancelling and outcome.status is Status.FAILED and cancelled:
            outcome = dataclasses.replace(outcome, status=Status.CANCELLED)
        self._settle(sr, inst, outcome)

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
            for inst in sr.instances:
                if not inst.status.terminal:
                    inst.status = Status.CANCELLED
        self.ended = time.time()

    def result(self) -> dict[str, Any]:
        """The SPEC §6 result document, secrets masked."""
        steps: dict[str, Any] = {}
        for sr in self._steps.values():
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


def _fan_out_pairs(
    kind: str, value: Any, pos: SourcePos
) -> tuple[list[tuple[int | str, Any]], bool]:
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
        return [(i, i) for i in range(n)], False
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
