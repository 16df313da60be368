"""Variable type constraints: read from a type expression, and applied to values.

Conversion follows Terraform's: strings and numbers/bools convert where no
information is lost (``"5"`` is a number 5, ``5`` is a string ``"5"``),
sets are de-duplicated lists, objects drop attributes they do not declare.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from gridflow.errors import ExpressionError, GridflowError, SourcePos, suggest
from gridflow.expr import ast
from gridflow.plan.models import TypeSpec

_PRIMITIVES = ("string", "number", "bool", "any")
_COLLECTIONS = ("list", "set", "map")
_ALL = (*_PRIMITIVES, *_COLLECTIONS, "tuple", "object")


class TypeMismatch(GridflowError):
    """A value does not fit a declared type; ``path`` says where inside it."""

    def __init__(self, message: str, path: str = "", *, redacted: str | None = None) -> None:
        self.message = message
        self.path = path
        # The same message without the offending value, for sensitive variables.
        self.redacted = redacted if redacted is not None else message
        super().__init__(f"at {path}: {message}" if path else message)

    def safe_str(self) -> str:
        """The message with no part of the value in it."""
        return f"at {self.path}: {self.redacted}" if self.path else self.redacted


def _mismatch(expected: object, value: Any, path: str) -> TypeMismatch:
    return TypeMismatch(
        f"expected {expected}, got {describe(value)}",
        path,
        redacted=f"expected {expected}, got {_kind(value)}",
    )


def _kind(value: Any) -> str:
    return describe(value).split(" ", 1)[0]


def parse_type(node: ast.Node, file: str) -> TypeSpec:
    """The :class:`TypeSpec` a ``type = ...`` expression declares."""

    def fail(n: ast.Node, message: str, hint: str = "") -> ExpressionError:
        return ExpressionError(message, pos=SourcePos(file, n.line, n.col), hint=hint)

    def unknown(n: ast.Node, name: str) -> ExpressionError:
        hint = suggest(name, _ALL) or "types: " + ", ".join(_ALL)
        return fail(n, f'unknown type "{name}"', hint)

    def read(n: ast.Node) -> TypeSpec:
        if isinstance(n, ast.Var):
            if n.name in _PRIMITIVES:
                return TypeSpec(kind=n.name)
            if n.name in _COLLECTIONS:
                return TypeSpec(kind=n.name, elem=TypeSpec(kind="any"))
            raise unknown(n, n.name)
        if isinstance(n, ast.Lit) and isinstance(n.value, str) and n.value in _ALL:
            raise fail(n, "a type is written without quotes", f"write type = {n.value}")
        if isinstance(n, ast.Call):
            if n.name in _COLLECTIONS:
                if len(n.args) != 1:
                    raise fail(n, f"{n.name}(...) takes one element type", f"e.g. {n.name}(string)")
                return TypeSpec(kind=n.name, elem=read(n.args[0]))
            if n.name == "tuple":
                if len(n.args) != 1 or not isinstance(n.args[0], ast.TupleExpr):
                    raise fail(
                        n, "tuple(...) takes a list of types", "e.g. tuple([string, number])"
                    )
                return TypeSpec(kind="tuple", items=tuple(read(i) for i in n.args[0].items))
            if n.name == "object":
                if len(n.args) != 1 or not isinstance(n.args[0], ast.ObjectExpr):
                    raise fail(
                        n, "object(...) takes attribute types", "e.g. object({ name = string })"
                    )
                fields: dict[str, TypeSpec] = {}
                optional: list[str] = []
                for key, value in n.args[0].items:
                    if not isinstance(key, ast.Lit) or not isinstance(key.value, str):
                        raise fail(key, "object attribute names must be plain names")
                    if isinstance(value, ast.Call) and value.name == "optional":
                        if not value.args:
                            raise fail(value, "optional(...) takes a type", "e.g. optional(string)")
                        if len(value.args) > 1:
                            # TypeSpec has nowhere to keep a default; dropping it silently
                            # would hand the grid null where its author expects a value.
                            raise fail(
                                value,
                                "optional(...) with a default value is not supported",
                                f"write optional({_text(value.args[0])}) and handle null, "
                                "or give the whole object in the variable's default",
                            )
                        optional.append(key.value)
                        value = value.args[0]
                    fields[key.value] = read(value)
                return TypeSpec(kind="object", fields=fields, optional=tuple(optional))
            if n.name == "optional":
                raise fail(n, "optional(...) is allowed only for object attributes")
            raise unknown(n, n.name)
        raise fail(n, "this is not a type", "types: " + ", ".join(_ALL))

    return read(node)


def _text(node: ast.Node) -> str:
    """A type expression written back, for hints; ``T`` where it is not a type."""
    if isinstance(node, ast.Var):
        return node.name
    if isinstance(node, ast.Call) and node.args:
        return f"{node.name}({_text(node.args[0])})" if len(node.args) == 1 else f"{node.name}(...)"
    return "T"


def describe(value: Any) -> str:
    """A value's type and a short rendering, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        # JSON quoting, so a quote or a new line inside cannot break the message apart.
        if len(value) <= 30:
            return "string " + json.dumps(value, ensure_ascii=False)
        return "string " + json.dumps(value[:27], ensure_ascii=False)[:-1] + '..."'
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def coerce(value: Any, spec: TypeSpec) -> Any:
    """``value`` converted to ``spec``; :class:`TypeMismatch` when it cannot be."""
    return _coerce(value, spec, "")


