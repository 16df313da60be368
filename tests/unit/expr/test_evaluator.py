"""The evaluator: operators, templates, access, for, splat, steps, limits, positions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gridflow.errors import ExpressionError, LimitExceeded
from gridflow.expr import ast
from gridflow.expr.evaluator import Limits, Scope, evaluate, references
from gridflow.expr.values import ResourceHandle, StepInstances

from .builders import attr, binop, call, ev, fails, idx, node, tpl, var

ROOTS: dict[str, Any] = {
    "var": {"name": "bob", "port": 8080, "tags": ["a", "b"], "nothing": None},
    "local": {"pages": ["x", "y"], "sizes": {"s": 1, "m": 2}},
    "count": {"index": 3},
}


def scope(**kw: Any) -> Scope:
    kw.setdefault("roots", ROOTS)
    return Scope(**kw)


# ---------------------------------------------------------------- operators

OPS: list[tuple[str, ast.Node, Any]] = [
    ("add-int", binop("+", 2, 3), 5),
    ("add-float", binop("+", 0.5, 0.25), 0.75),
    ("sub", binop("-", 2, 5), -3),
    ("mul", binop("*", 4, 2.5), 10.0),
    ("div-exact", binop("/", 6, 3), 2),
    ("div-fraction", binop("/", 7, 2), 3.5),
    ("div-float", binop("/", 6.0, 3), 2.0),
    ("mod", binop("%", 7, 3), 1),
    ("mod-negative-dividend", binop("%", -7, 3), -1),
    ("mod-negative-divisor", binop("%", 7, -3), 1),
    ("mod-float", binop("%", 5.5, 2), 1.5),
    ("eq-int-float", binop("==", 1, 1.0), True),
    ("eq-bool-number", binop("==", True, 1), False),
    ("eq-string-number", binop("==", "1", 1), False),
    ("eq-lists", binop("==", [1, "a"], [1.0, "a"]), True),
    ("eq-maps", binop("==", {"a": [1]}, {"a": [1]}), True),
    ("ne-maps", binop("!=", {"a": 1}, {"a": 2}), True),
    ("eq-null", binop("==", None, None), True),
    ("lt", binop("<", 1, 2), True),
    ("ge", binop(">=", 2, 2.0), True),
    ("gt", binop(">", 1, 2), False),
    ("le", binop("<=", 3, 2), False),
    ("and", binop("&&", True, False), False),
    ("or", binop("||", False, True), True),
    ("and-short-circuit", binop("&&", False, call("upper", 1)), False),
    ("or-short-circuit", binop("||", True, var("undefined")), True),
    ("not", ast.Unary("!", node(False)), True),
    ("neg", ast.Unary("-", node(2.5)), -2.5),
    ("cond-then", ast.Cond(node(True), node("a"), call("upper", 1)), "a"),
    ("cond-else", ast.Cond(node(False), var("nope"), node("b")), "b"),
    ("big-int", binop("*", 2**60, 2**60), 2**120),
]


@pytest.mark.parametrize(("expr", "expected"), [o[1:] for o in OPS], ids=[o[0] for o in OPS])
def test_operators(expr: ast.Node, expected: Any) -> None:
    result = ev(expr)
    assert result == expected
    assert type(result) is type(expected)


OP_ERRORS: list[tuple[str, ast.Node, str, str]] = [
    (
        "string-plus-number",
        binop("+", "a", 1),
        "operator + needs numbers, got string",
        'to join strings use a template: "${a}${b}"',
    ),
    ("bool-arith", binop("*", True, 1), "operator * needs numbers, got bool", ""),
    (
        "compare-strings",
        binop("<", "a", "b"),
        "operator < needs numbers, got string",
        "convert strings with tonumber(...)",
    ),
    (
        "div-zero",
        binop("/", 1, 0),
        "division by zero",
        "check the divisor, e.g. x == 0 ? 0 : y / x",
    ),
    (
        "mod-zero",
        binop("%", 1, 0.0),
        "modulo by zero",
        "check the divisor, e.g. x == 0 ? 0 : y % x",
    ),
    (
        "and-non-bool",
        binop("&&", 1, True),
        "the left operand of && must be a bool, got number",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    (
        "or-right-non-bool",
        binop("||", False, "x"),
        "the right operand of || must be a bool, got string",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    (
        "not-non-bool",
        ast.Unary("!", node(None)),
        "the operand of ! must be a bool, got null",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    ("neg-string", ast.Unary("-", node("1")), "unary - needs a number, got string", ""),
    (
        "cond-non-bool",
        ast.Cond(node("yes"), node(1), node(2)),
        "the condition of ? : must be a bool, got string",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    (
        "float-overflow",
        binop("*", 1e308, 10),
        "arithmetic result is not a finite number",
        "check for overflow, e.g. a very large pow() or multiplication",
    ),
    (
        "int-overflow",
        binop("*", 2**600, 2**600),
        "number is too large (more than 1024 bits)",
        "keep numbers below about 1e308",
    ),
    (
        "int-to-float-overflow",
        binop("/", 2**1024 - 1, 0.5),
        "the result of / is too large",
        "keep numbers below about 1e308",
    ),
]


@pytest.mark.parametrize(
    ("expr", "message", "hint"), [o[1:] for o in OP_ERRORS], ids=[o[0] for o in OP_ERRORS]
)
def test_operator_errors(expr: ast.Node, message: str, hint: str) -> None:
    err = fails(expr)
    assert err.message == message
    assert err.hint == hint


# ---------------------------------------------------------------- templates

TEMPLATES: list[tuple[str, ast.Node, Any]] = [
    ("text-and-value", tpl("hi ", attr(var("var"), "name"), "!"), "hi bob!"),
    ("number-int", tpl("port ", attr(var("var"), "port")), "port 8080"),
    ("number-float-integral", tpl("", 5.0, "x"), "5x"),
    ("number-fraction", tpl("v=", 2.5), "v=2.5"),
    ("small-float", tpl("v=", 1e-7), "v=0.0000001"),
    ("bool", tpl(True, "/", False), "true/false"),
    ("single-interpolation-keeps-type", tpl(attr(var("var"), "tags")), ["a", "b"]),
    ("single-number-keeps-type", tpl(attr(var("var"), "port")), 8080),
    ("single-text", tpl("plain"), "plain"),
    ("empty", ast.Template(()), ""),
    (
        "if-then",
        tpl("x", ast.TemplateIf(node(True), tpl("yes"), tpl("no"))),
        "xyes",
    ),
    ("if-else", tpl(ast.TemplateIf(node(False), tpl("yes"), tpl("no"))), "no"),
    ("if-no-else", tpl("[", ast.TemplateIf(node(False), tpl("yes"), None), "]"), "[]"),
    (
        "for-list",
        tpl(ast.TemplateFor(None, "p", attr(var("local"), "pages"), tpl(var("p"), ";"))),
        "x;y;",
    ),
    (
        "for-map-sorted",
        tpl(ast.TemplateFor("k", "v", node({"b": 2, "a": 1}), tpl(var("k"), "=", var("v"), " "))),
        "a=1 b=2 ",
    ),
    (
        "for-single-number-body-is-text",
        tpl(ast.TemplateFor(None, "v", node([1, 2]), tpl(var("v")))),
        "12",
    ),
]


@pytest.mark.parametrize(
    ("expr", "expected"), [t[1:] for t in TEMPLATES], ids=[t[0] for t in TEMPLATES]
)
def test_templates(expr: ast.Node, expected: Any) -> None:
    assert ev(expr, scope()) == expected


TEMPLATE_ERRORS = [
    (
        "null",
        tpl("x", attr(var("var"), "nothing")),
        "cannot use null in a string template",
        'give a fallback with coalesce(value, "") or check it with a conditional',
    ),
    (
        "list",
        tpl("x", attr(var("var"), "tags")),
        "cannot use a list in a string template",
        "convert it to text with jsonencode(...) or pick one element",
    ),
    (
        "map",
        tpl("x", var("local")),
        "cannot use a map in a string template",
        "convert it to text with jsonencode(...) or pick one element",
    ),
    (
        "if-non-bool",
        tpl(ast.TemplateIf(node("x"), tpl("a"), None)),
        "%{if} condition must be a bool, got string",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    (
        "for-null",
        tpl(ast.TemplateFor(None, "v", node(None), tpl("a"))),
        "%{for} needs a list or map to iterate over, got null",
        "use coalesce(x, []) for a value that may be null",
    ),
]


@pytest.mark.parametrize(
    ("expr", "message", "hint"),
    [t[1:] for t in TEMPLATE_ERRORS],
    ids=[t[0] for t in TEMPLATE_ERRORS],
)
def test_template_errors(expr: ast.Node, message: str, hint: str) -> None:
    err = fails(expr, scope())
    assert (err.message, err.hint) == (message, hint)


def test_template_error_points_at_the_interpolation() -> None:
    bad = ast.GetAttr(ast.Var("var", 4, 9), "nothing", 4, 9)
    expr = ast.Template((ast.Lit("x", 4, 6), bad), 4, 5)
    err = fails(expr, scope(file="grid.hcl"))
    assert str(err.pos) == "grid.hcl:4:9"
    assert str(err).startswith("grid.hcl:4:9: cannot use null in a string template")


# ------------------------------------------------------------ names, access

ACCESS: list[tuple[str, ast.Node, Any]] = [
    ("var", attr(var("var"), "name"), "bob"),
    ("count-index", attr(var("count"), "index"), 3),
    ("list-index", idx(attr(var("var"), "tags"), 1), "b"),
    ("list-index-float", idx(attr(var("var"), "tags"), 1.0), "b"),
    ("list-index-numeric-string", idx(attr(var("var"), "tags"), "0"), "a"),
    ("map-index", idx(attr(var("local"), "sizes"), "m"), 2),
    ("map-index-number-key", idx(node({"1": "one"}), 1), "one"),
    ("nested", idx(attr(var("local"), "pages"), 0), "x"),
    ("null-attr-value", attr(var("var"), "nothing"), None),
]


@pytest.mark.parametrize(("expr", "expected"), [a[1:] for a in ACCESS], ids=[a[0] for a in ACCESS])
def test_access(expr: ast.Node, expected: Any) -> None:
    assert ev(expr, scope()) == expected


ACCESS_ERRORS = [
    ("unknown-root", var("vars"), 'unknown name "vars"', 'did you mean "var"?'),
    (
        "unknown-root-list",
        var("zzz"),
        'unknown name "zzz"',
        'names available here: "count", "local", "var"',
    ),
    (
        "each-missing",
        var("each"),
        'unknown name "each"',
        '"each" exists only in a step or resource with for_each',
    ),
    (
        "unknown-variable",
        attr(var("var"), "nmae"),
        'unknown variable "nmae"',
        'did you mean "name"?',
    ),
    (
        "unknown-variable-declare",
        attr(var("var"), "zzz"),
        'unknown variable "zzz"',
        'declare it with a variable "zzz" block',
    ),
    ("unknown-local", attr(var("local"), "page"), 'unknown local "page"', 'did you mean "pages"?'),
    (
        "unknown-key",
        attr(var("local"), "sizes", "xl"),
        'the map has no attribute "xl"',
        'available: "m", "s"',
    ),
    (
        "attr-of-null",
        attr(var("var"), "nothing", "x"),
        'cannot read attribute "x" of null',
        "the value is null; check it first with a conditional or use try(...)",
    ),
    (
        "attr-of-list",
        attr(var("var"), "tags", "x"),
        'cannot read attribute "x" of a list',
        "use [*].x for every element, or [index].x for one",
    ),
    ("attr-of-string", attr(var("var"), "name", "x"), 'cannot read attribute "x" of a string', ""),
    (
        "index-out-of-range",
        idx(attr(var("var"), "tags"), 2),
        "index 2 is out of range for a list of 2 elements",
        "valid indices are 0 to 1",
    ),
    (
        "index-negative",
        idx(attr(var("var"), "tags"), -1),
        "index -1 is out of range for a list of 2 elements",
        "valid indices are 0 to 1",
    ),
    (
        "index-empty",
        idx(node([]), 0),
        "index 0 is out of range for a list of 0 elements",
        "the list is empty",
    ),
    (
        "index-fraction",
        idx(attr(var("var"), "tags"), 0.5),
        "a list index must be a whole number, got 0.5",
        "",
    ),
    (
        "index-bool",
        idx(attr(var("var"), "tags"), True),
        "a list index must be a number, got bool",
        "use a whole number such as [0]",
    ),
    (
        "index-map-missing",
        idx(attr(var("local"), "sizes"), "l"),
        'the map has no key "l"',
        'available keys: "m", "s"',
    ),
    (
        "index-null",
        idx(attr(var("var"), "nothing"), 0),
        "cannot index null",
        "the value is null; check it first with a conditional or use try(...)",
    ),
    (
        "index-string",
        idx(attr(var("var"), "name"), 0),
        "cannot index a string",
        "use substr(string, offset, length)",
    ),
    (
        "index-map-by-list",
        idx(attr(var("local"), "sizes"), []),
        "a map key must be a string, got list",
        "",
    ),
    (
        "step-missing",
        ast.StepRef("print.x"),
        'step "print.x" is not available to this expression',
        "the reference was not wired to a step; check that the step exists and that this "
        "expression runs after it",
    ),
    (
        "each-missing-ref",
        ast.EachRef("print.x"),
        '"print.x[each]" is not available to this expression',
        "[each] works only in a step cloned per instance of that step",
    ),
    (
        "resource-missing",
        ast.ResourceRef("http_client.apx"),
        'resource "http_client.apx" is not available to this expression',
        "declare it with a resource block, or check the name",
    ),
]


@pytest.mark.parametrize(
    ("expr", "message", "hint"), [a[1:] for a in ACCESS_ERRORS], ids=[a[0] for a in ACCESS_ERRORS]
)
def test_access_errors(expr: ast.Node, message: str, hint: str) -> None:
    err = fails(expr, scope())
    assert (err.message, err.hint) == (message, hint)


def test_for_variables_shadow_roots() -> None:
    expr = ast.ForTuple(None, "var", node([1, 2]), var("var"), None)
    assert ev(expr, scope()) == [1, 2]


def test_shadowed_var_is_not_called_a_variable() -> None:
    expr = ast.ForTuple(None, "var", node([{"a": 1}]), attr(var("var"), "b"), None)
    assert fails(expr, scope()).message == 'the map has no attribute "b"'


def test_python_attributes_are_unreachable() -> None:
    # Names that would reach Python internals are just missing keys.
    for name in ("__class__", "__dict__", "keys", "_instances", "outputs"):
        with pytest.raises(ExpressionError):
            ev(attr(var("var"), name), scope())
        with pytest.raises(ExpressionError):
            ev(attr(ast.StepRef("s"), name), scope(steps={"s": _fanned()}))


# --------------------------------------------------------- for expressions

FORS: list[tuple[str, ast.Node, Any]] = [
    (
        "tuple-list",
        ast.ForTuple(None, "v", node([1, 2, 3]), binop("*", var("v"), 2), None),
        [2, 4, 6],
    ),
    ("tuple-index", ast.ForTuple("i", "v", node(["a", "b"]), var("i"), None), [0, 1]),
    (
        "tuple-filter",
        ast.ForTuple(
            None, "v", node([1, 2, 3, 4]), var("v"), binop("==", binop("%", var("v"), 2), 0)
        ),
        [2, 4],
    ),
    (
        "tuple-map-sorted",
        ast.ForTuple("k", "v", node({"b": 2, "a": 1}), var("k"), None),
        ["a", "b"],
    ),
    (
        "object",
        ast.ForObject(None, "v", node(["a", "bb"]), var("v"), call("length", var("v")), None),
        {"a": 1, "bb": 2},
    ),
    (
        "object-number-key",
        ast.ForObject("i", "v", node(["x"]), var("i"), var("v"), None),
        {"0": "x"},
    ),
    (
        "object-group",
        ast.ForObject(
            None,
            "v",
            node(["ab", "ac", "b"]),
            call("substr", var("v"), 0, 1),
            var("v"),
            None,
            group=True,
        ),
        {"a": ["ab", "ac"], "b": ["b"]},
    ),
    (
        "object-filter",
        ast.ForObject(
            "k", "v", node({"a": 1, "b": 2}), var("k"), var("v"), binop(">", var("v"), 1)
        ),
        {"b": 2},
    ),
    (
        "nested",
        ast.ForTuple(
            None,
            "a",
            node([1, 2]),
            ast.ForTuple(None, "b", node([10, 20]), binop("+", var("a"), var("b")), None),
            None,
        ),
        [[11, 21], [12, 22]],
    ),
    (
        "over-steps",
        ast.ForTuple(None, "i", ast.StepRef("s"), attr(var("i"), "status"), None),
        ["ok", "failed", "ok"],
    ),
]


@pytest.mark.parametrize(("expr", "expected"), [f[1:] for f in FORS], ids=[f[0] for f in FORS])
def test_for_expressions(expr: ast.Node, expected: Any) -> None:
    assert ev(expr, scope(steps={"s": _fanned()})) == expected


FOR_ERRORS = [
    (
        "string",
        ast.ForTuple(None, "v", node("abc"), var("v"), None),
        "for expression needs a list or map to iterate over, got string",
        "",
    ),
    (
        "filter-non-bool",
        ast.ForTuple(None, "v", node([1]), var("v"), node(1)),
        "the for filter (if) must be a bool, got number",
        'compare explicitly, e.g. x != "" or length(x) > 0',
    ),
    (
        "duplicate-key",
        ast.ForObject(None, "v", node(["a", "a"]), var("v"), var("v"), None),
        'duplicate key "a" in a for expression',
        "make keys unique, or add ... after the value to group values by key",
    ),
    (
        "null-key",
        ast.ForObject(None, "v", node([None]), var("v"), var("v"), None),
        "a for expression's key must not be null",
        "",
    ),
    (
        "list-key",
        ast.ForObject(None, "v", node([[1]]), var("v"), var("v"), None),
        "a for expression key must be a string, got list",
        "",
    ),
    (
        "object-duplicate-literal-key",
        ast.ObjectExpr(((node("a"), node(1)), (node("a"), node(2)))),
        'duplicate map key "a"',
        "each key may appear only once",
    ),
]


@pytest.mark.parametrize(
    ("expr", "message", "hint"), [f[1:] for f in FOR_ERRORS], ids=[f[0] for f in FOR_ERRORS]
)
def test_for_errors(expr: ast.Node, message: str, hint: str) -> None:
    err = fails(expr, scope())
    assert (err.message, err.hint) == (message, hint)


# -------------------------------------------------------------------- splat


def _splat(obj: Any, *names: str) -> ast.Splat:
    return ast.Splat(node(obj), attr(var("__splat__"), *names))


SPLATS: list[tuple[str, ast.Node, Any]] = [
    ("list", _splat([{"a": 1}, {"a": 2}], "a"), [1, 2]),
    ("null", _splat(None, "a"), []),
    ("single", ast.Splat(node("x"), var("__splat__")), ["x"]),
    ("steps", ast.Splat(ast.StepRef("s"), attr(var("__splat__"), "output")), [1, 2, 3]),
    ("nested-attr", _splat([{"a": {"b": 5}}], "a", "b"), [5]),
]


@pytest.mark.parametrize(("expr", "expected"), [s[1:] for s in SPLATS], ids=[s[0] for s in SPLATS])
def test_splat(expr: ast.Node, expected: Any) -> None:
    assert ev(expr, scope(steps={"s": _fanned()})) == expected


def test_splat_on_map_is_an_error() -> None:
    err = fails(_splat({"a": 1}, "a"))
    assert err.message == "cannot use a splat [*] on a map"
    assert err.hint == "use values(map)[*] or a for expression: [for k, v in map : v]"


# ---------------------------------------------------------- step instances


def _fanned() -> StepInstances:
    return StepInstances(
        [0, 1, 2],
        [
            {"output": 1, "error": None, "status": "ok"},
            {"output": 2, "error": "boom", "status": "failed"},
            {"output": 3, "error": None, "status": "ok"},
        ],
        first_ok=2,
    )


def _keyed() -> StepInstances:
    return StepInstances(
        ["a", "b"],
        [
            {"output": {"code": 200}, "error": None, "status": "ok"},
            {"output": {"code": 404}, "error": None, "status": "ok"},
        ],
        first_ok=0,
        keyed=True,
    )


S = ast.StepRef("http_request.s")
K = ast.StepRef("http_request.k")
STEPS: list[tuple[str, ast.Node, Any]] = [
    ("output", attr(S, "output"), [1, 2, 3]),
    ("first-output", attr(S, "first_output"), 3),
    ("index-output", attr(idx(S, 1), "output"), 2),
    ("index-error", attr(idx(S, 1), "error"), "boom"),
    ("key-output", attr(idx(K, "b"), "output", "code"), 404),
    ("splat-output", ast.Splat(S, attr(var("__splat__"), "output")), [1, 2, 3]),
    ("length-output", call("length", attr(S, "output")), 3),
    ("length-steps", call("length", S), 3),
    ("keyed-output", attr(K, "output"), [{"code": 200}, {"code": 404}]),
    ("plain-step", attr(ast.StepRef("print.one"), "output"), "hello"),
    ("each", attr(ast.EachRef("http_request.k"), "output", "code"), 200),
    ("resource", ast.ResourceRef("http_client.api"), ResourceHandle("http_client.api")),
    (
        "template-with-step",
        tpl("code=", attr(ast.EachRef("http_request.k"), "output", "code")),
        "code=200",
    ),
    ("jsonencode-steps", call("jsonencode", attr(S, "output")), "[1,2,3]"),
]


def _step_scope() -> Scope:
    return scope(
        steps={
            "http_request.s": _fanned(),
            "http_request.k": _keyed(),
            "print.one": {"output": "hello", "error": None, "status": "ok"},
        },
        each={"http_request.k": {"output": {"code": 200}, "error": None, "status": "ok"}},
        resources={"http_client.api": ResourceHandle("http_client.api")},
    )


@pytest.mark.parametrize(("expr", "expected"), [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_step_access(expr: ast.Node, expected: Any) -> None:
    assert ev(expr, _step_scope()) == expected


STEP_ERRORS = [
    (
        "unknown-attr",
        attr(S, "outputs"),
        'a fanned-out step has no attribute "outputs"',
        'did you mean "output"? use .output (all outputs), .first_output, '
        "or pick one instance with [index]",
    ),
    ("index-out-of-range", idx(S, 5), "the step has no instance [5]", "valid indices are 0 to 2"),
    ("key-missing", idx(K, "c"), 'the step has no instance ["c"]', 'instance keys: "a", "b"'),
    ("key-typo", idx(K, "bb"), 'the step has no instance ["bb"]', 'did you mean "b"?'),
    (
        "resource-in-template",
        tpl("x", ast.ResourceRef("http_client.api")),
        "cannot use a resource in a string template",
        "a resource can only be passed in a step's uses block",
    ),
    (
        "resource-jsonencode",
        call("jsonencode", [ast.ResourceRef("http_client.api")]),
        "jsonencode(): a resource reference cannot be encoded",
        "resources can only be passed in a step's uses block",
    ),
]


@pytest.mark.parametrize(
    ("expr", "message", "hint"), [s[1:] for s in STEP_ERRORS], ids=[s[0] for s in STEP_ERRORS]
)
def test_step_errors(expr: ast.Node, message: str, hint: str) -> None:
    err = fails(expr, _step_scope())
    assert (err.message, err.hint) == (message, hint)


# ------------------------------------------------------------------- limits


def test_range_of_a_billion_fails_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match="range\\(\\) would have 1000000000 elements"):
        ev(call("range", 10**9))
    assert time.perf_counter() - start < 0.5


def test_nested_for_hits_max_work() -> None:
    inner = ast.ForTuple(None, "b", call("range", 3000), var("b"), None)
    outer = ast.ForTuple(None, "a", call("range", 3000), inner, None, line=2, col=1)
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match="units of work"):
        ev(outer)
    assert time.perf_counter() - start < 15  # unbounded, this would build 9M elements


def test_work_limit_is_shared_across_the_call() -> None:
    # Each range alone is fine; together they exceed the budget.
    expr = call("concat", call("range", 600), call("range", 600))
    with pytest.raises(LimitExceeded):
        evaluate(expr, Scope(limits=Limits(max_work=1000)))


def _doubling(double: ast.Node, levels: int) -> ast.Node:
    """``[for s in [double(s)] : [for s in [double(s)] : ... s]]`` with ``s = "ab"`` at the top.

    Each level evaluates its doubling once, so work grows with the string, not
    exponentially with the tree: only ``max_string`` can stop it.
    """
    expr: ast.Node = var("s")
    for _ in range(levels):
        expr = ast.ForTuple(None, "s", ast.TupleExpr((double,)), expr, None)
    return expr


@pytest.mark.parametrize(
    "double",
    [
        tpl(var("s"), var("s")),
        call("format", "%s%s", var("s"), var("s")),
        call("join", "", [var("s"), var("s")]),
        call("replace", var("s"), "a", "aa"),
    ],
    ids=["template", "format", "join", "replace"],
)
def test_doubling_string_hits_max_string(double: ast.Node) -> None:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"would be [0-9]+ characters long"):
        ev(_doubling(double, 40), roots={"s": "ab"})
    assert time.perf_counter() - start < 5


def test_exponential_tree_hits_max_work() -> None:
    expr: ast.Node = node("ab")
    for _ in range(30):
        expr = tpl(expr, expr)  # a shared subtree: 2**30 evaluations
    with pytest.raises(LimitExceeded):
        ev(expr)


def test_doubling_through_a_local_hits_max_string() -> None:
    # The same string reused by reference: the size check still applies.
    big = "x" * 600_000
    with pytest.raises(LimitExceeded):
        ev(tpl(var("s"), var("s")), roots={"s": big})


def test_max_items_for_literal_results() -> None:
    expr = ast.ForTuple(None, "v", call("range", 50), var("v"), None)
    with pytest.raises(LimitExceeded):
        evaluate(expr, Scope(limits=Limits(max_items=10)))


def test_depth_limit() -> None:
    expr: ast.Node = node(1)
    for _ in range(300):
        expr = ast.Unary("-", expr)
    with pytest.raises(LimitExceeded, match="nested more than 200 levels"):
        ev(expr)


def test_depth_limit_is_not_a_python_recursion_error() -> None:
    expr: ast.Node = node(1)
    for _ in range(5000):
        expr = ast.TupleExpr((expr,))
    with pytest.raises(LimitExceeded):
        ev(expr)


def test_try_cannot_hide_a_limit() -> None:
    expr = call("try", ast.ForTuple(None, "v", call("range", 10**6), var("v"), None), "fallback")
    with pytest.raises(LimitExceeded):
        evaluate(expr, Scope(limits=Limits(max_work=10_000)))


# ----------------------------------------------------------------- positions


def test_error_position_is_the_innermost_node() -> None:
    inner = ast.GetAttr(ast.Var("var", 7, 12), "missing", 7, 15)
    expr = ast.Binary("+", ast.Lit(1, 7, 3), inner, 7, 3)
    err = fails(expr, scope(file="main.hcl"))
    assert str(err.pos) == "main.hcl:7:15"
    assert (
        str(err)
        == 'main.hcl:7:15: unknown variable "missing" (declare it with a variable "missing" block)'
    )


def test_errors_convert_to_diagnostics() -> None:
    err = fails(ast.Var("nope", 2, 4), scope(file="g.hcl"))
    assert err.pos is not None
    diag = err.to_diagnostic(fallback=err.pos)
    assert (diag.file, diag.line, diag.col, diag.message) == ("g.hcl", 2, 4, 'unknown name "nope"')


# ---------------------------------------------------------------- references


def test_references() -> None:
    expr = ast.ForTuple(
        None,
        "p",
        attr(var("local"), "pages"),
        tpl(var("p"), attr(var("var"), "name"), attr(ast.StepRef("a.b"), "output")),
        call("can", ast.EachRef("c.d")),
    )
    refs = references(ast.Splat(expr, ast.Var("__splat__")))
    assert refs["roots"] == {"local", "var"}
    assert refs["steps"] == {"a.b"}
    assert refs["each"] == {"c.d"}
    assert refs["functions"] == {"can"}
