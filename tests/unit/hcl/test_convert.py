# ruff: noqa: E501 - rows of HCL and expected trees read best unwrapped
"""python-hcl2's lark tree -> expression AST: every form of the grammar, positions, errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import hcl2
import pytest

from gridflow.errors import ExpressionError
from gridflow.expr import ast
from gridflow.expr.evaluator import Scope, evaluate
from gridflow.translators.hcl.blocks import read_body
from gridflow.translators.hcl.convert import Converter

A = ast


def convert(source: str) -> ast.Node:
    """Convert the expression ``source`` written as ``x = <source>`` in f.hcl."""
    text = f"locals {{\n  x = {source}\n}}\n"
    tree = hcl2.parses_to_tree(text)
    top = read_body(tree.children[0], "f.hcl", text)
    return Converter("f.hcl").expr(top.blocks[0].attrs["x"].value)


def bare(node: ast.Node) -> ast.Node:
    """``node`` without positions, to compare shapes."""
    return ast.replace(node, lambda n: dataclasses.replace(n, line=0, col=0))


def V(name: str) -> ast.Var:
    return A.Var(name)


def L(value: Any) -> ast.Lit:
    return A.Lit(value)


SPLAT = A.Var("__splat__")

FORMS: dict[str, tuple[str, ast.Node]] = {
    "int": ("42", L(42)),
    "float": ("1.5", L(1.5)),
    "float-exponent": ("1.5e3", L(1500.0)),
    "negative": ("-3", L(-3)),
    "true": ("true", L(True)),
    "false": ("false", L(False)),
    "null": ("null", L(None)),
    "string": ('"plain"', L("plain")),
    "empty-string": ('""', L("")),
    "escapes": (r'"a\nb\tc\"d\\e"', L('a\nb\tc"d\\e')),
    "unicode-escapes": (r'"\u00e9\U0001F600"', L("é😀")),
    "escaped-interpolation": ('"$${x} and %%{y}"', L("${x} and %{y}")),
    "interpolation-only": ('"${a}"', A.Template((V("a"),))),
    "interpolation": ('"a${b}c"', A.Template((L("a"), V("b"), L("c")))),
    "interpolation-expr": (
        '"${a ? "x" : "y"}!"',
        A.Template((A.Cond(V("a"), L("x"), L("y")), L("!"))),
    ),
    "template-if": (
        '"%{ if a }yes%{ endif }"',
        A.Template((A.TemplateIf(V("a"), A.Template((L("yes"),)), None),)),
    ),
    "template-if-else": (
        '"%{ if a }yes%{ else }no%{ endif }"',
        A.Template((A.TemplateIf(V("a"), A.Template((L("yes"),)), A.Template((L("no"),))),)),
    ),
    "template-for": (
        '"%{ for v in xs }${v},%{ endfor }"',
        A.Template((A.TemplateFor(None, "v", V("xs"), A.Template((V("v"), L(",")))),)),
    ),
    "template-for-key-value": (
        '"%{ for k, v in m }${k}=${v}%{ endfor }"',
        A.Template((A.TemplateFor("k", "v", V("m"), A.Template((V("k"), L("="), V("v")))),)),
    ),
    "template-nested": (
        '"%{ for v in xs }%{ if v }[${v}]%{ endif }%{ endfor }"',
        A.Template(
            (
                A.TemplateFor(
                    None,
                    "v",
                    V("xs"),
                    A.Template((A.TemplateIf(V("v"), A.Template((L("["), V("v"), L("]"))), None),)),
                ),
            )
        ),
    ),
    "template-strip-markers": (
        '"a \\n %{~ for v in xs ~} \\n ${v} %{~ endfor } b"',
        A.Template((L("a"), A.TemplateFor(None, "v", V("xs"), A.Template((V("v"),))), L(" b"))),
    ),
    "heredoc": (
        "<<EOT\nhello ${name}\n  bye\nEOT",
        A.Template((L("hello "), V("name"), L("\n  bye\n"))),
    ),
    "heredoc-plain": ("<<EOT\nno $${x}\nEOT", L("no ${x}\n")),
    "heredoc-backslash-is-text": ("<<EOT\na\\nb\nEOT", L("a\\nb\n")),
    "heredoc-trim": (
        "<<-EOT\n    a ${b}\n      c\n    EOT",
        A.Template((L("a "), V("b"), L("\n  c\n"))),
    ),
    "heredoc-empty": ("<<EOT\nEOT", L("")),
    "heredoc-string-in-interpolation": (
        '<<EOT\n${upper("x")} "q"\nEOT',
        A.Template((A.Call("upper", (L("x"),)), L(' "q"\n'))),
    ),
    "tuple": ("[1, two, 3]", A.TupleExpr((L(1), V("two"), L(3)))),
    "tuple-trailing-comma": ("[1, 2,]", A.TupleExpr((L(1), L(2)))),
    "tuple-empty": ("[]", A.TupleExpr(())),
    "object": (
        '{a = 1, "b" = 2, c: 3}',
        A.ObjectExpr(((L("a"), L(1)), (L("b"), L(2)), (L("c"), L(3)))),
    ),
    "object-expression-key": ("{(k) = 1}", A.ObjectExpr(((V("k"), L(1)),))),
    "object-template-key": (
        '{"k${x}" = 1}',
        A.ObjectExpr(((A.Template((L("k"), V("x"))), L(1)),)),
    ),
    "object-keyword-keys": (
        "{for = 1, if = 2, in = 3}",
        A.ObjectExpr(((L("for"), L(1)), (L("if"), L(2)), (L("in"), L(3)))),
    ),
    "object-empty": ("{}", A.ObjectExpr(())),
    "call": ('upper("a")', A.Call("upper", (L("a"),))),
    "call-no-args": ("uuid()", A.Call("uuid", ())),
    "call-expand": ("max(1, xs...)", A.Call("max", (L(1), V("xs")), True)),
    "get-attr": ("a.b.c", A.GetAttr(A.GetAttr(V("a"), "b"), "c")),
    "index": ('a["k"]', A.Index(V("a"), L("k"))),
    "index-expression": ("a[b[1]]", A.Index(V("a"), A.Index(V("b"), L(1)))),
    "legacy-index": ("a.0", A.Index(V("a"), L(0))),
    "mixed-access": ("a.b[0].c", A.GetAttr(A.Index(A.GetAttr(V("a"), "b"), L(0)), "c")),
    "attr-splat": ("a.*.b", A.Splat(V("a"), A.GetAttr(SPLAT, "b"))),
    "full-splat": ("a[*].b.c", A.Splat(V("a"), A.GetAttr(A.GetAttr(SPLAT, "b"), "c"))),
    "full-splat-index": ("a[*].b[0]", A.Splat(V("a"), A.Index(A.GetAttr(SPLAT, "b"), L(0)))),
    "bare-splat": ("a[*]", A.Splat(V("a"), SPLAT)),
    "not": ("!a", A.Unary("!", V("a"))),
    "minus": ("-a.b", A.Unary("-", A.GetAttr(V("a"), "b"))),
    "precedence": ("1 + 2 * 3", A.Binary("+", L(1), A.Binary("*", L(2), L(3)))),
    "parentheses": ("(1 + 2) * 3", A.Binary("*", A.Binary("+", L(1), L(2)), L(3))),
    "logic": (
        "a && b || !c",
        A.Binary("||", A.Binary("&&", V("a"), V("b")), A.Unary("!", V("c"))),
    ),
    "comparison-chain": ("a % 2 != 0", A.Binary("!=", A.Binary("%", V("a"), L(2)), L(0))),
    "minus-negative": ("1 - -2", A.Binary("-", L(1), L(-2))),
    "all-comparisons": (
        "a < b == c <= d",
        A.Binary("==", A.Binary("<", V("a"), V("b")), A.Binary("<=", V("c"), V("d"))),
    ),
    "conditional": ("a == b ? c : d", A.Cond(A.Binary("==", V("a"), V("b")), V("c"), V("d"))),
    "for-tuple": ("[for v in xs : v]", A.ForTuple(None, "v", V("xs"), V("v"), None)),
    "for-tuple-if": (
        '[for k, v in m : v if k != "x"]',
        A.ForTuple("k", "v", V("m"), V("v"), A.Binary("!=", V("k"), L("x"))),
    ),
    "for-object": (
        "{for s in xs : s => upper(s)}",
        A.ForObject(None, "s", V("xs"), V("s"), A.Call("upper", (V("s"),)), None),
    ),
    "for-object-group-if": (
        "{for k, v in m : v => k... if k != null}",
        A.ForObject("k", "v", V("m"), V("v"), V("k"), A.Binary("!=", V("k"), L(None)), True),
    ),
    "step-reference-shape": (
        "step.print.a[each].output",
        A.GetAttr(A.Index(A.GetAttr(A.GetAttr(V("step"), "print"), "a"), V("each")), "output"),
    ),
}


@pytest.mark.parametrize(("source", "expected"), list(FORMS.values()), ids=list(FORMS))
def test_every_form_converts(source: str, expected: ast.Node) -> None:
    assert bare(convert(source)) == bare(expected)


@pytest.mark.parametrize("source", [s for s, _ in FORMS.values()], ids=list(FORMS))
def test_every_node_has_a_position(source: str) -> None:
    node = convert(source)
    missing = [n for n in ast.walk(node) if n.line < 2 or n.col < 1]
    assert missing == []


def test_positions_point_at_the_source() -> None:
    node = convert('"a${b.c}" == f(1, [x])')
    assert isinstance(node, ast.Binary)
    assert (node.line, node.col) == (2, 7)
    left, right = node.left, node.right
    assert isinstance(left, ast.Template)
    assert isinstance(right, ast.Call)
    assert [(p.line, p.col) for p in left.parts] == [(2, 8), (2, 11)]
    assert (right.line, right.col) == (2, 20)
    assert [(a.line, a.col) for a in right.args] == [(2, 22), (2, 25)]


def test_heredoc_positions_are_mapped_back_to_the_body() -> None:
    node = convert('<<EOT\nhello ${name}\n  bye "${x.y}" %{if a}A%{endif}\nEOT')
    assert isinstance(node, ast.Template)
    assert (node.line, node.col) == (2, 7)
    positions = {type(p).__name__ + str(i): (p.line, p.col) for i, p in enumerate(node.parts)}
    assert positions == {
        "Lit0": (3, 1),
        "Var1": (3, 9),
        "Lit2": (3, 14),
        "GetAttr3": (4, 10),
        "Lit4": (4, 14),
        "TemplateIf5": (4, 16),
        "Lit6": (4, 32),
    }


def test_trimmed_heredoc_positions_count_the_removed_indent() -> None:
    node = convert("<<-EOT\n    a ${b}\n      c ${f(1)}\n    EOT")
    assert isinstance(node, ast.Template)
    call = node.parts[3]
    assert isinstance(call, ast.Call)
    assert (call.line, call.col) == (4, 11)
    assert (node.parts[1].line, node.parts[1].col) == (3, 9)


RENDERED: dict[str, tuple[str, dict[str, Any], Any]] = {
    "for-directive": ('"%{ for v in xs }<${v}>%{ endfor }"', {"xs": ["a", "b"]}, "<a><b>"),
    "if-directive-true": ('"%{ if n > 1 }many%{ else }one%{ endif }"', {"n": 2}, "many"),
    "if-directive-false": ('"%{ if n > 1 }many%{ else }one%{ endif }"', {"n": 1}, "one"),
    "heredoc-trim": ("<<-EOT\n    a ${b}\n      c\n    EOT", {"b": 1}, "a 1\n  c\n"),
    "heredoc-for-stripped": (
        "<<EOT\n%{ for k, v in m ~}\n${k}=${v}\n%{ endfor ~}\nEOT",
        {"m": {"x": 1, "y": 2}},
        "x=1\ny=2\n",
    ),
    "heredoc-for-kept": (
        "<<EOT\n%{ for k, v in m }\n${k}=${v}\n%{ endfor }\nEOT",
        {"m": {"x": 1}},
        "\nx=1\n\n",
    ),
    "strip-markers": (
        '"a %{~ if n > 1 ~} many %{~ else ~} one %{~ endif ~} b"',
        {"n": 2},
        "amanyb",
    ),
    "escaped-interpolation": ('"$${x}-${x}"', {"x": 5}, "${x}-5"),
    "splat": ("xs[*].n", {"xs": [{"n": 1}, {"n": 2}]}, [1, 2]),
    "for-object-group": (
        "{for k, v in m : v => k...}",
        {"m": {"a": "x", "b": "x", "c": "y"}},
        {"x": ["a", "b"], "y": ["c"]},
    ),
    "expand-args": ("max(1, xs...)", {"xs": [5, 3]}, 5),
}


@pytest.mark.parametrize(
    ("source", "names", "expected"), list(RENDERED.values()), ids=list(RENDERED)
)
def test_converted_trees_evaluate(source: str, names: dict[str, Any], expected: Any) -> None:
    node = convert(source)
    # The test binds free names as roots: each becomes a top-level variable.
    assert evaluate(node, Scope(roots=names, file="f.hcl")) == expected


ERRORS: dict[str, tuple[str, str]] = {
    "endif-without-if": ('"%{ endif }"', "f.hcl:2:8: %{endif} without its opener"),
    "else-without-if": ('"%{ else }"', "f.hcl:2:8: %{else} without its opener"),
    "endfor-without-for": ('"a%{ endfor }"', "f.hcl:2:9: %{endfor} without its opener"),
    "if-not-closed": ('"%{ if a }x"', "f.hcl:2:8: %{if} is not closed (add %{endif})"),
    "for-not-closed": ('"%{ for v in xs }x"', "f.hcl:2:8: %{for} is not closed (add %{endfor})"),
    "provider-function": (
        "provider::p::f(1)",
        'f.hcl:2:7: provider functions ("provider::p::f") are not supported (call a built-in function instead)',
    ),
}


@pytest.mark.parametrize(("source", "message"), list(ERRORS.values()), ids=list(ERRORS))
def test_constructs_that_cannot_convert(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        convert(source)
    assert str(info.value) == message