def _coerce(value: Any, spec: TypeSpec, path: str) -> Any:
    kind = spec.kind
    if kind == "any" or value is None:
        return value
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return (
                str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            )
        raise _mismatch("string", value, path)
    if kind == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, str):
            number = _number(value.strip())
            if number is not None:
                return number
        raise _mismatch("number", value, path)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        raise _mismatch("bool", value, path)
    elem = spec.elem or TypeSpec(kind="any")
    if kind in ("list", "set", "tuple"):
        if not isinstance(value, list | tuple):
            raise _mismatch(spec, value, path)
        if kind == "tuple":
            if len(value) != len(spec.items):
                want = len(spec.items)
                raise TypeMismatch(
                    f"expected {spec} with {want} element{'' if want == 1 else 's'}, "
                    f"got {len(value)}",
                    path,
                )
            return [
                _coerce(v, t, f"{path}[{i}]")
                for i, (v, t) in enumerate(zip(value, spec.items, strict=True))
            ]
        items = [_coerce(v, elem, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "set":
            unique = {_key(item): item for item in items}
            return [unique[k] for k in sorted(unique)]
        return items
    if not isinstance(value, dict):
        raise _mismatch(spec, value, path)
    if kind == "map":
        return {
            str(k): _coerce(v, elem, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    out: dict[str, Any] = {}
    for name, field in spec.fields.items():
        where = f"{path}.{name}" if path else name
        if name not in value:
            if name in spec.optional:
                out[name] = None
                continue
            raise TypeMismatch(f'attribute "{name}" is required', path)
        out[name] = _coerce(value[name], field, where)
    return out


# HCL number syntax; Python's float() would also take "1_000", "inf" and "nan".
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(text: str) -> int | float | None:
    if not _NUMBER.fullmatch(text):
        return None
    if text.lstrip("-").isdigit():
        # int() keeps every digit of a long id that float() would round.
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in text else number


def _key(value: Any) -> tuple[Any, ...]:
    """A hashable, totally ordered stand-in for a value, for sets.

    Python's ``True == 1`` would merge a bool with a number, and comparing a
    string with a number raises; tagging each value with its kind avoids both.
    """
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list | tuple):
        return ("list", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((str(k), _key(v)) for k, v in value.items())))
    return ("other", repr(value))
