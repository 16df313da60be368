"""Property tests: random trees evaluate to JSON data or fail with gridflow's own errors."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflow.errors import ExpressionError, GridflowError
from gridflow.expr import ast
from gridflow.expr.evaluator import Limits, Scope, evaluate
from gridflow.expr.functions import FUNCTIONS
from gridflow.expr.values import ResourceHandle, StepInstances

NAMES = ["var", "local", "each", "count", "x", "v", "k", "__splat__", "nope"]
ATTRS = ["name", "port", "tags", "output", "first_output", "status", "a", "key", "value", "index"]
BINOPS = ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "^"]
FUNCS = [*sorted(FUNCTIONS), "nosuchfunction"]
LIMITS = Limits(max_string=20_000, max_items=2_000, max_work=200_000, max_depth=60)


def _scope() -> Scope:
    fanned = StepInstances(
        [0, 1],
        [{"output": {"a": 1}, "error": None, "status": "ok"}, {"output": None, "error": "x"}],
        first_ok=0,
    )
    keyed = StepInstances(["a"], [{"output": "o", "status": "ok"}], keyed=True)
    return Scope(
        roots={
            "var": {"name": "bob", "port": 8080, "tags": ["a", "b"], "nothing": None},
            "local": {"a": [1, 2.5, "x", True, None, {"k": "v"}]},
            "count": {"index": 1},
            "each": {"key": "a", "value": {"a": [1]}},
        },
        steps={"s": fanned, "k": keyed, "p": {"output": "plain", "status": "ok"}},
        each={"s": {"output": 3, "status": "ok"}},
        resources={"r": ResourceHandle("r")},
        file="prop.hcl",
        base_dir=None,
        environ={"HOME": "/home/test"},
        limits=LIMITS,
    )


positions = st.tuples(st.integers(0, 99), st.integers(0, 99))

literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "%s", "%d%%", "/a+/", "a,b", "1.5", "true", '{"a":1}', "YWJj"]),
)


def _leaf() -> st.SearchStrategy[ast.Node]:
    return st.one_of(
        st.builds(ast.Lit, literals),
        st.builds(ast.Var, st.sampled_from(NAMES)),
        st.builds(ast.StepRef, st.sampled_from(["s", "k", "p", "missing"])),
        st.builds(ast.EachRef, st.sampled_from(["s", "missing"])),
        st.builds(ast.ResourceRef, st.sampled_from(["r", "missing"])),
    )


def _extend(children: st.SearchStrategy[ast.Node]) -> st.SearchStrategy[ast.Node]:
    small = st.lists(children, max_size=3).map(tuple)
    template = st.builds(ast.Template, small)
    var_name = st.sampled_from(["x", "v", "k", "var"])
    key_var = st.one_of(st.none(), st.just("k"))
    return st.one_of(
        template,
        st.builds(ast.TemplateIf, children, template, st.one_of(st.none(), template)),
        st.builds(ast.TemplateFor, key_var, var_name, children, template),
        st.builds(ast.GetAttr, children, st.sampled_from(ATTRS)),
        st.builds(ast.Index, children, children),
        st.builds(ast.Splat, children, children),
        st.builds(ast.Call, st.sampled_from(FUNCS), small, st.booleans()),
        st.builds(ast.Unary, st.sampled_from(["-", "!", "~"]), children),
        st.builds(ast.Binary, st.sampled_from(BINOPS), children, children),
        st.builds(ast.Cond, children, children, children),
        st.builds(ast.TupleExpr, small),
        st.builds(ast.ObjectExpr, st.lists(st.tuples(children, children), max_size=3).map(tuple)),
        st.builds(
            ast.ForTuple, key_var, var_name, children, children, st.one_of(st.none(), children)
        ),
        st.builds(
            ast.ForObject,
            key_var,
            var_name,
            children,
            children,
            children,
            st.one_of(st.none(), children),
            st.booleans(),
        ),
    )


trees = st.recursive(_leaf(), _extend, max_leaves=25)


def _check(tree: ast.Node) -> None:
    """``tree`` gives JSON-able data, or an ExpressionError that is positioned and ours."""
    error: GridflowError | None = None
    try:
        result = evaluate(tree, _scope())
    except GridflowError as exc:
        error = exc
    if error is None:
        json.dumps(result, default=_jsonable, allow_nan=False)
        return
    assert isinstance(error, ExpressionError)
    assert not error.message.startswith("internal error"), error.message
    assert error.pos is not None
    assert error.pos.file == "prop.hcl"


def _jsonable(value: Any) -> Any:
    if isinstance(value, StepInstances):
        return value.as_data()
    if isinstance(value, ResourceHandle):
        return {"resource": value.id}
    raise TypeError(f"not JSON data: {type(value).__name__}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_trees_give_data_or_gridflow_errors(tree: ast.Node) -> None:
    _check(tree)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_json_round_trip(tree: ast.Node) -> None:
    encoded = ast.to_json(tree)
    assert ast.from_json(json.loads(json.dumps(encoded))) == tree


def _call_args() -> st.SearchStrategy[ast.Node]:
    values = st.recursive(
        literals,
        lambda c: st.one_of(
            st.lists(c, max_size=4), st.dictionaries(st.text(max_size=3), c, max_size=3)
        ),
        max_leaves=8,
    )
    return values.map(_as_node)


def _as_node(value: Any) -> ast.Node:
    if isinstance(value, list):
        return ast.TupleExpr(tuple(_as_node(v) for v in value))
    if isinstance(value, dict):
        return ast.ObjectExpr(tuple((ast.Lit(k), _as_node(v)) for k, v in value.items()))
    return ast.Lit(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUNCS), st.lists(_call_args(), max_size=4), st.booleans())
def test_every_function_rejects_bad_input_cleanly(
    name: str, args: list[ast.Node], expand: bool
) -> None:
    _check(ast.Call(name, tuple(args), expand, 3, 7))
