"""Shared ground of the grid loader: diagnostics, reference rewriting, name checks.

The loader is split by concern into a short inheritance chain:
:class:`NameRules` (this module) <- :class:`~.graph.GraphRules` (edges,
``[each]`` chains, order) <- :class:`~.steps.StepRules` (steps, resources,
arguments) <- the loader itself (files, declarations, locals, variables).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gridflow.errors import (
    Diagnostic,
    ExpressionError,
    SourcePos,
    suggest,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import Scope, evaluate, walk_bound
from gridflow.expr.functions import FUNCTIONS
from gridflow.plan.models import (
    Variable,
)
from gridflow.runners import registry
from gridflow.translators.hcl.blocks import Attr, Block
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.helpers import _kind, _map

TOP_BLOCKS = ("variable", "locals", "resource", "step")
VARIABLE_ATTRS = ("type", "default", "sensitive", "description", "nullable")
STEP_ATTRS = (
    "count",
    "for_each",
    "depends_on",
    "timeout",
    "delay_before",
    "delay_after",
    "if",
    "abort_if_false",
    "continue_on_error",
    "sensitive",
    "mode",
    "rate",
    "duration",
    "shards",
    "abort_on_fail",
)
STEP_BLOCKS = ("arguments", "uses", "retry", "concurrency", "thresholds")
NOT_IMPLEMENTED_ATTRS = (
    "processes",
    "throttle",
    "on_fail",
)
NOT_IMPLEMENTED_BLOCKS = ("faults",)
RESERVED_ROOTS = {"var", "local", "each", "count", "step", "resource", "self", "path"}
_DEPENDS = re.compile(
    r"^(?:step\.)?(?P<runner>[A-Za-z_][\w-]*)\.(?P<name>[A-Za-z_][\w-]*)"
    r"(?:\[(?P<index>\d+|\"[^\"]*\")\])?$"
)


_INCOMPLETE = {
    "var": ("var.<name>", "var.base_url"),
    "local": ("local.<name>", "local.pages"),
    "step": ("step.<runner>.<name>", "step.print.start.output"),
    "resource": ("resource.<type>.<name>", "resource.http_client.api"),
}


def _root_name(n: ast.Node) -> str | None:
    """The variable a chain of attribute/index accesses starts from."""
    while isinstance(n, ast.GetAttr | ast.Index):
        n = n.obj
    return n.name if isinstance(n, ast.Var) else None


@dataclasses.dataclass
class _StepDecl:
    block: Block
    runner: str
    name: str
    id: str
    conv: Converter
    file_index: int


class NameRules:
    """State and checks every rule module shares: diagnostics, names, expressions."""

    environ: Mapping[str, str]
    diags: list[Diagnostic]
    step_ids: dict[str, _StepDecl]
    resource_ids: dict[str, Block]
    variables: dict[str, Variable]
    local_names: set[str]
    runners_in_use: set[str]
    static_roots: dict[str, Any]

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.diags = []

    def error(self, pos: SourcePos, code: str, message: str, hint: str = "") -> None:
        self.diags.append(Diagnostic.at(pos, code, message, hint))

    def expr_error(
        self, exc: ExpressionError, fallback: SourcePos, code: str = "expression"
    ) -> None:
        self.diags.append(exc.to_diagnostic(fallback, code))

    # ------------------------------------------------------------- expressions
    def convert(self, attr: Attr, conv: Converter) -> ast.Node | None:
        try:
            node = conv.expr(attr.value)
        except ExpressionError as exc:
            self.expr_error(exc, attr.pos)
            return None
        return self.rewrite(node, conv.file)

    def static_attr(self, attr: Attr, conv: Converter) -> tuple[bool, Any]:
        """``attr`` converted and evaluated as :meth:`static_value` does: (ok, value)."""
        node = self.convert(attr, conv)
        if node is None:
            return False, None
        return self.static_value(node, conv.file, attr.pos)

    def rewrite(self, node: ast.Node, file: str) -> ast.Node:
        """Turn step/resource references into their nodes, reporting unknown names."""
        return _map(node, lambda n, bound: self._rewrite_one(n, file, bound))

    def _rewrite_one(self, n: ast.Node, file: str, bound: frozenset[str]) -> ast.Node | None:
        pos = SourcePos(file, n.line, n.col)
        if isinstance(n, ast.Call) and n.name == "count" and "count" not in FUNCTIONS:
            # burstgridgo's grids write length() as count(); they must load unchanged.
            args = tuple(_map(a, lambda m, b: self._rewrite_one(m, file, b), bound) for a in n.args)
            return dataclasses.replace(n, name="length", args=args)
        if (
            isinstance(n, ast.Index)
            and isinstance(n.key, ast.Var)
            and n.key.name == "each"
            and "each" not in bound
        ):
            target = self._step_target(n.obj, file, bound)
            if target is not None:
                return ast.EachRef(target, n.line, n.col)
            return None
        root = _root_name(n)
        if root is None or root in bound:
            return None
        if (
            isinstance(n, ast.GetAttr)
            and isinstance(n.obj, ast.GetAttr)
            and isinstance(n.obj.obj, ast.Var)
        ):
            if root == "step":
                sid = f"{n.obj.name}.{n.name}"
                if sid not in self.step_ids:
                    self._unknown_step(sid, pos)
                return ast.StepRef(sid, n.line, n.col)
            if root == "resource":
                rid = f"{n.obj.name}.{n.name}"
                if rid not in self.resource_ids:
                    hint = suggest(rid, self.resource_ids) or "declare it with a resource block"
                    self.error(pos, "unknown-resource", f'unknown resource "{rid}"', hint)
                return ast.ResourceRef(rid, n.line, n.col)
        if isinstance(n, ast.GetAttr) and isinstance(n.obj, ast.Var):
            if root in ("var", "local"):
                return n  # a complete variable/local reference: nothing inside to rewrite
            if root not in RESERVED_ROOTS:
                sid = f"{root}.{n.name}"
                if sid in self.step_ids:
                    return ast.StepRef(sid, n.line, n.col)
                if root in self.runners_in_use:
                    # The short form of a step that does not exist: say which step.
                    self._unknown_step(sid, pos)
                    return ast.StepRef(sid, n.line, n.col)
        if isinstance(n, ast.Var) and n.name in _INCOMPLETE:
            # Reached only when no complete reference above swallowed it.
            form, example = _INCOMPLETE[n.name]
            self.error(
                pos,
                "incomplete-reference",
                f"incomplete reference: write {form}",
                f"e.g. {example}",
            )
        return None

    def _step_target(self, obj: ast.Node, file: str, bound: frozenset[str]) -> str | None:
        if not isinstance(obj, ast.GetAttr) or _root_name(obj) in bound:
            return None
        if (
            isinstance(obj.obj, ast.GetAttr)
            and isinstance(obj.obj.obj, ast.Var)
            and obj.obj.obj.name == "step"
        ) or (isinstance(obj.obj, ast.Var) and obj.obj.name not in RESERVED_ROOTS):
            sid = f"{obj.obj.name}.{obj.name}"
        else:
            return None
        if sid in self.step_ids:
            return sid
        self._unknown_step(sid, SourcePos(file, obj.line, obj.col))
        return sid

    def _unknown_step(self, sid: str, pos: SourcePos) -> None:
        hint = suggest(sid, self.step_ids) or "declare it with a step block"
        self.error(pos, "unknown-step", f'unknown step "{sid}"', hint)

    def check_names(self, node: ast.Node, file: str, *, allow: set[str], context: str) -> None:
        """Unknown variables, locals, functions and bare names in ``node``."""
        for n, bound in walk_bound(node):
            pos = SourcePos(file, n.line, n.col)
            if (
                isinstance(n, ast.GetAttr)
                and isinstance(n.obj, ast.Var)
                and n.obj.name not in bound
            ):
                root = n.obj.name
                if root == "var" and n.name not in self.variables:
                    hint = (
                        suggest(n.name, self.variables)
                        or 'declare it: variable "' + n.name + '" { }'
                    )
                    self.error(pos, "unknown-variable", f'unknown variable "var.{n.name}"', hint)
                elif root == "local" and n.name not in self.local_names:
                    hint = suggest(n.name, self.local_names) or "define it in a locals { } block"
                    self.error(pos, "unknown-local", f'unknown local "local.{n.name}"', hint)
                elif root == "count" and "count" in allow and n.name != "index":
                    self.error(
                        pos,
                        "unknown-attribute",
                        f'"count" has only "index", not "{n.name}"',
                        "use count.index",
                    )
                elif root == "each" and "each" in allow and n.name not in ("key", "value"):
                    self.error(
                        pos,
                        "unknown-attribute",
                        f'"each" has "key" and "value", not "{n.name}"',
                        "use each.key or each.value",
                    )
            elif isinstance(n, ast.Var) and n.name not in bound and n.name != "__splat__":
                self._check_root(n, pos, allow, context)
            elif isinstance(n, ast.Call) and n.name not in FUNCTIONS:
                hint = (
                    suggest(n.name, FUNCTIONS) or "see the function list in docs/grid-language.md"
                )
                self.error(pos, "unknown-function", f'unknown function "{n.name}"', hint)

    def _check_root(self, n: ast.Var, pos: SourcePos, allow: set[str], context: str) -> None:
        name = n.name
        if name in allow or name in ("var", "local"):
            return
        if name == "count":
            self.error(
                pos,
                "count-outside",
                f'"count.index" used {context}, which has no count',
                "add count = N to the step, or remove the reference",
            )
            return
        if name == "each":
            self.error(
                pos,
                "each-outside",
                f'"each" used {context}, which has no for_each',
                "add for_each to the step, or remove the reference",
            )
            return
        if name in ("step", "resource"):
            return  # reported by rewrite when the rest of the reference is wrong
        if name in registry.runner_names():
            self.error(
                pos,
                "unknown-step",
                f'unknown step "{name}.…": no step of runner "{name}" has this name',
                suggest(name, {s.split(".")[0] for s in self.step_ids}) or "declare the step first",
            )
            return
        pool = ["var", "local", *allow, *(s.split(".")[0] for s in self.step_ids)]
        hint = (
            suggest(name, pool)
            or "names start with var., local., step., resource., each. or count."
        )
        self.error(pos, "unknown-name", f'unknown name "{name}"', hint)

    def not_known_yet(self, node: ast.Node, roots: Mapping[str, Any]) -> bool:
        """Whether ``node`` uses a declared variable that has no value in this load
        (or a local computed from one): it cannot be evaluated now, and that is
        not an error until something runs (``GridLoad.missing`` names them)."""
        for n, bound in walk_bound(node):
            if (
                isinstance(n, ast.GetAttr)
                and isinstance(n.obj, ast.Var)
                and n.obj.name in ("var", "local")
                and n.obj.name not in bound
            ):
                declared = self.variables if n.obj.name == "var" else self.local_names
                if n.name in declared and n.name not in roots.get(n.obj.name, {}):
                    return True
        return False

    def static_value(self, node: ast.Node, file: str, pos: SourcePos) -> tuple[bool, Any]:
        """Evaluate ``node`` with variables and locals only: (ok, value).

        Not ok, without a diagnostic, when a variable it needs has no value yet.
        """
        if self.not_known_yet(node, self.static_roots):
            return False, None
        try:
            return True, evaluate(
                node, Scope(roots=self.static_roots, file=file, environ=self.environ)
            )
        except ExpressionError as exc:
            self.expr_error(exc, pos)
            return False, None

    def _static_bool(
        self, blk: Block, name: str, conv: Converter, roots: Mapping[str, Any]
    ) -> bool | None:
        attr = blk.attrs.get(name)
        if attr is None:
            return None
        try:
            node = conv.expr(attr.value)
            if roots and self.not_known_yet(node, roots):
                return None
            value = evaluate(node, Scope(roots=roots, file=conv.file))
        except ExpressionError as exc:
            self.expr_error(exc, attr.pos)
            return None
        if not isinstance(value, bool):
            self.error(
                attr.pos,
                "wrong-type",
                f'"{name}" must be true or false, got {_kind(value)}',
                f"write {name} = true",
            )
            return None
        return value

    def _unknown_members(
        self, blk: Block, attrs: Sequence[str], blocks: Sequence[str], what: str
    ) -> None:
        for attr in blk.duplicates:
            self.error(
                attr.pos, "duplicate-attribute", f'"{attr.name}" is set twice in {what}', "keep one"
            )
        for attr in blk.attrs.values():
            if attr.name in attrs:
                continue
            if attr.name in NOT_IMPLEMENTED_ATTRS or attr.name in blocks:
                continue
            hint = suggest(attr.name, attrs) or "allowed here: " + ", ".join(attrs)
            self.error(
                attr.pos, "unknown-attribute", f'unknown attribute "{attr.name}" in {what}', hint
            )
        for sub in blk.blocks:
            if sub.type in blocks or sub.type in NOT_IMPLEMENTED_BLOCKS:
                continue
            names = [*blocks]
            hint = suggest(sub.type, [*names, *attrs]) or (
                "blocks allowed here: " + ", ".join(names)
                if names
                else "no blocks are allowed here"
            )
            self.error(sub.pos, "unknown-block", f'unknown block "{sub.type}" in {what}', hint)
