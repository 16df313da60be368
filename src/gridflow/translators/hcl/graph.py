"""Loader rules for the step graph: edges from references, ``[each]`` chains,
cycles and topological order."""

from __future__ import annotations

import heapq

from gridflow.errors import (
    ExpressionError,
    SourcePos,
)
from gridflow.expr import ast
from gridflow.expr.evaluator import walk_bound
from gridflow.plan.models import (
    Edge,
    Expr,
    FanOut,
    RefPattern,
    Step,
)
from gridflow.translators.hcl.blocks import Attr
from gridflow.translators.hcl.helpers import _ancestry, _kind, _loc, _pos, _reference_patterns
from gridflow.translators.hcl.names import _DEPENDS, NameRules, _StepDecl


class GraphRules(NameRules):
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
        """Resolve ``[each]`` clones: which step each clone follows.

        ``steps`` must be in topological order, so every step a clone follows
        is resolved before the clone: one pass, no recursion (chains can be
        thousands of steps long).
        """
        parent_of: dict[str, str | None] = {}
        root_of: dict[str, str] = {}
        depth: dict[str, int] = {}
        out: dict[str, Step] = {}
        for sid, step in steps.items():
            targets = list(
                dict.fromkeys(e.upstream for e in step.edges if e.pattern is RefPattern.EACH)
            )
            parent: str | None = None
            if targets:
                parent = self._chain_parent(sid, step, targets, steps, parent_of, depth)
            parent_of[sid] = parent
            if parent is None:
                root_of[sid], depth[sid] = sid, 0
                if step.fan_out is None and step.load.rate_per_s is None:
                    self._check_unfanned_names(step)
                out[sid] = step
                continue
            root_of[sid], depth[sid] = root_of[parent], depth[parent] + 1
            step = step.model_copy(update={"each_of": parent})
            self._check_clone_names(step, steps[root_of[sid]])
            out[sid] = step
        return out

    def _chain_parent(
        self,
        sid: str,
        step: Step,
        targets: list[str],
        steps: dict[str, Step],
        parent_of: dict[str, str | None],
        depth: dict[str, int],
    ) -> str | None:
        """The step whose instances ``sid`` is cloned over, or None (reported)."""
        if step.fan_out is not None:
            self.error(
                _pos(step.loc),
                "each-and-fan-out",
                f'step "{sid}" uses [each] and also sets {step.fan_out.kind}',
                "an [each] step is cloned per instance already; remove the count/for_each",
            )
        valid: list[str] = []
        for t in targets:
            if t not in steps:
                continue
            if steps[t].fan_out is None and parent_of.get(t) is None:
                self.error(
                    _pos(self._each_edge(step, t).loc),
                    "each-not-fanned",
                    f'"{t}[each]": step "{t}" is not fanned out',
                    "[each] follows the instances of a step with count or for_each; "
                    f"use {t}.output instead",
                )
                continue
            valid.append(t)
        if not valid:
            return None
        deepest = max(valid, key=lambda t: depth[t])
        if len(valid) > 1:
            line = set(_ancestry(deepest, parent_of))
            for t in valid:
                if t not in line:
                    self.error(
                        _pos(self._each_edge(step, t).loc),
                        "each-mixed",
                        f'step "{sid}" follows [each] of "{deepest}" and of "{t}", '
                        "which fan out separately",
                        "an [each] step can follow only one chain of fanned-out steps",
                    )
        return deepest

    @staticmethod
    def _each_edge(step: Step, upstream: str) -> Edge:
        return next(
            e for e in step.edges if e.upstream == upstream and e.pattern is RefPattern.EACH
        )

    def _clone_exprs(self, step: Step) -> list[Expr]:
        return [*step.arguments.values(), *([step.if_] if step.if_ else [])]

    def _check_clone_names(self, step: Step, root: Step) -> None:
        kind = root.fan_out.kind if root.fan_out else None
        if kind is None and root.load.rate_per_s is not None:
            kind = "count"  # arrivals at a rate are numbered by count.index
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
            done = set(order)
            left = {sid for sid in steps if sid not in done}
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
