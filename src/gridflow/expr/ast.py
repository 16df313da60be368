"""The expression tree gridflow evaluates, independent of any parser.

The HCL translator converts python-hcl2's lark tree into these nodes once, at
load time; the Plan stores them as JSON (``to_json``/``from_json``) so engine
workers evaluate arguments without re-parsing source text and without lark.

Every node carries ``line`` and ``col`` (1-based) of where it starts in its
file; the file name lives on the enclosing :class:`gridflow.plan.Expr`.

Two node kinds do not exist in HCL itself; the loader rewrites references into
them once it knows every step and resource in the grid:

* :class:`StepRef` — ``step.http_request.x`` or ``http_request.x`` (a step id),
* :class:`EachRef` — ``http_request.x[each]`` (this clone's own instance),
* :class:`ResourceRef` — ``resource.http_client.api``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeAlias

JSON: TypeAlias = Any


@dataclasses.dataclass(frozen=True, slots=True)
class Lit:
    """A literal: str, int, float, bool or None."""

    value: str | int | float | bool | None
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "lit"


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    """A string template: the parts are evaluated, turned to strings and joined.

    A template made of exactly one interpolation (``"${x}"``) yields the value
    itself, not its string form, as in HCL.
    """

    parts: tuple[Node, ...]
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "tpl"


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateIf:
    """``%{ if cond }then%{ else }else%{ endif }`` inside a template."""

    cond: Node
    then: Template
    otherwise: Template | None
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "tif"


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateFor:
    """``%{ for k, v in coll }body%{ endfor }`` inside a template."""

    key_var: str | None
    value_var: str
    collection: Node
    body: Template
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "tfor"


@dataclasses.dataclass(frozen=True, slots=True)
class Var:
    """A bare name: ``var``, ``local``, ``each``, ``count``, a for-variable..."""

    name: str
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "var"


@dataclasses.dataclass(frozen=True, slots=True)
class GetAttr:
    """``obj.name``."""

    obj: Node
    name: str
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "attr"


@dataclasses.dataclass(frozen=True, slots=True)
class Index:
    """``obj[key]`` (also the legacy ``obj.0`` form)."""

    obj: Node
    key: Node
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "index"


@dataclasses.dataclass(frozen=True, slots=True)
class Splat:
    """``obj[*].a.b`` / ``obj.*.a``: ``each_expr`` is applied to every element.

    ``each_expr`` is written over ``Var("__splat__")``, the current element.
    A non-list ``obj`` is treated as a one-element list (null as empty), as in
    HCL.
    """

    obj: Node
    each_expr: Node
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "splat"


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """``name(args...)``; ``expand_last`` is the ``...`` after the last argument."""

    name: str
    args: tuple[Node, ...]
    expand_last: bool = False
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "call"


@dataclasses.dataclass(frozen=True, slots=True)
class Unary:
    """``-x`` or ``!x``."""

    op: str
    operand: Node
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "unary"


@dataclasses.dataclass(frozen=True, slots=True)
class Binary:
    """``a op b`` for op in ``+ - * / % == != < > <= >= && ||``."""

    op: str
    left: Node
    right: Node
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "binary"


@dataclasses.dataclass(frozen=True, slots=True)
class Cond:
    """``cond ? then : otherwise``; only the chosen branch is evaluated."""

    cond: Node
    then: Node
    otherwise: Node
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "cond"


@dataclasses.dataclass(frozen=True, slots=True)
class TupleExpr:
    """``[a, b, c]``."""

    items: tuple[Node, ...]
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "tuple"


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectExpr:
    """``{ k = v, ... }``; bare identifier keys are already ``Lit`` strings."""

    items: tuple[tuple[Node, Node], ...]
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "object"


@dataclasses.dataclass(frozen=True, slots=True)
class ForTuple:
    """``[for k, v in coll : body if cond]``."""

    key_var: str | None
    value_var: str
    collection: Node
    body: Node
    cond: Node | None
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "fortuple"


@dataclasses.dataclass(frozen=True, slots=True)
class ForObject:
    """``{for k, v in coll : key => value... if cond}``; ``group`` is ``...``."""

    key_var: str | None
    value_var: str
    collection: Node
    key: Node
    value: Node
    cond: Node | None
    group: bool = False
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "forobject"


@dataclasses.dataclass(frozen=True, slots=True)
class StepRef:
    """A reference to a whole step by id (``"http_request.get_pages"``)."""

    step: str
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "stepref"


@dataclasses.dataclass(frozen=True, slots=True)
class EachRef:
    """``S[each]``: the instance of step ``S`` this clone was made for."""

    step: str
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "eachref"


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceRef:
    """``resource.<type>.<name>``: a shared resource, by id ``"<type>.<name>"``."""

    resource: str
    line: int = 0
    col: int = 0
    tag: ClassVar[str] = "resref"


Node: TypeAlias = (
    Lit
    | Template
    | TemplateIf
    | TemplateFor
    | Var
    | GetAttr
    | Index
    | Splat
    | Call
    | Unary
    | Binary
    | Cond
    | TupleExpr
    | ObjectExpr
    | ForTuple
    | ForObject
    | StepRef
    | EachRef
    | ResourceRef
)

_NODE_TYPES: tuple[type[Any], ...] = (
    Lit,
    Template,
    TemplateIf,
    TemplateFor,
    Var,
    GetAttr,
    Index,
    Splat,
    Call,
    Unary,
    Binary,
    Cond,
    TupleExpr,
    ObjectExpr,
    ForTuple,
    ForObject,
    StepRef,
    EachRef,
    ResourceRef,
)
_BY_TAG: dict[str, type[Any]] = {cls.tag: cls for cls in _NODE_TYPES}
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _NODE_TYPES
}


def _encode(value: Any) -> JSON:
    if isinstance(value, _NODE_TYPES):
        return to_json(value)
    if isinstance(value, tuple):
        return {"~": [_encode(v) for v in value]}
    return value


def _decode(value: JSON) -> Any:
    if isinstance(value, list):
        return from_json(value)
    if isinstance(value, dict):
        return tuple(_decode(v) for v in value["~"])
    return value


def to_json(node: Node) -> JSON:
    """Encode a node as compact JSON: ``[tag, field1, field2, ...]``.

    Tuples become ``{"~": [...]}`` so they are never confused with nodes.
    """
    cls = type(node)
    return [cls.tag, *(_encode(getattr(node, name)) for name in _FIELDS[cls])]


def from_json(data: JSON) -> Node:
    """Decode what :func:`to_json` produced."""
    cls = _BY_TAG[data[0]]
    values = [_decode(v) for v in data[1:]]
    node: Node = cls(*values)
    return node


def children(node: Node) -> list[Node]:
    """The direct sub-nodes of ``node``, in source order."""
    out: list[Node] = []
    for name in _FIELDS[type(node)]:
        _collect(getattr(node, name), out)
    return out


def _collect(value: Any, out: list[Node]) -> None:
    if isinstance(value, _NODE_TYPES):
        out.append(value)
    elif isinstance(value, tuple):
        for item in value:
            _collect(item, out)


def walk(node: Node) -> list[Node]:
    """Every node under ``node`` (itself included), depth first, in order."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def replace(node: Node, fn: Any) -> Node:
    """Rebuild ``node`` bottom-up, letting ``fn(node) -> node | None`` swap nodes.

    ``fn`` sees each node after its children were rebuilt; returning None keeps it.
    """
    cls = type(node)
    changed = False
    values: dict[str, Any] = {}
    for name in _FIELDS[cls]:
        old = getattr(node, name)
        new = _replace_value(old, fn)
        values[name] = new
        changed = changed or new is not old
    rebuilt: Node = cls(**values) if changed else node
    swapped = fn(rebuilt)
    return rebuilt if swapped is None else swapped


def _replace_value(value: Any, fn: Any) -> Any:
    if isinstance(value, _NODE_TYPES):
        return replace(value, fn)
    if isinstance(value, tuple):
        items = tuple(_replace_value(v, fn) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
