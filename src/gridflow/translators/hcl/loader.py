"""HCL grid files -> a :class:`~gridflow.plan.Plan`, or every problem at once.

Order of work: read and parse every file; collect declarations (variables,
locals, resources, steps) with duplicate checks; resolve variable values;
convert expressions and rewrite references into ``StepRef``/``EachRef``/
``ResourceRef``; check names, runners and arguments; evaluate the
meta-arguments that shape the graph; derive edges and ``[each]`` chains;
reject cycles; order steps topologically. Problems are collected as
:class:`~gridflow.errors.Diagnostic` records and raised together.

The rules live in sibling modules by concern (names.py, graph.py, steps.py,
helpers.py); this module reads files and declarations and drives the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gridflow.errors import (
    Diagnostic,
    ExpressionError,
    LoadError,
    SourcePos,
    suggest,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import Scope, evaluate, references, root_members
from gridflow.plan.models import (
    Expr,
    Plan,
    TypeSpec,
    Variable,
)
from gridflow.plan.types import TypeMismatch, coerce, parse_type
from gridflow.runners import registry
from gridflow.translators.hcl.blocks import Attr, Block, read_body
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.helpers import _grid_name, _kind, _loc, _local_refs
from gridflow.translators.hcl.names import TOP_BLOCKS, VARIABLE_ATTRS, _StepDecl
from gridflow.translators.hcl.parse import parse, read_source
from gridflow.translators.hcl.steps import StepRules
from gridflow.translators.hcl.varsources import collect_overrides


@dataclasses.dataclass(frozen=True)
class GridLoad:
    plan: Plan
    values: dict[str, Any]  # every declared variable's value for this load
    missing: list[str]  # declared variables with no default and no value given


def load_grid(
    paths: Sequence[str | Path],
    *,
    var_args: Sequence[str] = (),
    var_files: Sequence[str | Path] = (),
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
) -> GridLoad:
    """Load every ``*.hcl`` file under ``paths`` as one grid."""
    with _gc_paused():
        # No name holds the loader: its parse trees are freed before the collector resumes.
        return _Loader(environ if environ is not None else os.environ).load(
            [Path(p) for p in paths],
            var_args=var_args,
            var_files=var_files,
            profile=profile,
            name=name,
        )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a grid loads.

    A load allocates many small objects that stay alive until it ends (lark
    trees, expression nodes, pydantic models), which triggers repeated full
    collections that find nothing to free: for a 1,000-step grid they cost
    about a third of the load. Reference counting still frees memory as usual;
    cycles are collected once the collector runs again after the load.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def find_files(paths: Sequence[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Grid files under ``paths``; ``profiles/`` folders hold variable values, not steps."""
    files: list[Path] = []
    diags: list[Diagnostic] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*.hcl") if "profiles" not in p.relative_to(path).parts[:-1]
            )
            if not found:
                diags.append(
                    Diagnostic(
                        str(path),
                        1,
                        1,
                        "no-files",
                        "no .hcl files found in this folder",
                        "point gridflow at a grid file or a folder that holds .hcl files",
                    )
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            diags.append(
                Diagnostic(
                    str(path),
                    1,
                    1,
                    "no-such-path",
                    "no such file or folder",
                    "check the path; grids are .hcl files or folders of them",
                )
            )
    unique = list(dict.fromkeys(files))
    return unique, diags


class _Loader(StepRules):
    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        self.validations: list[tuple[str, ast.Node, Attr, str]] = []

    # ------------------------------------------------------------------ load
    def load(
        self,
        paths: list[Path],
        *,
        var_args: Sequence[str],
        var_files: Sequence[str | Path],
        profile: str | None,
        name: str | None,
    ) -> GridLoad:
        files, diags = find_files(paths)
        self.diags.extend(diags)
        tops: list[tuple[Block, Converter, int]] = []
        for index, path in enumerate(files):
            shown = str(path)
            text, problems = read_source(path, shown)
            self.diags.extend(problems)
            if text is None:
                continue
            tree, problems = parse(text, shown)
            self.diags.extend(problems)
            if tree is None:
                continue
            body = tree.children[0]
            tops.append((read_body(body, shown, text), Converter(shown), index))
        if self.diags:
            raise LoadError(self.diags)

        variables = self._declarations_variables(tops)
        local_exprs = self._declarations_locals(tops)
        resource_blocks = self._declarations_resources(tops)
        steps = self._declarations_steps(tops)
        grid_root = (
            paths[0] if paths and paths[0].is_dir() else (paths[0].parent if paths else Path())
        )

        overrides: dict[str, Any] = {}
        if not self.diags:
            overrides = collect_overrides(
                declared=variables,
                var_args=var_args,
                var_files=var_files,
                profile=profile,
                grid_root=grid_root,
                environ=self.environ,
            )
        values = {n: v.default for n, v in variables.items() if v.has_default}
        values.update(overrides)
        missing = [n for n in variables if n not in values]
        if not self.diags:
            # Only with the values this load really uses (overrides collected).
            self._check_validations(values)

        self.step_ids = {s.id: s for s in steps}
        self.runners_in_use = {s.runner for s in steps} | set(registry.runner_names())
        self.resource_ids = {rid: blk for rid, (blk, _) in resource_blocks.items()}
        self.variables = variables
        self.local_names = set(local_exprs)

        locals_plan, local_values = self._locals(local_exprs, values, missing)
        self.static_roots = {"var": dict(values), "local": local_values}
        resources = self._resources(resource_blocks)
        built = [self._step(decl) for decl in steps]
        plan_steps = {s.id: s for s in built if s is not None}
        if not self.diags:
            plan_steps = self._order(plan_steps, steps)
        if not self.diags:
            plan_steps = self._chains(plan_steps)
        if self.diags:
            raise LoadError(self.diags)
        grid_name = name or _grid_name(paths)
        plan = Plan(
            name=grid_name,
            sources=[str(f) for f in files],
            variables=variables,
            locals=locals_plan,
            resources=resources,
            steps=plan_steps,
        )
        return GridLoad(plan, values, missing)

    # ----------------------------------------------------------- declarations
    def _check_block_kinds(self, top: Block) -> None:
        for attr in [*top.attrs.values(), *top.duplicates]:
            self.error(
                attr.pos,
                "top-level-attribute",
                f'"{attr.name}" cannot be set at the top level of a grid',
                "put values in a locals { } block or a variable default",
            )

    def _declared(
        self, tops: list[tuple[Block, Converter, int]], kind: str, usage: str
    ) -> Iterator[tuple[str, Block, Converter, int]]:
        """Blocks of one kind with the right labels, each id once (duplicates reported)."""
        labels = 1 if kind == "variable" else 2
        seen: dict[str, SourcePos] = {}
        for top, conv, index in tops:
            for blk in top.blocks:
                if blk.type != kind:
                    continue
                if len(blk.labels) != labels:
                    count = "one label" if labels == 1 else "two labels"
                    self.error(blk.pos, "block-labels", f"a {kind} block has {count}: {usage}")
                    continue
                key = ".".join(blk.labels)
                if key in seen:
                    self.error(
                        blk.pos,
                        f"duplicate-{kind}",
                        f'{kind} "{key}" is declared twice (first at {seen[key]})',
                        "rename or remove one of them",
                    )
                    continue
                seen[key] = blk.pos
                yield key, blk, conv, index

    def _declarations_variables(
        self, tops: list[tuple[Block, Converter, int]]
    ) -> dict[str, Variable]:
        variables: dict[str, Variable] = {}
        for top, _, _ in tops:
            self._check_block_kinds(top)
            for blk in top.blocks:
                if blk.type not in TOP_BLOCKS:
                    hint = suggest(blk.type, TOP_BLOCKS) or "blocks: " + ", ".join(TOP_BLOCKS)
                    self.error(blk.pos, "unknown-block", f'unknown block type "{blk.type}"', hint)
        for vname, blk, conv, _ in self._declared(tops, "variable", 'variable "name" { }'):
            var = self._variable(blk, vname, conv)
            if var is not None:
                variables[vname] = var
        return variables

    def _variable(self, blk: Block, vname: str, conv: Converter) -> Variable | None:
        self._unknown_members(blk, VARIABLE_ATTRS, ("validation",), f'variable "{vname}"')
        spec = TypeSpec(kind="any")
        if "type" in blk.attrs:
            try:
                spec = parse_type(conv.expr(blk.attrs["type"].value), conv.file)
            except ExpressionError as exc:
                self.expr_error(exc, blk.attrs["type"].pos, "unknown-type")
                return None
        default: Any = None
        has_default = "default" in blk.attrs
        if has_default:
            attr = blk.attrs["default"]
            try:
                raw = evaluate(conv.expr(attr.value), Scope(file=conv.file))
                default = coerce(raw, spec)
            except ExpressionError as exc:
                self.expr_error(exc, attr.pos)
                return None
            except TypeMismatch as exc:
                self.error(
                    attr.pos,
                    "type-mismatch",
                    f'the default of variable "{vname}" does not match its type {spec}: {exc}',
                    "change the default or the type",
                )
                return None
        self._validations(blk, vname, conv)
        nullable = self._static_bool(blk, "nullable", conv, {})
        if nullable is False and has_default and default is None:
            self.error(
                blk.attrs["default"].pos,
                "null-default",
                f'variable "{vname}" sets nullable = false, so its default cannot be null',
                "give it a non-null default, or remove the default to make the variable required",
            )
        sensitive = self._static_bool(blk, "sensitive", conv, {}) or False
        description = ""
        if "description" in blk.attrs:
            try:
                description = str(
                    evaluate(conv.expr(blk.attrs["description"].value), Scope(file=conv.file))
                )
            except ExpressionError as exc:
                self.expr_error(exc, blk.attrs["description"].pos)
        return Variable(
            name=vname,
            type=spec,
            default=default,
            has_default=has_default,
            sensitive=sensitive,
            description=description,
            loc=_loc(blk.pos),
        )

    def _validations(self, blk: Block, vname: str, conv: Converter) -> None:
        """Read ``validation { condition, error_message }``; checked once values are known."""
        for sub in (b for b in blk.blocks if b.type == "validation"):
            what = f'the validation block of variable "{vname}"'
            self._unknown_members(sub, ("condition", "error_message"), (), what)
            missing = [a for a in ("condition", "error_message") if a not in sub.attrs]
            if missing:
                self.error(
                    sub.pos,
                    "missing-argument",
                    f"{what} needs {' and '.join(missing)}",
                    f"add condition = <a check of var.{vname}> and "
                    'error_message = "<why the value is wrong>"',
                )
                continue
            cond_attr, msg_attr = sub.attrs["condition"], sub.attrs["error_message"]
            try:
                cond = conv.expr(cond_attr.value)
                message = evaluate(conv.expr(msg_attr.value), Scope(file=conv.file))
            except ExpressionError as exc:
                self.expr_error(exc, cond_attr.pos)
                continue
            if not isinstance(message, str) or not message:
                self.error(
                    msg_attr.pos,
                    "wrong-type",
                    f"error_message of {what} must be a non-empty string",
                    'write error_message = "port must be between 1 and 65535"',
                )
                continue
            for n in root_members(cond, "var"):
                if n.name != vname:
                    self.error(
                        SourcePos(conv.file, n.line, n.col),
                        "validation-reference",
                        f'the condition of {what} refers to "var.{n.name}"',
                        f"a validation checks only its own variable: use var.{vname}",
                    )
                    break
            else:
                self.validations.append((vname, cond, cond_attr, message))

    def _check_validations(self, values: Mapping[str, Any]) -> None:
        for vname, cond, attr, message in self.validations:
            if vname not in values:
                continue  # no value yet: checked when one is given
            try:
                ok = evaluate(
                    cond,
                    Scope(roots={"var": {vname: values[vname]}}, file=attr.pos.file),
                )
            except ExpressionError as exc:
                self.expr_error(exc, attr.pos)
                continue
            if not isinstance(ok, bool):
                self.error(
                    attr.pos,
                    "wrong-type",
                    f'the validation condition of variable "{vname}" must be true or false, '
                    f"got {_kind(ok)}",
                    "write a comparison, e.g. condition = var.port > 0",
                )
            elif not ok:
                self.error(
                    attr.pos,
                    "variable-validation",
                    f'invalid value for variable "{vname}": {message}',
                    f"give var.{vname} a value for which {attr.text} is true",
                )

    def _declarations_locals(
        self, tops: list[tuple[Block, Converter, int]]
    ) -> dict[str, tuple[Attr, Converter]]:
        out: dict[str, tuple[Attr, Converter]] = {}
        for top, conv, _ in tops:
            for blk in top.blocks:
                if blk.type != "locals":
                    continue
                if blk.blocks:
                    self.error(
                        blk.blocks[0].pos,
                        "unknown-block",
                        "locals hold name = value lines, not blocks",
                    )
                for attr in [*blk.attrs.values(), *blk.duplicates]:
                    if attr.name in out:
                        first = out[attr.name][0].pos
                        self.error(
                            attr.pos,
                            "duplicate-local",
                            f'local "{attr.name}" is defined twice (first at {first})',
                            "rename or remove one of them",
                        )
                        continue
                    out[attr.name] = (attr, conv)
        return out

    def _declarations_resources(
        self, tops: list[tuple[Block, Converter, int]]
    ) -> dict[str, tuple[Block, Converter]]:
        usage = 'resource "<type>" "<name>" { }'
        return {rid: (blk, conv) for rid, blk, conv, _ in self._declared(tops, "resource", usage)}

    def _declarations_steps(self, tops: list[tuple[Block, Converter, int]]) -> list[_StepDecl]:
        usage = 'step "<runner>" "<name>" { }'
        return [
            _StepDecl(blk, blk.labels[0], blk.labels[1], sid, conv, index)
            for sid, blk, conv, index in self._declared(tops, "step", usage)
        ]

    # ------------------------------------------------------------------ locals
    def _locals(
        self, exprs: dict[str, tuple[Attr, Converter]], values: dict[str, Any], missing: list[str]
    ) -> tuple[dict[str, Expr], dict[str, Any]]:
        nodes: dict[str, ast.Node] = {}
        plan_locals: dict[str, Expr] = {}
        for lname, (attr, conv) in exprs.items():
            node = self.convert(attr, conv)
            if node is None:
                continue
            refs = references(node)
            if refs["steps"] or refs["each"]:
                self.error(
                    attr.pos,
                    "local-step-ref",
                    f'local "{lname}" refers to a step',
                    "locals are computed before any step runs; "
                    "put this expression in the step's arguments",
                )
                continue
            self.check_names(node, conv.file, allow=set(), context="in a local")
            nodes[lname] = node
            plan_locals[lname] = Expr.from_node(node, attr.text, _loc(attr.pos))
        before = len(self.diags)
        order = self._locals_order(nodes, exprs)
        computed: dict[str, Any] = {}
        if len(self.diags) > before:
            return plan_locals, computed
        for lname in order:
            attr, conv = exprs[lname]
            if self.not_known_yet(nodes[lname], {"var": values, "local": computed}):
                continue  # needs a variable given only at run time
            try:
                computed[lname] = evaluate(
                    nodes[lname],
                    Scope(
                        roots={"var": values, "local": computed},
                        file=conv.file,
                        environ=self.environ,
                    ),
                )
            except ExpressionError as exc:
                self.expr_error(exc, attr.pos)
        return plan_locals, computed

    def _locals_order(
        self, nodes: dict[str, ast.Node], exprs: dict[str, tuple[Attr, Converter]]
    ) -> list[str]:
        deps = {n: {a.name for a, _ in _local_refs(node)} & set(nodes) for n, node in nodes.items()}
        order: list[str] = []
        state: dict[str, int] = {}
        for n in nodes:
            self._visit_local(n, [], deps, state, order, exprs)
        return order

    def _visit_local(
        self,
        n: str,
        path: list[str],
        deps: dict[str, set[str]],
        state: dict[str, int],
        order: list[str],
        exprs: dict[str, tuple[Attr, Converter]],
    ) -> None:
        """Depth-first step of :meth:`_locals_order` (a method, not a closure that
        refers to itself: such a cycle keeps the loader alive until the collector runs)."""
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = [*path[path.index(n) :], n]
            self.error(
                exprs[n][0].pos,
                "cycle",
                "locals refer to each other in a cycle: "
                + " -> ".join(f"local.{c}" for c in cycle),
                "break the cycle",
            )
            return
        state[n] = 1
        for d in sorted(deps[n]):
            self._visit_local(d, [*path, n], deps, state, order, exprs)
        state[n] = 2
        order.append(n)


__all__ = ["GridLoad", "find_files", "load_grid"]
