from __future__ import annotations

import contextlib
from typing import Any

import hcl2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridflow.errors import ExpressionError
from gridflow.plan import TypeSpec
from gridflow.plan.types import TypeMismatch, coerce, parse_type
from gridflow.translators.hcl.convert import Converter


def type_of(text: str) -> TypeSpec:
    tree = hcl2.parses_to_tree(f"t = {text}\n")
    attr = next(tree.find_data("attribute"))
    return parse_type(Converter("v.hcl").expr(attr.children[-1]), "v.hcl")


@pytest.mark.parametrize(
    "text",
    [
        "string",
        "number",
        "bool",
        "any",
        "list(string)",
        "set(number)",
        "map(bool)",
        "tuple([string, number])",
        "object({name = string, team = string})",
        "list(map(string))",
    ],
)
def test_parse_type_round_trips_through_str(text: str) -> None:
    assert str(type_of(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strng", 'v.hcl:1:5: unknown type "strng" (did you mean "string"?)'),
        ('"string"', "v.hcl:1:5: a type is written without quotes (write type = string)"),
        ("list(string, number)", "v.hcl:1:5: list(...) takes one element type (e.g. list(string))"),
        ("optional(string)", "v.hcl:1:5: optional(...) is allowed only for object attributes"),
    ],
    ids=["typo", "quoted", "arity", "optional-outside"],
)
def test_parse_type_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        type_of(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("type_text", "value", "expected"),
    [
        ("number", "5", 5),
        ("number", "1.5", 1.5),
        ("string", 5, "5"),
        ("string", True, "true"),
        ("bool", "false", False),
        ("set(string)", ["b", "a", "b"], ["a", "b"]),
        ("list(number)", ["1", 2], [1, 2]),
        ("map(number)", {"a": "1"}, {"a": 1}),
        ("object({a = string, b = optional(number)})", {"a": "x", "z": 1}, {"a": "x", "b": None}),
        ("any", {"k": [1]}, {"k": [1]}),
    ],
    ids=lambda v: repr(v),
)
def test_coerce(type_text: str, value: Any, expected: Any) -> None:
    assert coerce(value, type_of(type_text)) == expected


@pytest.mark.parametrize(
    ("type_text", "value", "message"),
    [
        ("number", "abc", 'expected number, got string "abc"'),
        ("list(string)", ["a", ["b"]], "at [1]: expected string, got list"),
        ("object({a = string})", {}, 'attribute "a" is required'),
        ("bool", 1, "expected bool, got number 1"),
        ("tuple([string])", ["a", "b"], "expected tuple([string]) with 1 elements, got 2"),
    ],
    ids=["number", "nested", "object-field", "bool", "tuple-length"],
)
def test_coerce_mismatch(type_text: str, value: Any, message: str) -> None:
    with pytest.raises(TypeMismatch) as info:
        coerce(value, type_of(type_text))
    assert str(info.value) == message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
TYPES = [
    "string",
    "number",
    "bool",
    "list(string)",
    "set(number)",
    "map(any)",
    "object({a = number})",
]


@given(JSON, st.sampled_from(TYPES))
def test_coerce_raises_only_type_mismatch(value: Any, type_text: str) -> None:
    with contextlib.suppress(TypeMismatch):
        coerce(value, type_of(type_text))
