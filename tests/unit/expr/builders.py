"""Short constructors for expression trees, so tests read like the HCL they stand for."""

from __future__ import annotations

from typing import Any

import pytest

from gridflow.errors import ExpressionError
from gridflow.expr import ast
from gridflow.expr.evaluator import Scope, evaluate


def node(value: Any) -> ast.Node:
    """A Python value as the literal expression that builds it; nodes pass through."""
    if isinstance(value, ast._NODE_TYPES):
        return value  # type: ignore[no-any-return]
    if isinstance(value, list):
        return ast.TupleExpr(tuple(node(v) for v in value))
    if isinstance(value, dict):
        return ast.ObjectExpr(tuple((ast.Lit(k), node(v)) for k, v in value.items()))
    return ast.Lit(value)


def var(name: str) -> ast.Var:
    return ast.Var(name)


def attr(obj: Any, *names: str) -> ast.Node:
    out = node(obj)
    for name in names:
        out = ast.GetAttr(out, name)
    return out


def idx(obj: Any, key: Any) -> ast.Index:
    return ast.Index(node(obj), node(key))


def call(name: str, *args: Any, expand: bool = False) -> ast.Call:
    return ast.Call(name, tuple(node(a) for a in args), expand)


def tpl(*parts: Any) -> ast.Template:
    return ast.Template(tuple(node(p) for p in parts))


def binop(op: str, left: Any, right: Any) -> ast.Binary:
    return ast.Binary(op, node(left), node(right))


def ev(expr: Any, scope: Scope | None = None, **kw: Any) -> Any:
    return evaluate(node(expr), scope or Scope(**kw))


def fails(expr: Any, scope: Scope | None = None, **kw: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        evaluate(node(expr), scope or Scope(**kw))
    return info.value
