"""Drawing a Plan: Mermaid and Graphviz DOT text.

Every label is escaped here, so names and strings from a grid cannot break
out of the diagram syntax.
"""

from __future__ import annotations

from gridflow.plan.models import Plan, RefPattern, Step

_EDGE_LABEL = {
    RefPattern.ALL: "all",
    RefPattern.INSTANCE: "one",
    RefPattern.EACH: "each",
    RefPattern.FIRST: "first",
}


def _fan_label(step: Step) -> str:
    if step.fan_out is not None:
        kind = "count" if step.fan_out.kind == "count" else "for_each"
        dyn = ", dynamic" if step.fan_out.dynamic else ""
        return f"{kind} = {step.fan_out.expr.text}{dyn}"
    if step.each_of is not None:
        return f"each of {step.each_of}"
    return ""


def _mermaid_text(text: str) -> str:
    # Mermaid labels in "..." accept HTML entities; escape what would end them.
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _edges(plan: Plan) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for step in plan.steps.values():
        seen: set[tuple[str, str]] = set()
        for edge in step.edges:
            label = _EDGE_LABEL[edge.pattern]
            if (edge.upstream, label) in seen:
                continue
            seen.add((edge.upstream, label))
            out.append((edge.upstream, step.id, label))
    return out


def to_mermaid(plan: Plan) -> str:
    ids = {sid: f"s{n}" for n, sid in enumerate(plan.steps)}
    lines = ["flowchart TD"]
    for sid, step in plan.steps.items():
        fan = _fan_label(step)
        label = _mermaid_text(sid) + (f"<br/>{_mermaid_text(fan)}" if fan else "")
        lines.append(f'    {ids[sid]}["{label}"]')
    for up, down, label in _edges(plan):
        lines.append(f"    {ids[up]} -->|{label}| {ids[down]}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(plan: Plan) -> str:
    lines = [f'digraph "{_dot_text(plan.name)}" {{', "    rankdir=TB;", "    node [shape=box];"]
    for sid, step in plan.steps.items():
        fan = _fan_label(step)
        label = sid + (f"\\n{_dot_text(fan)}" if fan else "")
        lines.append(f'    "{_dot_text(sid)}" [label="{label}"];')
    for up, down, label in _edges(plan):
        lines.append(f'    "{_dot_text(up)}" -> "{_dot_text(down)}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
