"""Turning expression values into text: template strings, type names, short JSON.

Errors raised here carry no source position; the evaluator adds the position
of the node being evaluated.
"""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

from gridflow.errors import ExpressionError
from gridflow.expr.values import ResourceHandle, StepInstances

__all__ = ["format_number", "short_json", "to_template_string", "type_name"]


def type_name(value: Any) -> str:
    """The HCL name of a value's type, as used in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, StepInstances):
        return "step instances"
    if isinstance(value, ResourceHandle):
        return "resource"
    return "unsupported value"


def format_number(value: int | float) -> str:
    """``5`` and ``5.0`` both give ``"5"``; ``2.5`` gives ``"2.5"``; never exponent form."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ExpressionError(
            f"the number {value} cannot be used",
            hint="an arithmetic result was not finite; check for overflow",
        )
    if value.is_integer():
        return str(int(value))
    # repr() is the shortest round-tripping form; Decimal spells out its
    # exponent so 1e-07 reads 0.0000001 as in Terraform.
    return format(decimal.Decimal(repr(value)), "f")


def to_template_string(value: Any) -> str:
    """The text a value contributes to a string template (HCL ``tostring`` rules)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if value is None:
        raise ExpressionError(
            "cannot use null in a string template",
            hint='give a fallback with coalesce(value, "") or check it with a conditional',
        )
    if isinstance(value, list | dict | StepInstances):
        raise ExpressionError(
            f"cannot use a {type_name(value)} in a string template",
            hint="convert it to text with jsonencode(...) or pick one element",
        )
    raise ExpressionError(
        f"cannot use a {type_name(value)} in a string template",
        hint="a resource can only be passed in a step's uses block",
    )


def short_json(value: Any, limit: int = 60) -> str:
    """A one-line, truncated JSON rendering of ``value`` for error messages."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # no need to encode a megabyte to show 60 characters
    try:
        text = json.dumps(value, ensure_ascii=False, default=type_name, allow_nan=True)
    except (ValueError, TypeError, RecursionError):
        text = f"<{type_name(value)}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
