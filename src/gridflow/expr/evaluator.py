"""The sandboxed evaluator for gridflow's expression tree.

:func:`evaluate` walks a :mod:`gridflow.expr.ast` tree against a
:class:`Scope`. It never uses Python ``eval``/``exec`` and never reaches a
Python attribute of any value: only dict keys, list indices and the query
methods of :class:`~gridflow.expr.values.StepInstances`.

Every failure is an :class:`~gridflow.errors.ExpressionError` (or
:class:`~gridflow.errors.LimitExceeded`) whose ``pos`` is the innermost node
that failed. :class:`Limits` bound what one ``evaluate()`` call may build, so a
hostile grid cannot exhaust memory or time: sizes are checked before large
values are allocated and all work is counted against ``max_work``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from gridflow.errors import ExpressionError, LimitExceeded, SourcePos, suggest
from gridflow.expr import ast
from gridflow.expr.format import format_number, short_json, to_template_string, type_name
from gridflow.expr.functions import (
    FUNCTIONS,
    Budget,
    CallEnv,
    FunctionError,
    arity_error,
    check_number,
    parse_number,
    values_equal,
)
from gridflow.expr.values import StepInstances

__all__ = ["DEFAULT_LIMITS", "Limits", "Scope", "evaluate", "references"]

SPLAT_VAR = "__splat__"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one ``evaluate()`` call may build."""

    max_string: int = 1_048_576  # characters in any one string produced
    max_items: int = 1_000_000  # elements in any one list/map produced
    max_work: int = 10_000_000  # nodes evaluated + elements/chars produced, per call
    max_depth: int = 200  # nesting of evaluation


DEFAULT_LIMITS = Limits()


@dataclasses.dataclass
class Scope:
    """Everything an expression can see."""

    roots: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    steps: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    each: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    resources: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    file: str = "<expr>"
    base_dir: str | None = None
    environ: Mapping[str, str] | None = None
    limits: Limits = DEFAULT_LIMITS
    # Makes uuid() repeatable: the same seed, expression and call give the same value.
    uuid_seed: str | None = None


def evaluate(node: ast.Node, scope: Scope) -> Any:
    """Evaluate ``node``; raises only :class:`~gridflow.errors.ExpressionError`."""
    ev = _Evaluator(scope)
    pos = SourcePos(scope.file, node.line, node.col)
    if scope.uuid_seed is not None:
        ev.env.uuid_seed = f"{scope.uuid_seed}@{pos}"
    try:
        return ev.eval(node, {})
    except ExpressionError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise LimitExceeded(
            "expression is too deeply nested or too large to evaluate",
            pos=ev.last_pos or pos,
            hint="simplify the expression or the data it works on",
        ) from exc
    except (
        ArithmeticError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        UnicodeError,
        re.error,
    ) as exc:
        # A safety net: the evaluator checks inputs so this should not happen;
        # if it does, the user still gets a positioned error, not a traceback.
        raise ExpressionError(
            f"internal error while evaluating the expression: {type(exc).__name__}: {exc}",
            pos=ev.last_pos or pos,
            hint="this is a gridflow bug; please report it with the expression",
        ) from exc


def walk_bound(node: ast.Node) -> list[tuple[ast.Node, frozenset[str]]]:
    """Every node under ``node`` with the for/splat variables bound where it sits."""
    out: list[tuple[ast.Node, frozenset[str]]] = []
    _walk_bound(node, frozenset(), out)
    return out


def root_members(node: ast.Node, root: str) -> list[ast.GetAttr]:
    """Every ``<root>.<name>`` under ``node`` (``var.x``, ``local.y``) where
    ``root`` is not a for/splat variable."""
    return [
        n
        for n, bound in walk_bound(node)
        if isinstance(n, ast.GetAttr)
        and isinstance(n.obj, ast.Var)
        and n.obj.name == root
        and root not in bound
    ]


