"""Pure helpers of the grid loader: tree mapping, reference patterns, messages."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridflow.errors import (
    SourcePos,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import SPLAT_VAR, references, root_members
from gridflow.plan.models import (
    Location,
    RefPattern,
)


def is_whole(value: Any) -> bool:
    """A whole number written as a number (``3`` or ``3.0``), not a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and int(value) == value


def fan_out_problem(kind: str, value: Any) -> tuple[str, str] | None:
    """What is wrong with a fan-out value, or None."""
    if kind == "count":
        if not is_whole(value):
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


def _ancestry(sid: str, parent_of: Mapping[str, str | None]) -> list[str]:
    """``sid`` and the steps it is cloned over, up to the chain root."""
    out = [sid]
    seen = {sid}
    parent = parent_of.get(sid)
    while parent is not None and parent not in seen:
        out.append(parent)
        seen.add(parent)
        parent = parent_of.get(parent)
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


_PatternRef = tuple[str, RefPattern, ast.Node | None, ast.Node]


def _reference_patterns(node: ast.Node) -> list[tuple[str, RefPattern, ast.Node | None, ast.Node]]:
    """Every step reference in ``node`` with the pattern it waits by.

    ``S[key]`` waits for one instance only when the key is known before S
    runs: it may not use a step or a for-expression variable (which differs
    per loop turn); otherwise the reference waits for all of S.
    """
    out: list[_PatternRef] = []
    _visit_refs(node, frozenset(), out)
    return out


def _visit_refs(n: ast.Node, bound: frozenset[str], out: list[_PatternRef]) -> None:
    # A module function rather than a nested one that calls itself: that would
    # be a reference cycle per call, freed only by the garbage collector.
    if isinstance(n, ast.EachRef):
        out.append((n.step, RefPattern.EACH, None, n))
        return
    if isinstance(n, ast.Index) and isinstance(n.obj, ast.StepRef):
        key = n.key
        refs = references(key)
        if not refs["steps"] and not refs["each"] and not refs["roots"] & bound:
            out.append((n.obj.step, RefPattern.INSTANCE, key, n))
            _visit_refs(key, bound, out)
            return
    if isinstance(n, ast.GetAttr) and isinstance(n.obj, ast.StepRef) and n.name == "first_output":
        out.append((n.obj.step, RefPattern.FIRST, None, n))
        return
    if isinstance(n, ast.StepRef):
        out.append((n.step, RefPattern.ALL, None, n))
        return
    inner = bound
    if isinstance(n, ast.ForTuple | ast.ForObject | ast.TemplateFor):
        inner = bound | {n.value_var} | ({n.key_var} if n.key_var else frozenset())
        _visit_refs(n.collection, bound, out)
    elif isinstance(n, ast.Splat):
        inner = bound | {SPLAT_VAR}
        _visit_refs(n.obj, bound, out)
    for child in ast.children(n):
        if child is getattr(n, "collection", None) or (isinstance(n, ast.Splat) and child is n.obj):
            continue
        _visit_refs(child, inner, out)


def _local_refs(node: ast.Node) -> list[tuple[Any, None]]:
    return [(n, None) for n in root_members(node, "local")]


def _map(node: ast.Node, fn: Any, bound: frozenset[str] = frozenset()) -> ast.Node:
    """Rebuild ``node`` top-down: ``fn(n, bound)`` returns a replacement or None to descend.

    ``bound`` holds the for/splat variables in scope at ``n`` (as in
    :func:`gridflow.expr.evaluator.walk_bound`), so a loop variable that shares
    a name with a runner or ``each`` is never taken for a reference.
    """
    swapped = fn(node, bound)
    if swapped is not None:
        return swapped  # type: ignore[no-any-return]
    inner = bound
    if isinstance(node, ast.ForTuple | ast.ForObject | ast.TemplateFor):
        inner = bound | {node.value_var} | ({node.key_var} if node.key_var else frozenset())
    elif isinstance(node, ast.Splat):
        inner = bound | {SPLAT_VAR}
    changes: dict[str, Any] = {}
    for name in ast._FIELDS[type(node)]:
        value = getattr(node, name)
        if value is None or isinstance(value, str | int | float):
            continue
        scope = bound if name in ("collection", "obj") else inner
        new = _map_value(value, fn, scope)
        if new is not value:
            changes[name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _map_value(value: Any, fn: Any, bound: frozenset[str]) -> Any:
    if isinstance(value, ast._NODE_TYPES):
        return _map(value, fn, bound)
    if isinstance(value, tuple):
        items = [_map_value(v, fn, bound) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return tuple(items)
    return value
