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
    ("text", "spec"),
    [
        ("list", "list(any)"),
        ("map", "map(any)"),
        ("object({a = optional(number)})", "object({a = number})"),
    ],
    ids=["bare-list", "bare-map", "optional"],
)
def test_parse_type_shorthands(text: str, spec: str) -> None:
    assert str(type_of(text)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strng", 'v.hcl:1:5: unknown type "strng" (did you mean "string"?)'),
        ('"string"', "v.hcl:1:5: a type is written without quotes (write type = string)"),
        ("list(string, number)", "v.hcl:1:5: list(...) takes one element type (e.g. list(string))"),
        ("optional(string)", "v.hcl:1:5: optional(...) is allowed only for object attributes"),
        (
            'object({a = optional(string, "x")})',
            "v.hcl:1:17: optional(...) with a default value is not supported "
            "(write optional(string) and handle null, "
            "or give the whole object in the variable's default)",
        ),
        ("map(strin)", 'v.hcl:1:9: unknown type "strin" (did you mean "string"?)'),
        (
            "frobnicate(string)",
            'v.hcl:1:5: unknown type "frobnicate" '
            "(types: string, number, bool, any, list, set, map, tuple, object)",
        ),
        (
            "tuple(string)",
            "v.hcl:1:5: tuple(...) takes a list of types (e.g. tuple([string, number]))",
        ),
        (
            "object([string])",
            "v.hcl:1:5: object(...) takes attribute types (e.g. object({ name = string }))",
        ),
        (
            "5",
            "v.hcl:1:5: this is not a type (types: string, number, bool, any, list, set, map, "
            "tuple, object)",
        ),
    ],
    ids=[
        "typo",
        "quoted",
        "arity",
        "optional-outside",
        "optional-default",
        "nested-typo",
        "unknown-call",
        "tuple-not-list",
        "object-not-object",
        "number",
    ],
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
        ("number", "12345678901234567890123", 12345678901234567890123),
        ("number", "-2.5", -2.5),
        ("number", "1e3", 1000),
        ("number", " 7 ", 7),
        ("string", 2.0, "2"),
        ("string", 0.5, "0.5"),
        ("bool", "true", True),
        ("list(string)", ("a", 1), ["a", "1"]),
        ("set(number)", [3, "1", 2, 1], [1, 2, 3]),
        ("set(any)", [1, True, "1", 1], [True, 1, "1"]),
        ("tuple([string, bool])", [1, "false"], ["1", False]),
        ("map(string)", {"a": 1, "b": None}, {"a": "1", "b": None}),
        ("object({a = object({b = number})})", {"a": {"b": "2"}}, {"a": {"b": 2}}),
        ("number", None, None),
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
        ("tuple([string])", ["a", "b"], "expected tuple([string]) with 1 element, got 2"),
        ("number", "1_000", 'expected number, got string "1_000"'),
        ("number", "nan", 'expected number, got string "nan"'),
        ("number", float("inf"), "expected number, got number inf"),
        ("number", True, "expected number, got bool true"),
        ("bool", "yes", 'expected bool, got string "yes"'),
        ("string", [1], "expected string, got list"),
        ("string", {"a": 1}, "expected string, got object"),
        ("list(number)", {"a": 1}, "expected list(number), got object"),
        ("map(number)", ["a"], "expected map(number), got list"),
        ("map(number)", {"a": {"b": 1}}, "at a: expected number, got object"),
        (
            "object({a = object({b = number})})",
            {"a": {"b": "x"}},
            'at a.b: expected number, got string "x"',
        ),
        ("object({a = object({b = number})})", {"a": {}}, 'at a: attribute "b" is required'),
        ("list(object({n = string}))", [{"n": "x"}, {}], 'at [1]: attribute "n" is required'),
        ("number", "x" * 40, 'expected number, got string "' + "x" * 27 + '..."'),
    ],
    ids=[
        "number",
        "nested",
        "object-field",
        "bool",
        "tuple-length",
        "underscore",
        "nan-string",
        "inf",
        "bool-as-number",
        "yes",
        "list-as-string",
        "object-as-string",
        "object-as-list",
        "list-as-map",
        "map-element",
        "nested-object",
        "nested-required",
        "list-of-objects",
        "long-string",
    ],
)
def test_coerce_mismatch(type_text: str, value: Any, message: str) -> None:
    with pytest.raises(TypeMismatch) as info:
        coerce(value, type_of(type_text))
    assert str(info.value) == message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
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
    "set(any)",
    "tuple([string, number])",
    "object({a = optional(list(number)), b = map(bool)})",
    "any",
]


@given(JSON, st.sampled_from(TYPES))
def test_coerce_raises_only_type_mismatch(value: Any, type_text: str) -> None:
    with contextlib.suppress(TypeMismatch):
        coerce(value, type_of(type_text))


@pytest.mark.parametrize(
    ("type_text", "value", "safe"),
    [
        ("number", "s3cret", "expected number, got string"),
        ("list(number)", [1, "s3cret"], "at [1]: expected number, got string"),
        ("bool", 12345, "expected bool, got number"),
        ("object({a = string})", {}, 'attribute "a" is required'),
    ],
    ids=["string", "nested", "number", "required"],
)
def test_mismatch_safe_str_hides_the_value(type_text: str, value: Any, safe: str) -> None:
    with pytest.raises(TypeMismatch) as info:
        coerce(value, type_of(type_text))
    assert info.value.safe_str() == safe
