from __future__ import annotations

from gridflow.expr import ast
from gridflow.plan import Edge, Expr, FanOut, Location, Plan, RefPattern, Step
from gridflow.plan.graph import to_dot, to_mermaid

LOC = Location(file="g.hcl", line=1, col=1)


def _plan() -> Plan:
    count = Expr.from_node(ast.Lit(3), "3", LOC)
    a = Step(
        id="http_request.a",
        runner="http_request",
        name="a",
        loc=LOC,
        fan_out=FanOut(kind="count", expr=count),
    )
    b = Step(
        id="print.b",
        runner="print",
        name="b",
        loc=LOC,
        each_of="http_request.a",
        edges=[Edge(upstream="http_request.a", pattern=RefPattern.EACH, loc=LOC)],
    )
    c = Step(
        id="print.c",
        runner="print",
        name="c",
        loc=LOC,
        edges=[
            Edge(upstream="http_request.a", pattern=RefPattern.ALL, loc=LOC),
            Edge(upstream="http_request.a", pattern=RefPattern.ALL, loc=LOC),
        ],
    )
    return Plan(name='evil"name', steps={s.id: s for s in (a, b, c)})


def test_mermaid_has_nodes_and_labelled_edges() -> None:
    text = to_mermaid(_plan())
    assert text.startswith("flowchart TD\n")
    assert 's0["http_request.a<br/>count = 3"]' in text
    assert "s0 -->|each| s1" in text
    assert text.count("s0 -->|all| s2") == 1  # duplicate edges drawn once


def test_dot_escapes_quotes_in_names() -> None:
    text = to_dot(_plan())
    assert text.startswith('digraph "evil\\"name" {')
    assert '"http_request.a" -> "print.b" [label="each"];' in text
