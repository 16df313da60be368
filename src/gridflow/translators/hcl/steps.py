"""Loader rules for steps and resources: meta-arguments, runner arguments, uses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from gridflow.errors import (
    SourcePos,
    suggest,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import references
from gridflow.plan.durations import parse_duration
from gridflow.plan.models import (
    Expr,
    FanOut,
    Resource,
    Retry,
    Step,
)
from gridflow.runners import registry
from gridflow.translators.hcl.blocks import Attr, Block
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.helpers import _kind, _literal, _loc, fan_out_problem, is_whole
from gridflow.translators.hcl.load_rules import LoadRules
from gridflow.translators.hcl.names import (
    NOT_IMPLEMENTED_ATTRS,
    NOT_IMPLEMENTED_BLOCKS,
    STEP_ATTRS,
    STEP_BLOCKS,
    _StepDecl,
)


class StepRules(LoadRules):
    # --------------------------------------------------------------- resources
    def _resources(self, blocks: dict[str, tuple[Block, Converter]]) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        for rid, (blk, conv) in blocks.items():
            rtype, rname = blk.labels
            cls = registry.get_resource(rtype)
            if cls is None:
                hint = suggest(rtype, registry.resource_names()) or "resource types: " + ", ".join(
                    registry.resource_names()
                )
                self.error(
                    blk.pos, "unknown-resource-type", f'unknown resource type "{rtype}"', hint
                )
                continue
            self._unknown_members(blk, (), ("arguments",), f'resource "{rid}"')
            args = self._arguments(blk, conv, cls.Arguments, f'resource "{rid}"', allow=set())
            out[rid] = Resource(id=rid, type=rtype, name=rname, arguments=args, loc=_loc(blk.pos))
        return out

    def _arguments(
        self, blk: Block, conv: Converter, model: Any, what: str, *, allow: set[str]
    ) -> dict[str, Expr]:
        arg_blocks = [b for b in blk.blocks if b.type == "arguments"]
        for extra in arg_blocks[1:]:
            self.error(
                extra.pos,
                "duplicate-block",
                f"{what} has more than one arguments block",
                "merge them into one",
            )
        # Grids use a field's alias where it has one (``json`` for ``json_``).
        fields = (
            {(f.alias or n): f for n, f in model.model_fields.items()} if model is not None else {}
        )
        out: dict[str, Expr] = {}
        given: set[str] = set()
        if arg_blocks:
            ab = arg_blocks[0]
            for attr in ab.duplicates:
                self.error(
                    attr.pos,
                    "duplicate-attribute",
                    f'argument "{attr.name}" is set twice in {what}',
                    "keep one",
                )
            for sub in ab.blocks:
                self.error(
                    sub.pos,
                    "argument-block",
                    f'"{sub.type} {{ }}" is a block; arguments are written name = value',
                    f"write {sub.type} = {{ ... }}",
                )
            refused = getattr(model, "refused_argument", None)
            for aname, attr in ab.attrs.items():
                reason = refused(aname) if callable(refused) else None
                if reason:
                    self.error(
                        attr.pos,
                        "refused-argument",
                        f'argument "{aname}" is not accepted by {what}',
                        reason,
                    )
                    continue
                if fields and aname not in fields:
                    hint = suggest(aname, fields) or "arguments: " + ", ".join(sorted(fields))
                    self.error(
                        attr.pos, "unknown-argument", f'unknown argument "{aname}" for {what}', hint
                    )
                    continue
                node = self.convert(attr, conv)
                if node is None:
                    continue
                self.check_names(node, conv.file, allow=allow, context=f"in {what}")
                given.add(aname)
                out[aname] = Expr.from_node(node, attr.text, _loc(attr.pos))
                if aname in fields:
                    self._check_literal(node, fields[aname], aname, what, attr.pos)
        for fname, field in fields.items():
            if field.is_required() and fname not in given:
                pos = arg_blocks[0].pos if arg_blocks else blk.pos
                self.error(
                    pos,
                    "missing-argument",
                    f'{what} needs the argument "{fname}"',
                    f"add {fname} = ... to its arguments block",
                )
        return out

    def _check_literal(
        self, node: ast.Node, field: Any, aname: str, what: str, pos: SourcePos
    ) -> None:
        ok, value = _literal(node)
        if not ok:
            return
        try:
            # The field's validators (durations, text) live in its metadata:
            # rebuild the Annotated type so literals are checked exactly as at run time.
            annotation: Any = field.annotation
            if field.metadata:
                annotation = Annotated.__class_getitem__((annotation, *field.metadata))  # type: ignore[attr-defined]
            TypeAdapter(annotation).validate_python(value)
        except ValidationError as exc:
            message, hint = _validation_message(exc, aname)
            self.error(pos, "argument-type", f'argument "{aname}" of {what}: {message}', hint)
        except Exception:
            return  # an annotation pydantic cannot check on its own: left to run time

    # ------------------------------------------------------------------ steps
    def _step(self, decl: _StepDecl) -> Step | None:
        blk, conv = decl.block, decl.conv
        what = f'step "{decl.id}"'
        before = len(self.diags)
        self._unknown_members(blk, STEP_ATTRS, STEP_BLOCKS, what)
        for aname in NOT_IMPLEMENTED_ATTRS:
            if aname in blk.attrs:
                self.error(
                    blk.attrs[aname].pos,
                    "not-implemented",
                    f'"{aname}" is planned but not available in this version of gridflow',
                    "remove it for now; see the README's status list",
                )
        for sub in blk.blocks:
            if sub.type in NOT_IMPLEMENTED_BLOCKS:
                self.error(
                    sub.pos,
                    "not-implemented",
                    f'"{sub.type}" is planned but not available in this version of gridflow',
                    "remove it for now; see the README's status list",
                )
        for kind in ("retry", "concurrency", "uses"):  # thresholds: checked in _load
            for extra in [b for b in blk.blocks if b.type == kind][1:]:
                self.error(
                    extra.pos,
                    "duplicate-block",
                    f"{what} has more than one {kind} block",
                    "merge them into one",
                )
        cls = registry.get_runner(decl.runner)
        if cls is None:
            hint = suggest(decl.runner, registry.runner_names()) or "runners: " + ", ".join(
                registry.runner_names()
            )
            self.error(blk.pos, "unknown-runner", f'unknown runner "{decl.runner}"', hint)
        if "count" in blk.attrs and "for_each" in blk.attrs:
            self.error(
                blk.attrs["for_each"].pos,
                "count-and-for-each",
                f"{what} sets both count and for_each",
                "use one of them",
            )
        allow: set[str] = set()
        fan_out: FanOut | None = None
        for kind in ("count", "for_each"):
            if kind in blk.attrs:
                fan_out = self._fan_out(kind, blk.attrs[kind], conv, what)
                allow.add("count" if kind == "count" else "each")
        if "rate" in blk.attrs and fan_out is None:
            allow.add("count")  # open model without count: count.index numbers arrivals
        # Inside an [each] clone, count.index / each.* mean the chain root's
        # instance; which one is known only after chains resolve, so allow both
        # here and check them in _chains.
        if fan_out is None:
            allow |= {"count", "each"}
        args = self._arguments(
            blk, conv, cls.Inputs if cls is not None else None, what, allow=allow
        )
        if_expr: Expr | None = None
        if "if" in blk.attrs:
            node = self.convert(blk.attrs["if"], conv)
            if node is not None:
                self.check_names(node, conv.file, allow=allow, context=f"in {what}")
                if_expr = Expr.from_node(node, blk.attrs["if"].text, _loc(blk.attrs["if"].pos))
        uses = self._uses(blk, cls, what)
        retry = self._retry(blk, conv, what)
        timeout = self._duration(blk, "timeout", conv)
        delay_before = self._duration(blk, "delay_before", conv) or 0.0
        delay_after = self._duration(blk, "delay_after", conv) or 0.0
        limit = self._concurrency(blk, conv, what)
        flags = {
            name: self._static_bool(blk, name, conv, self.static_roots) or False
            for name in ("abort_if_false", "continue_on_error", "sensitive")
        }
        load = self._load(blk, conv, what, fan_out)
        edges = self._edges(decl, args, fan_out, if_expr)
        if len(self.diags) > before:
            return None
        return Step(
            id=decl.id,
            runner=decl.runner,
            name=decl.name,
            loc=_loc(blk.pos),
            arguments=args,
            fan_out=fan_out,
            edges=edges,
            uses=uses,
            retry=retry,
            timeout_s=timeout,
            delay_before_s=delay_before,
            delay_after_s=delay_after,
            concurrency_limit=limit,
            if_=if_expr,
            load=load,
            **flags,
        )

    def _fan_out(self, kind: str, attr: Attr, conv: Converter, what: str) -> FanOut | None:
        node = self.convert(attr, conv)
        if node is None:
            return None
        self.check_names(node, conv.file, allow=set(), context=f"in the {kind} of {what}")
        refs = references(node)
        dynamic = bool(refs["steps"] or refs["each"])
        if refs["each"]:
            self.error(
                attr.pos,
                "each-in-fan-out",
                f"the {kind} of {what} uses [each]",
                "fan out over a whole step's outputs instead",
            )
            return None
        if not dynamic and not self.not_known_yet(node, self.static_roots):
            ok, value = self.static_value(node, conv.file, attr.pos)
            if ok:
                problem = fan_out_problem(kind, value)
                if problem:
                    self.error(
                        attr.pos, "bad-fan-out", f"{kind} of {what}: {problem[0]}", problem[1]
                    )
        return FanOut(
            kind=kind, expr=Expr.from_node(node, attr.text, _loc(attr.pos)), dynamic=dynamic
        )

    def _uses(self, blk: Block, cls: Any, what: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for sub in (b for b in blk.blocks if b.type == "uses"):
            for attr in sub.duplicates:
                self.error(
                    attr.pos,
                    "duplicate-attribute",
                    f'uses slot "{attr.name}" is set twice in {what}',
                    "keep one",
                )
            for inner in sub.blocks:
                self.error(
                    inner.pos,
                    "bad-uses",
                    f'uses "{inner.type}" of {what} is written as a block',
                    f"write {inner.type} = resource.<type>.<name>",
                )
            for slot, attr in sub.attrs.items():
                node = self.convert(attr, Converter(attr.pos.file))
                if not isinstance(node, ast.ResourceRef):
                    self.error(
                        attr.pos,
                        "bad-uses",
                        f'uses "{slot}" of {what} must name a resource',
                        f"write {slot} = resource.<type>.<name>",
                    )
                    continue
                accepted = dict(getattr(cls, "uses", {}) or {}) if cls is not None else {}
                if cls is not None and slot not in accepted:
                    hint = suggest(slot, accepted) or (
                        "slots: " + ", ".join(accepted)
                        if accepted
                        else f'runner "{cls.name}" uses no resources'
                    )
                    self.error(attr.pos, "unknown-slot", f'{what} has no uses slot "{slot}"', hint)
                    continue
                rtype = node.resource.split(".")[0]
                if (
                    cls is not None
                    and node.resource in self.resource_ids
                    and accepted[slot] != rtype
                ):
                    self.error(
                        attr.pos,
                        "wrong-resource-type",
                        f'uses "{slot}" of {what} takes a {accepted[slot]} resource, not {rtype}',
                        f'point it at a resource "{accepted[slot]}" block',
                    )
                    continue
                out[slot] = node.resource
        return out

    def _retry(self, blk: Block, conv: Converter, what: str) -> Retry:
        subs = [b for b in blk.blocks if b.type == "retry"]
        if not subs:
            return Retry()
        sub = subs[0]
        self._unknown_members(
            sub, ("attempts", "delay", "backoff", "max_delay"), (), f"the retry block of {what}"
        )
        values: dict[str, Any] = {}
        for name, attr in sub.attrs.items():
            ok, value = self.static_attr(attr, conv)
            if not ok:
                continue
            if name == "attempts":
                if not is_whole(value) or value < 1:
                    self.error(
                        attr.pos,
                        "bad-retry",
                        f"retry attempts must be a whole number of at least 1, got {_kind(value)}",
                        "attempts counts the first try: attempts = 3 tries up to three times",
                    )
                    continue
                values["attempts"] = int(value)
            elif name in ("delay", "max_delay"):
                try:
                    values[f"{name}_s"] = parse_duration(value)
                except ValueError as exc:
                    self.error(
                        attr.pos, "bad-duration", f"retry {name}: {exc}", f'e.g. {name} = "1s"'
                    )
            elif name == "backoff":
                if value not in ("fixed", "exponential"):
                    self.error(
                        attr.pos,
                        "bad-retry",
                        f'retry backoff must be "fixed" or "exponential", got {_kind(value)}',
                        'write backoff = "exponential"',
                    )
                    continue
                values["backoff"] = value
        return Retry(**values)

    def _duration(self, blk: Block, name: str, conv: Converter) -> float | None:
        attr = blk.attrs.get(name)
        if attr is None:
            return None
        ok, value = self.static_attr(attr, conv)
        if not ok:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(attr.pos, "bad-duration", f"{name}: {exc}", f'e.g. {name} = "30s"')
            return None

    def _concurrency(self, blk: Block, conv: Converter, what: str) -> int | None:
        subs = [b for b in blk.blocks if b.type == "concurrency"]
        if not subs:
            return None
        sub = subs[0]
        self._unknown_members(sub, ("limit",), (), f"the concurrency block of {what}")
        attr = sub.attrs.get("limit")
        if attr is None:
            self.error(
                sub.pos,
                "missing-argument",
                f"the concurrency block of {what} needs limit",
                "write concurrency { limit = 5 }",
            )
            return None
        ok, value = self.static_attr(attr, conv)
        if not ok:
            return None
        if not is_whole(value) or value < 1:
            self.error(
                attr.pos,
                "bad-concurrency",
                f"concurrency limit must be a whole number of at least 1, got {_kind(value)}",
                "write limit = 5",
            )
            return None
        return int(value)


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a map",
    "model_type": "a map",
    "model_attributes_type": "a map",
}


def _validation_message(exc: ValidationError, aname: str) -> tuple[str, str]:
    """pydantic's first error as "expected X, got Y" (and a hint), in grid terms."""
    first = exc.errors()[0]
    kind = str(first.get("type", ""))
    msg = str(first.get("msg", "invalid value"))
    loc = list(first.get("loc", ()))
    if kind in ("missing", "extra_forbidden") and loc:
        key = loc.pop()
        where = aname + _path(loc)
        if kind == "missing":
            return f'{where} needs "{key}"', f"add {key} = ... to {where}"
        return f'{where} has no key "{key}"', f'remove "{key}" from {where}'
    where = aname + _path(loc)
    at = f" at {_path(loc)}" if loc else ""
    if kind == "value_error":
        return msg.removeprefix("Value error, ") + at, f"change the value of {where}"
    expected = _EXPECTED.get(kind)
    if expected is None:
        for prefix in (
            "Input should be ",
            "String should have ",
            "Value should have ",
            "List should have ",
        ):
            msg = msg.removeprefix(prefix)
        expected = msg[0].lower() + msg[1:] if msg else "another value"
        if expected.startswith(("greater", "less")):
            expected = "a number " + expected
    got = _kind(first.get("input"))
    return f"expected {expected}{at}, got {got}", f"change {where} to {expected}"


def _path(loc: list[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f'["{p}"]' for p in loc)