def _walk_bound(
    n: ast.Node, bound: frozenset[str], out: list[tuple[ast.Node, frozenset[str]]]
) -> None:
    # A module function rather than a nested one that calls itself: that would
    # be a reference cycle per call, freed only by the garbage collector.
    out.append((n, bound))
    if isinstance(n, ast.ForTuple | ast.ForObject | ast.TemplateFor):
        _walk_bound(n.collection, bound, out)
        inner = bound | {n.value_var} | ({n.key_var} if n.key_var else frozenset())
        for child in ast.children(n):
            if child is not n.collection:
                _walk_bound(child, inner, out)
        return
    if isinstance(n, ast.Splat):
        _walk_bound(n.obj, bound, out)
        _walk_bound(n.each_expr, bound | {SPLAT_VAR}, out)
        return
    for child in ast.children(n):
        _walk_bound(child, bound, out)


def references(node: ast.Node) -> dict[str, set[str]]:
    """What ``node`` refers to: ``{"roots", "steps", "each", "resources", "functions"}``.

    Root names exclude for-expression variables bound inside ``node``; the
    loader uses this to order locals and check names before a run.
    """
    out: dict[str, set[str]] = {
        "roots": set(),
        "steps": set(),
        "each": set(),
        "resources": set(),
        "functions": set(),
    }
    for n, bound in walk_bound(node):
        if isinstance(n, ast.Var):
            if n.name not in bound:
                out["roots"].add(n.name)
        elif isinstance(n, ast.StepRef):
            out["steps"].add(n.step)
        elif isinstance(n, ast.EachRef):
            out["each"].add(n.step)
        elif isinstance(n, ast.ResourceRef):
            out["resources"].add(n.resource)
        elif isinstance(n, ast.Call):
            out["functions"].add(n.name)
    return out


Frame = dict[str, Any]


def _err(message: str, hint: str = "") -> ExpressionError:
    return ExpressionError(message, hint=hint)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key_list(keys: Any, limit: int = 8) -> str:
    names = [str(k) for k in keys]
    shown = ", ".join(f'"{k}"' if isinstance(k, str) else k for k in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in all)"
    return shown or "none"


