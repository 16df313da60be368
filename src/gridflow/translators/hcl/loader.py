"""HCL grid files -> a :class:`~gridflow.plan.Plan`, or every problem at once.

Order of work: read and parse every file; collect declarations (variables,
locals, resources, steps) with duplicate checks; resolve variable values;
convert expressions and rewrite references into ``StepRef``/``EachRef``/
``ResourceRef``; check names, runners and arguments; evaluate the
meta-arguments that shape the graph; derive edges and ``[each]`` chains;
reject cycles; order steps topologically. Problems are collected as
:class:`~gridflow.errors.Diagnostic` records and raised together.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from gridflow.errors import (
    Diagnostic,
    ExpressionError,
    LoadError,
    SourcePos,
    suggest,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import Scope, evaluate, references, walk_bound
from gridflow.expr.functions import FUNCTIONS
from gridflow.plan.durations import parse_duration
from gridflow.plan.models import (
    Edge,
    Expr,
    FanOut,
    Location,
    Plan,
    RefPattern,
    Resource,
    Retry,
    Step,
    TypeSpec,
    Variable,
)
from gridflow.plan.types import TypeMismatch, coerce, parse_type
from gridflow.runners import registry
from gridflow.translators.hcl.blocks import Attr, Block, read_body
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.parse import parse, read_source
from gridflow.translators.hcl.varsources import collect_overrides


@dataclasses.dataclass(frozen=True)
class GridLoad:
    plan: Plan
    values: dict[str, Any]  # every declared variable's value for this load
    missing: list[str]  # declared variables with no default and no value given


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
)
STEP_BLOCKS = ("arguments", "uses", "retry", "concurrency")
NOT_IMPLEMENTED_ATTRS = (
    "mode",
    "rate",
    "duration",
    "shards",
    "processes",
    "abort_on_fail",
    "throttle",
    "on_fail",
)
NOT_IMPLEMENTED_BLOCKS = ("thresholds", "faults")
RESERVED_ROOTS = {"var", "local", "each", "count", "step", "resource", "self", "path"}
_DEPENDS = re.compile(
    r"^(?:step\.)?(?P<runner>[A-Za-z_][\w-]*)\.(?P<name>[A-Za-z_][\w-]*)"
    r"(?:\[(?P<index>\d+|\"[^\"]*\")\])?$"
)


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
    loader = _Loader(environ if environ is not None else os.environ)
    return loader.load(
        [Path(p) for p in paths],
        var_args=var_args,
        var_files=var_files,
        profile=profile,
        name=name,
    )


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


@dataclasses.dataclass
class _StepDecl:
    block: Block
    runner: str
    name: str
    id: str
    conv: Converter
    file_index: int


class _Loader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.diags: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    def error(self, pos: SourcePos, code: str, message: str, hint: str = "") -> None:
        self.diags.append(Diagnostic.at(pos, code, message, hint))

    def expr_error(
        self, exc: ExpressionError, fallback: SourcePos, code: str = "expression"
    ) -> None:
        self.diags.append(exc.to_diagnostic(fallback, code))

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
            plan_steps = self._chains(plan_steps)
        if not self.diags:
            plan_steps = self._order(plan_steps, steps)
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

    # ------------------------------------------------------------- expressions
    def convert(self, attr: Attr, conv: Converter) -> ast.Node | None:
        try:
            node = conv.expr(attr.value)
        except ExpressionError as exc:
            self.expr_error(exc, attr.pos)
            return None
        return self.rewrite(node, conv.file)

    def rewrite(self, node: ast.Node, file: str) -> ast.Node:
        """Turn step/resource references into their nodes, reporting unknown names."""
        return _map(node, lambda n: self._rewrite_one(n, file))

    def _rewrite_one(self, n: ast.Node, file: str) -> ast.Node | None:
        pos = SourcePos(file, n.line, n.col)
        if isinstance(n, ast.Index) and isinstance(n.key, ast.Var) and n.key.name == "each":
            target = self._step_target(n.obj, file)
            if target is not None:
                return ast.EachRef(target, n.line, n.col)
            return None
        if (
            isinstance(n, ast.GetAttr)
            and isinstance(n.obj, ast.GetAttr)
            and isinstance(n.obj.obj, ast.Var)
        ):
            root = n.obj.obj.name
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
        if (
            isinstance(n, ast.GetAttr)
            and isinstance(n.obj, ast.Var)
            and n.obj.name not in RESERVED_ROOTS
        ):
            sid = f"{n.obj.name}.{n.name}"
            if sid in self.step_ids:
                return ast.StepRef(sid, n.line, n.col)
            if n.obj.name in self.runners_in_use:
                # The short form of a step that does not exist: say which step.
                self._unknown_step(sid, pos)
                return ast.StepRef(sid, n.line, n.col)
        return None

    def _step_target(self, obj: ast.Node, file: str) -> str | None:
        if isinstance(obj, ast.GetAttr):
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
        return None

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

    def static_value(self, node: ast.Node, file: str, pos: SourcePos) -> tuple[bool, Any]:
        """Evaluate ``node`` with variables and locals only: (ok, value)."""
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
            value = evaluate(conv.expr(attr.value), Scope(roots=roots, file=conv.file))
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
        if missing or len(self.diags) > before:
            return plan_locals, computed  # values come at run time; nothing to check now
        for lname in order:
            attr, conv = exprs[lname]
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

        def visit(n: str, path: list[str]) -> None:
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
                visit(d, [*path, n])
            state[n] = 2
            order.append(n)

        for n in nodes:
            visit(n, [])
        return order

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
            for aname, attr in ab.attrs.items():
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
            first = exc.errors()[0]
            msg = first.get("msg", "invalid value")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            self.error(
                pos, "argument-type", f'argument "{aname}" of {what}: {msg}', "fix the value"
            )
        except Exception:
            return

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
        if not dynamic and not self._any_missing():
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

    def _any_missing(self) -> bool:
        return any(n not in self.static_roots["var"] for n in self.variables)

    def _uses(self, blk: Block, cls: Any, what: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for sub in (b for b in blk.blocks if b.type == "uses"):
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
            node = self.convert(attr, conv)
            if node is None:
                continue
            ok, value = self.static_value(node, conv.file, attr.pos)
            if not ok:
                continue
            if name == "attempts":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or value < 1
                    or int(value) != value
                ):
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
        node = self.convert(attr, conv)
        if node is None:
            return None
        ok, value = self.static_value(node, conv.file, attr.pos)
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
        node = self.convert(attr, conv)
        if node is None:
            return None
        ok, value = self.static_value(node, conv.file, attr.pos)
        if not ok:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < 1
            or int(value) != value
        ):
            self.error(
                attr.pos,
                "bad-concurrency",
                f"concurrency limit must be a whole number of at least 1, got {_kind(value)}",
                "write limit = 5",
            )
            return None
        return int(value)

    # ------------------------------------------------------------------ edges
    def _edges(
        self, decl: _StepDecl, args: dict[str, Expr], fan_out: FanOut | None, if_expr: Expr | None
    ) -> list[Edge]:
        edges: dict[tuple[str, str, str], Edge] = {}
        exprs = [
            *args.values(),
            *([fan_out.expr] if fan_out else []),
            *([if_expr] if if_expr else []),
        ]
        for expr in exprs:
            for upstream, pattern, index, n in _reference_patterns(expr.node):
                pos = SourcePos(expr.loc.file, n.line, n.col)
                if upstream == decl.id:
                    self.error(
                        pos,
                        "self-reference",
                        f'step "{decl.id}" refers to itself',
                        "a step can use only the outputs of other steps",
                    )
                    continue
                if upstream not in self.step_ids:
                    continue
                index_expr = Expr.from_node(index, "", _loc(pos)) if index is not None else None
                key = (upstream, pattern.value, repr(index) if index is not None else "")
                edges.setdefault(
                    key, Edge(upstream=upstream, pattern=pattern, index=index_expr, loc=_loc(pos))
                )
        attr = decl.block.attrs.get("depends_on")
        if attr is not None:
            for upstream, dep_index, pos in self._depends_on(attr, decl):
                pattern = RefPattern.INSTANCE if dep_index is not None else RefPattern.ALL
                index_expr = (
                    Expr.from_node(ast.Lit(dep_index, pos.line, pos.col), "", _loc(pos))
                    if dep_index is not None
                    else None
                )
                key = (upstream, pattern.value, repr(dep_index) if dep_index is not None else "")
                edges.setdefault(
                    key,
                    Edge(
                        upstream=upstream,
                        pattern=pattern,
                        index=index_expr,
                        explicit=True,
                        loc=_loc(pos),
                    ),
                )
        return list(edges.values())

    def _depends_on(
        self, attr: Attr, decl: _StepDecl
    ) -> list[tuple[str, int | str | None, SourcePos]]:
        try:
            node = decl.conv.expr(attr.value)
        except ExpressionError as exc:
            self.expr_error(exc, attr.pos)
            return []
        if not isinstance(node, ast.TupleExpr):
            self.error(
                attr.pos,
                "bad-depends-on",
                "depends_on must be a list of steps",
                'write depends_on = ["print.start"]',
            )
            return []
        out: list[tuple[str, int | str | None, SourcePos]] = []
        for item in node.items:
            pos = SourcePos(attr.pos.file, item.line or attr.pos.line, item.col or attr.pos.col)
            text: str | None = None
            if isinstance(item, ast.Lit) and isinstance(item.value, str):
                text = item.value
            else:
                rewritten = self.rewrite(item, attr.pos.file)
                if isinstance(rewritten, ast.StepRef):
                    text = rewritten.step
            m = _DEPENDS.match(text or "")
            if m is None:
                self.error(
                    pos,
                    "bad-depends-on",
                    f"depends_on entry {_kind(text if text is not None else item)} "
                    "is not a step reference",
                    'write the step as "<runner>.<name>", '
                    'e.g. "print.start" or "http_request.get[0]"',
                )
                continue
            sid = f"{m.group('runner')}.{m.group('name')}"
            if sid not in self.step_ids:
                self._unknown_step(sid, pos)
                continue
            if sid == decl.id:
                self.error(
                    pos,
                    "self-reference",
                    f'step "{decl.id}" depends on itself',
                    "remove it from depends_on",
                )
                continue
            raw = m.group("index")
            index: int | str | None = None
            if raw is not None:
                index = int(raw) if raw.isdigit() else raw.strip('"')
            out.append((sid, index, pos))
        return out

    # ------------------------------------------------------------------ chains
    def _chains(self, steps: dict[str, Step]) -> dict[str, Step]:
        """Resolve ``[each]`` clones: which step each clone follows."""
        each_targets = {
            sid: [e.upstream for e in s.edges if e.pattern is RefPattern.EACH]
            for sid, s in steps.items()
        }
        resolved: dict[str, str | None] = {}
        visiting: set[str] = set()

        def chain_of(sid: str) -> str | None:
            if sid in resolved:
                return resolved[sid]
            if sid in visiting:
                return None
            visiting.add(sid)
            step = steps[sid]
            targets = each_targets[sid]
            result: str | None = None
            if targets:
                if step.fan_out is not None:
                    self.error(
                        _pos(step.loc),
                        "each-and-fan-out",
                        f'step "{sid}" uses [each] and also sets {step.fan_out.kind}',
                        "an [each] step is cloned per instance already; remove the count/for_each",
                    )
                lineage: dict[str, list[str]] = {}
                for t in targets:
                    if t not in steps:
                        continue
                    t_parent = chain_of(t)
                    if steps[t].fan_out is None and t_parent is None:
                        edge = next(
                            e
                            for e in step.edges
                            if e.upstream == t and e.pattern is RefPattern.EACH
                        )
                        self.error(
                            _pos(edge.loc),
                            "each-not-fanned",
                            f'"{t}[each]": step "{t}" is not fanned out',
                            "[each] follows the instances of a step with count or for_each; "
                            f"use {t}.output instead",
                        )
                        continue
                    lineage[t] = _ancestry(t, resolved)
                if lineage:
                    deepest = max(lineage, key=lambda k: len(lineage[k]))
                    for t in lineage:
                        if t not in lineage[deepest]:
                            edge = next(
                                e
                                for e in step.edges
                                if e.upstream == t and e.pattern is RefPattern.EACH
                            )
                            self.error(
                                _pos(edge.loc),
                                "each-mixed",
                                f'step "{sid}" follows [each] of "{deepest}" and of "{t}", '
                                "which fan out separately",
                                "an [each] step can follow only one chain of fanned-out steps",
                            )
                    result = deepest
            resolved[sid] = result
            visiting.discard(sid)
            return result

        for sid in steps:
            chain_of(sid)
        out: dict[str, Step] = {}
        for sid, step in steps.items():
            parent = resolved.get(sid)
            if parent is not None:
                step = step.model_copy(update={"each_of": parent})
                root = parent
                while resolved.get(root) is not None:
                    root = resolved[root]  # type: ignore[assignment]
                self._check_clone_names(step, steps[root])
            elif step.fan_out is None:
                self._check_unfanned_names(step)
            out[sid] = step
        return out

    def _clone_exprs(self, step: Step) -> list[Expr]:
        return [*step.arguments.values(), *([step.if_] if step.if_ else [])]

    def _check_clone_names(self, step: Step, root: Step) -> None:
        kind = root.fan_out.kind if root.fan_out else None
        for expr in self._clone_exprs(step):
            for n, bound in walk_bound(expr.node):
                if isinstance(n, ast.Var) and n.name not in bound:
                    if n.name == "count" and kind != "count":
                        self.error(
                            SourcePos(expr.loc.file, n.line, n.col),
                            "count-outside",
                            f'"count.index" used in step "{step.id}", '
                            f'whose chain root "{root.id}" has no count',
                            "use each.key / each.value",
                        )
                    if n.name == "each" and kind != "for_each":
                        self.error(
                            SourcePos(expr.loc.file, n.line, n.col),
                            "each-outside",
                            f'"each" used in step "{step.id}", '
                            f'whose chain root "{root.id}" has no for_each',
                            "use count.index",
                        )

    def _check_unfanned_names(self, step: Step) -> None:
        for expr in self._clone_exprs(step):
            for n, bound in walk_bound(expr.node):
                if isinstance(n, ast.Var) and n.name not in bound and n.name in ("count", "each"):
                    what = '"count.index"' if n.name == "count" else '"each"'
                    needs = "count = N" if n.name == "count" else "for_each"
                    self.error(
                        SourcePos(expr.loc.file, n.line, n.col),
                        f"{n.name}-outside",
                        f'{what} used in step "{step.id}", '
                        f"which has no {'count' if n.name == 'count' else 'for_each'}",
                        f"add {needs} to the step, or remove the reference",
                    )

    # ------------------------------------------------------------------ order
    def _order(self, steps: dict[str, Step], decls: list[_StepDecl]) -> dict[str, Step]:
        """Topological order, stable by source position; cycles reported whole."""
        rank = {d.id: (d.file_index, d.block.pos.line, d.block.pos.col) for d in decls}
        deps = {sid: set(s.upstream_ids) & set(steps) for sid, s in steps.items()}
        for sid, s in steps.items():
            if s.each_of:
                deps[sid].add(s.each_of)
        down: dict[str, set[str]] = {sid: set() for sid in steps}
        for sid, ups in deps.items():
            for u in ups:
                down[u].add(sid)
        indeg = {sid: len(ups) for sid, ups in deps.items()}
        heap = [(rank[sid], sid) for sid, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, sid = heapq.heappop(heap)
            order.append(sid)
            for d in down[sid]:
                indeg[d] -= 1
                if indeg[d] == 0:
                    heapq.heappush(heap, (rank[d], d))
        if len(order) < len(steps):
            left = {sid for sid in steps if sid not in order}
            self._report_cycle(left, deps, steps, rank)
            return steps
        return {sid: steps[sid] for sid in order}

    def _report_cycle(
        self,
        left: set[str],
        deps: dict[str, set[str]],
        steps: dict[str, Step],
        rank: dict[str, tuple[int, int, int]],
    ) -> None:
        start = min(left, key=lambda s: rank[s])
        path = [start]
        seen = {start: 0}
        current = start
        while True:
            nxt = min((d for d in deps[current] if d in left), key=lambda s: rank[s])
            if nxt in seen:
                cycle = [*path[seen[nxt] :], nxt]
                break
            seen[nxt] = len(path)
            path.append(nxt)
            current = nxt
        first = min(cycle[:-1], key=lambda s: rank[s])
        i = cycle.index(first)
        ring = cycle[i:-1] + cycle[:i] + [first]
        ring.reverse()  # read as "a waits for b" -> "b waits for a": show the flow direction
        self.error(
            _pos(steps[first].loc),
            "cycle",
            "steps depend on each other in a cycle: step " + " -> ".join(ring),
            "remove one of the references or depends_on entries in the cycle",
        )


# --------------------------------------------------------------------- helpers
def fan_out_problem(kind: str, value: Any) -> tuple[str, str] | None:
    """What is wrong with a fan-out value, or None."""
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            return (
                f"count must be a whole number, got {_kind(value)}",
                "write count = 3, or count = length(var.items)",
            )
        if value < 0:
            return f"count cannot be negative, got {int(value)}", "use 0 to run no instances"
        return None
    if isinstance(value, dict):
        return None
    if isinstance(value, list):
        bad = next((v for v in value if not isinstance(v, str)), None)
        if bad is not None:
            return (
                f"for_each over a list needs strings, found {_kind(bad)}",
                "use toset([...]) of strings, or a map",
            )
        if len(set(value)) != len(value):
            return "for_each has duplicate keys", "use toset(...) to remove duplicates"
        return None
    return (
        "fan-out over a non-collection: for_each needs a map or a set of strings, "
        f"got {_kind(value)}",
        "for a number of instances use count",
    )


def _kind(value: Any) -> str:
    from gridflow.plan.types import describe

    return describe(value)


def _loc(pos: SourcePos) -> Location:
    return Location(file=pos.file, line=pos.line, col=pos.col)


def _pos(loc: Location) -> SourcePos:
    return SourcePos(loc.file, loc.line, loc.col)


def _grid_name(paths: Sequence[Path]) -> str:
    if not paths:
        return "grid"
    first = paths[0].resolve()
    return first.name if first.is_dir() else first.stem


def _ancestry(sid: str, resolved: Mapping[str, str | None]) -> list[str]:
    out = [sid]
    while resolved.get(out[-1]) is not None:
        parent = resolved[out[-1]]
        assert parent is not None
        if parent in out:
            break
        out.append(parent)
    return out


def _literal(node: ast.Node) -> tuple[bool, Any]:
    """A value written as a plain literal (no names, no calls), if it is one."""
    if isinstance(node, ast.Lit):
        return True, node.value
    if isinstance(node, ast.TupleExpr):
        items = [_literal(i) for i in node.items]
        return all(ok for ok, _ in items), [v for _, v in items]
    if isinstance(node, ast.ObjectExpr):
        out: dict[str, Any] = {}
        for k, v in node.items:
            ok_k, key = _literal(k)
            ok_v, val = _literal(v)
            if not (ok_k and ok_v and isinstance(key, str)):
                return False, None
            out[key] = val
        return True, out
    return False, None


def _reference_patterns(node: ast.Node) -> list[tuple[str, RefPattern, ast.Node | None, ast.Node]]:
    """Every step reference in ``node`` with the pattern it waits by."""
    out: list[tuple[str, RefPattern, ast.Node | None, ast.Node]] = []

    def visit(n: ast.Node) -> None:
        if isinstance(n, ast.EachRef):
            out.append((n.step, RefPattern.EACH, None, n))
            return
        if isinstance(n, ast.Index) and isinstance(n.obj, ast.StepRef):
            key = n.key
            if isinstance(key, ast.Lit) or not references(key)["steps"]:
                out.append((n.obj.step, RefPattern.INSTANCE, key, n))
                visit(key)
                return
        if (
            isinstance(n, ast.GetAttr)
            and isinstance(n.obj, ast.StepRef)
            and n.name == "first_output"
        ):
            out.append((n.obj.step, RefPattern.FIRST, None, n))
            return
        if isinstance(n, ast.StepRef):
            out.append((n.step, RefPattern.ALL, None, n))
            return
        for child in ast.children(n):
            visit(child)

    visit(node)
    return out


def _local_refs(node: ast.Node) -> list[tuple[Any, None]]:
    out: list[tuple[Any, None]] = []
    for n, bound in walk_bound(node):
        if (
            isinstance(n, ast.GetAttr)
            and isinstance(n.obj, ast.Var)
            and n.obj.name == "local"
            and "local" not in bound
        ):
            out.append((n, None))
    return out


def _map(node: ast.Node, fn: Any) -> ast.Node:
    """Rebuild ``node`` top-down: ``fn(n)`` returns a replacement or None to descend."""
    swapped = fn(node)
    if swapped is not None:
        return swapped  # type: ignore[no-any-return]
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        new = _map_value(value, fn)
        if new is not value:
            changes[field.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _map_value(value: Any, fn: Any) -> Any:
    if isinstance(value, ast._NODE_TYPES):
        return _map(value, fn)
    if isinstance(value, tuple):
        items = [_map_value(v, fn) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return tuple(items)
    return value


__all__ = ["GridLoad", "find_files", "load_grid"]