class _Evaluator:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.limits = scope.limits
        self.budget = Budget(scope.limits)
        self.env = CallEnv(self.budget, scope.base_dir, scope.environ)
        self.depth = 0
        self.last_pos: SourcePos | None = None
        self.dispatch: dict[type[Any], Callable[[Any, Frame], Any]] = {
            ast.Lit: self._lit,
            ast.Template: self._template,
            ast.TemplateIf: self._template_if,
            ast.TemplateFor: self._template_for,
            ast.Var: self._var,
            ast.GetAttr: self._getattr,
            ast.Index: self._index,
            ast.Splat: self._splat,
            ast.Call: self._call,
            ast.Unary: self._unary,
            ast.Binary: self._binary,
            ast.Cond: self._cond,
            ast.TupleExpr: self._tuple,
            ast.ObjectExpr: self._object,
            ast.ForTuple: self._for_tuple,
            ast.ForObject: self._for_object,
            ast.StepRef: self._stepref,
            ast.EachRef: self._eachref,
            ast.ResourceRef: self._resref,
        }

    def pos(self, node: ast.Node) -> SourcePos:
        return SourcePos(self.scope.file, node.line, node.col)

    def at(self, node: ast.Node, message: str, hint: str = "") -> ExpressionError:
        return ExpressionError(message, pos=self.pos(node), hint=hint)

    def locate(self, exc: ExpressionError, node: ast.Node) -> None:
        """Give a position-less error the position of ``node``."""
        if exc.pos is None:
            ExpressionError.__init__(exc, exc.message, pos=self.pos(node), hint=exc.hint)

    def eval(self, node: ast.Node, frame: Frame) -> Any:
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise LimitExceeded(
                    f"expression is nested more than {self.limits.max_depth} levels deep",
                    hint="split it into locals",
                )
            self.budget.charge(1)
            handler = self.dispatch.get(type(node))
            if handler is None:
                raise _err(f"not an expression node: {type(node).__name__}")
            return handler(node, frame)
        except ExpressionError as exc:
            self.locate(exc, node)
            raise
        except (RecursionError, MemoryError, ArithmeticError, ValueError, TypeError, KeyError):
            if self.last_pos is None:
                self.last_pos = self.pos(node)
            raise
        finally:
            self.depth -= 1

    # ------------------------------------------------------------- leaves

    def _lit(self, node: ast.Lit, frame: Frame) -> Any:
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            check_number(value)
        elif not (value is None or isinstance(value, str | bool)):
            raise _err(f"unsupported literal of type {type(value).__name__}")
        return value

    def _var(self, node: ast.Var, frame: Frame) -> Any:
        if node.name in frame:
            return frame[node.name]
        roots = self.scope.roots
        if node.name in roots:
            return roots[node.name]
        names = [*roots, *(n for n in frame if n != SPLAT_VAR)]
        hint = suggest(node.name, names)
        if not hint:
            if node.name == "each":
                hint = '"each" exists only in a step or resource with for_each'
            elif node.name == "count":
                hint = '"count" exists only in a step with count'
            else:
                hint = f"names available here: {_key_list(sorted(names))}"
        raise _err(f'unknown name "{node.name}"', hint)

    def _stepref(self, node: ast.StepRef, frame: Frame) -> Any:
        try:
            return self.scope.steps[node.step]
        except KeyError:
            raise _err(
                f'step "{node.step}" is not available to this expression',
                "the reference was not wired to a step; check that the step exists "
                "and that this expression runs after it",
            ) from None

    def _eachref(self, node: ast.EachRef, frame: Frame) -> Any:
        try:
            return self.scope.each[node.step]
        except KeyError:
            raise _err(
                f'"{node.step}[each]" is not available to this expression',
                "[each] works only in a step cloned per instance of that step",
            ) from None

    def _resref(self, node: ast.ResourceRef, frame: Frame) -> Any:
        try:
            return self.scope.resources[node.resource]
        except KeyError:
            raise _err(
                f'resource "{node.resource}" is not available to this expression',
                f"declare it with a resource block, or check the name "
                f"{suggest(node.resource, self.scope.resources)}".rstrip(),
            ) from None

    # ---------------------------------------------------------- templates

    def _template(self, node: ast.Template, frame: Frame) -> Any:
        parts = node.parts
        if len(parts) == 1:
            only = parts[0]
            is_text = isinstance(only, ast.Lit) and isinstance(only.value, str)
            if not is_text and not isinstance(only, ast.TemplateIf | ast.TemplateFor):
                return self.eval(only, frame)
        return self._render(node, frame)

    def _render(self, node: ast.Template, frame: Frame) -> str:
        pieces: list[str] = []
        total = 0
        for part in node.parts:
            if isinstance(part, ast.Lit) and isinstance(part.value, str):
                text = part.value
            elif isinstance(part, ast.TemplateIf | ast.TemplateFor):
                text = self.eval(part, frame)
            else:
                value = self.eval(part, frame)
                try:
                    text = to_template_string(value)
                except ExpressionError as exc:
                    self.locate(exc, part)
                    raise
            total += len(text)
            self.budget.check_string(total, "template result")
            pieces.append(text)
        return self.budget.string("".join(pieces), "template result")

    def _template_if(self, node: ast.TemplateIf, frame: Frame) -> str:
        if self._bool(node.cond, frame, "%{if} condition"):
            return self._render(node.then, frame)
        if node.otherwise is None:
            return ""
        return self._render(node.otherwise, frame)

    def _template_for(self, node: ast.TemplateFor, frame: Frame) -> str:
        pairs = self._iterate(node.collection, frame, "%{for}")
        inner = dict(frame)
        pieces: list[str] = []
        total = 0
        for key, value in pairs:
            if node.key_var is not None:
                inner[node.key_var] = key
            inner[node.value_var] = value
            text = self._render(node.body, inner)
            total += len(text)
            self.budget.check_string(total, "template result")
            pieces.append(text)
        return self.budget.string("".join(pieces), "template result")

    # ------------------------------------------------------------- access

    def _getattr(self, node: ast.GetAttr, frame: Frame) -> Any:
        obj = self.eval(node.obj, frame)
        name = node.name
        if isinstance(obj, dict):
            if name in obj:
                return obj[name]
            root = node.obj.name if isinstance(node.obj, ast.Var) else None
            if root is not None and root in frame:
                root = None
            hint = suggest(name, obj) or f"available: {_key_list(sorted(obj))}"
            if root == "var":
                raise _err(
                    f'unknown variable "{name}"',
                    suggest(name, obj) or f'declare it with a variable "{name}" block',
                )
            if root == "local":
                raise _err(
                    f'unknown local "{name}"',
                    suggest(name, obj) or f"define {name} in a locals block",
                )
            raise _err(f'the map has no attribute "{name}"', hint)
        if isinstance(obj, StepInstances):
            if name == "output":
                return obj.outputs()
            if name == "first_output":
                return obj.first_output()
            raise _err(
                f'a fanned-out step has no attribute "{name}"',
                (suggest(name, ["output", "first_output"]) + " ").lstrip()
                + "use .output (all outputs), .first_output, or pick one instance with [index]",
            )
        if obj is None:
            raise _err(
                f'cannot read attribute "{name}" of null',
                "the value is null; check it first with a conditional or use try(...)",
            )
        if isinstance(obj, list):
            raise _err(
                f'cannot read attribute "{name}" of a list',
                f"use [*].{name} for every element, or [index].{name} for one",
            )
        raise _err(f'cannot read attribute "{name}" of a {type_name(obj)}')

    def _index(self, node: ast.Index, frame: Frame) -> Any:
        obj = self.eval(node.obj, frame)
        key = self.eval(node.key, frame)
        try:
            return self._lookup(obj, key)
        except ExpressionError as exc:
            # Wrong key type is the key's fault; a missing key is the access's.
            self.locate(exc, node)
            raise

    def _lookup(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, list):
            index = self._as_index(key)
            if not 0 <= index < len(obj):
                valid = f"valid indices are 0 to {len(obj) - 1}" if obj else "the list is empty"
                raise _err(
                    f"index {index} is out of range for a list of {len(obj)} elements", valid
                )
            return obj[index]
        if isinstance(obj, dict):
            name = self._as_key(key, "map key")
            if name in obj:
                return obj[name]
            hint = suggest(name, obj) or f"available keys: {_key_list(sorted(obj))}"
            raise _err(f'the map has no key "{name}"', hint)
        if isinstance(obj, StepInstances):
            instance = obj.lookup(key)
            if instance is None:
                if obj.keyed:
                    known = obj.keys()
                    hint = suggest(str(key), [str(k) for k in known]) or (
                        f"instance keys: {_key_list(known)}"
                    )
                else:
                    hint = f"valid indices are 0 to {len(obj) - 1}" if len(obj) else "it has none"
                raise _err(f"the step has no instance [{short_json(key)}]", hint)
            return instance
        if obj is None:
            raise _err(
                "cannot index null",
                "the value is null; check it first with a conditional or use try(...)",
            )
        if isinstance(obj, str):
            raise _err("cannot index a string", "use substr(string, offset, length)")
        raise _err(f"cannot index a {type_name(obj)}")

    def _as_index(self, key: Any) -> int:
        if isinstance(key, str):
            number = parse_number(key)
            key = number if number is not None else key
        if not _is_number(key):
            raise _err(
                f"a list index must be a number, got {type_name(key)}",
                "use a whole number such as [0]",
            )
        if isinstance(key, float):
            if not key.is_integer():
                raise _err(f"a list index must be a whole number, got {format_number(key)}")
            key = int(key)
        return int(key)

    def _as_key(self, key: Any, what: str) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, bool) or _is_number(key):
            return to_template_string(key)
        raise _err(f"a {what} must be a string, got {type_name(key)}")

    def _splat(self, node: ast.Splat, frame: Frame) -> Any:
        obj = self.eval(node.obj, frame)
        if isinstance(obj, StepInstances):
            items = obj.instance_list()
        elif isinstance(obj, list):
            items = obj
        elif obj is None:
            items = []
        elif isinstance(obj, dict):
            raise _err(
                "cannot use a splat [*] on a map",
                "use values(map)[*] or a for expression: [for k, v in map : v]",
            )
        else:
            items = [obj]
        inner = dict(frame)
        out = []
        for item in items:
            inner[SPLAT_VAR] = item
            out.append(self.eval(node.each_expr, inner))
        self.budget.items(len(out), "splat result")
        return out

    # ---------------------------------------------------------- functions

    def _call(self, node: ast.Call, frame: Frame) -> Any:
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise _err(
                f'unknown function "{node.name}"',
                suggest(node.name, FUNCTIONS) or "see the function list in the language reference",
            )
        if spec.lazy:
            if node.expand_last:
                raise _err(f"{node.name}() does not accept ... after its last argument")
            problem = arity_error(node.name, len(node.args))
            if problem:
                raise _err(problem, f"usage: {spec.usage}")
            return self._try(node, frame) if node.name == "try" else self._can(node, frame)
        if not node.expand_last:
            problem = arity_error(node.name, len(node.args))
            if problem:
                raise _err(problem, f"usage: {spec.usage}")
        args = [self.eval(arg, frame) for arg in node.args]
        if node.expand_last:
            if not args:
                raise _err(f"{node.name}(): ... needs a last argument to expand")
            last = args.pop()
            if isinstance(last, StepInstances):
                last = last.instance_list()
            if not isinstance(last, list):
                raise self.at(
                    node.args[-1],
                    f"{node.name}(): the argument before ... must be a list, got {type_name(last)}",
                    "remove the ... or pass a list",
                )
            args.extend(last)
            problem = arity_error(node.name, len(args))
            if problem:
                raise _err(problem + " after expanding ...", f"usage: {spec.usage}")
        assert spec.impl is not None  # only lazy specs have none
        try:
            result = spec.impl(self.env, args)
        except FunctionError as exc:
            culprit = exc.arg
            if culprit is not None and culprit < len(node.args) - int(node.expand_last):
                self.locate(exc, node.args[culprit])
            raise
        if isinstance(result, str):
            self.budget.check_string(len(result), f"{node.name}() result")
        elif isinstance(result, list | dict):
            self.budget.check_items(len(result), f"{node.name}() result")
        return result

    def _try(self, node: ast.Call, frame: Frame) -> Any:
        last: ExpressionError | None = None
        for arg in node.args:
            try:
                return self.eval(arg, frame)
            except LimitExceeded:
                raise  # try() must not turn a sandbox bound into a fallback
            except ExpressionError as exc:
                last = exc
        assert last is not None  # arity guarantees at least one argument
        raise _err(
            f"try(): no argument could be evaluated; the last failed with: {last}",
            "add a last argument that always works, such as a literal default",
        )

    def _can(self, node: ast.Call, frame: Frame) -> bool:
        try:
            self.eval(node.args[0], frame)
        except LimitExceeded:
            raise
        except ExpressionError:
            return False
        return True

    # ---------------------------------------------------------- operators

    def _bool(self, node: ast.Node, frame: Frame, what: str) -> bool:
        value = self.eval(node, frame)
        if not isinstance(value, bool):
            raise self.at(
                node,
                f"{what} must be a bool, got {type_name(value)}",
                'compare explicitly, e.g. x != "" or length(x) > 0',
            )
        return value

    def _unary(self, node: ast.Unary, frame: Frame) -> Any:
        if node.op == "!":
            return not self._bool(node.operand, frame, "the operand of !")
        if node.op == "-":
            value = self.eval(node.operand, frame)
            if not _is_number(value):
                raise _err(f"unary - needs a number, got {type_name(value)}")
            return check_number(-value)
        raise _err(f"unknown unary operator {node.op!r}")

    def _binary(self, node: ast.Binary, frame: Frame) -> Any:
        op = node.op
        if op in ("&&", "||"):
            left = self._bool(node.left, frame, f"the left operand of {op}")
            if (op == "&&" and not left) or (op == "||" and left):
                return left
            return self._bool(node.right, frame, f"the right operand of {op}")
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        if op == "==":
            return values_equal(left, right)
        if op == "!=":
            return not values_equal(left, right)
        if op not in _ARITH and op not in _COMPARE:
            raise _err(f"unknown operator {op!r}")
        if not (_is_number(left) and _is_number(right)):
            bad = type_name(right) if _is_number(left) else type_name(left)
            hint = ""
            if op == "+" and (isinstance(left, str) or isinstance(right, str)):
                hint = 'to join strings use a template: "${a}${b}"'
            elif isinstance(left, str) or isinstance(right, str):
                hint = "convert strings with tonumber(...)"
            raise _err(f"operator {op} needs numbers, got {bad}", hint)
        if op in _COMPARE:
            return bool(_COMPARE[op](left, right))
        try:
            return check_number(_ARITH[op](left, right))
        except OverflowError as exc:
            raise _err(
                f"the result of {op} is too large",
                "keep numbers below about 1e308",
            ) from exc

    def _cond(self, node: ast.Cond, frame: Frame) -> Any:
        if self._bool(node.cond, frame, "the condition of ? :"):
            return self.eval(node.then, frame)
        return self.eval(node.otherwise, frame)

    # -------------------------------------------------------- collections

    def _tuple(self, node: ast.TupleExpr, frame: Frame) -> Any:
        self.budget.items(len(node.items), "list")
        return [self.eval(item, frame) for item in node.items]

    def _object(self, node: ast.ObjectExpr, frame: Frame) -> Any:
        self.budget.items(len(node.items), "map")
        out: dict[str, Any] = {}
        for key_node, value_node in node.items:
            key = self.eval(key_node, frame)
            try:
                name = self._as_key(key, "map key")
            except ExpressionError as exc:
                self.locate(exc, key_node)
                raise
            if name in out:
                raise self.at(
                    key_node, f'duplicate map key "{name}"', "each key may appear only once"
                )
            out[name] = self.eval(value_node, frame)
        return out

    def _iterate(self, coll_node: ast.Node, frame: Frame, what: str) -> list[tuple[Any, Any]]:
        coll = self.eval(coll_node, frame)
        if isinstance(coll, StepInstances):
            coll = coll.instance_list()
        if isinstance(coll, list):
            return list(enumerate(coll))
        if isinstance(coll, dict):
            return sorted(coll.items())
        raise self.at(
            coll_node,
            f"{what} needs a list or map to iterate over, got {type_name(coll)}",
            "use coalesce(x, []) for a value that may be null" if coll is None else "",
        )

    def _bind(self, inner: Frame, key_var: str | None, value_var: str, k: Any, v: Any) -> None:
        if key_var is not None:
            inner[key_var] = k
        inner[value_var] = v

    def _for_tuple(self, node: ast.ForTuple, frame: Frame) -> Any:
        pairs = self._iterate(node.collection, frame, "for expression")
        inner = dict(frame)
        out = []
        for k, v in pairs:
            self._bind(inner, node.key_var, node.value_var, k, v)
            if node.cond is not None and not self._bool(node.cond, inner, "the for filter (if)"):
                continue
            out.append(self.eval(node.body, inner))
        self.budget.items(len(out), "for expression result")
        return out

    def _for_object(self, node: ast.ForObject, frame: Frame) -> Any:
        pairs = self._iterate(node.collection, frame, "for expression")
        inner = dict(frame)
        out: dict[str, Any] = {}
        for k, v in pairs:
            self._bind(inner, node.key_var, node.value_var, k, v)
            if node.cond is not None and not self._bool(node.cond, inner, "the for filter (if)"):
                continue
            raw = self.eval(node.key, inner)
            if raw is None:
                raise self.at(node.key, "a for expression's key must not be null")
            try:
                key = self._as_key(raw, "for expression key")
            except ExpressionError as exc:
                self.locate(exc, node.key)
                raise
            value = self.eval(node.value, inner)
            if node.group:
                out.setdefault(key, []).append(value)
            elif key in out:
                raise self.at(
                    node.key,
                    f'duplicate key "{key}" in a for expression',
                    "make keys unique, or add ... after the value to group values by key",
                )
            else:
                out[key] = value
        self.budget.items(len(out), "for expression result")
        return out


def _divide(a: int | float, b: int | float) -> int | float:
    if b == 0:
        raise _err("division by zero", "check the divisor, e.g. x == 0 ? 0 : y / x")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def _modulo(a: int | float, b: int | float) -> int | float:
    if b == 0:
        raise _err("modulo by zero", "check the divisor, e.g. x == 0 ? 0 : y % x")
    if isinstance(a, int) and isinstance(b, int):
        # Terraform's % keeps the sign of the dividend (like Go), unlike Python's.
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "%": _modulo,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}
