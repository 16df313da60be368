"""assert: every check passing and failing, with the exact failure messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError
from gridflow.runners.assert_ import (
    MISSING,
    AssertInputs,
    AssertRunner,
    json_equal,
    lookup,
    parse_json_path,
)
from gridflow.runners.base import RunContext

RESPONSE: dict[str, Any] = {
    "status_code": 200,
    "headers": {"content-type": "application/json"},
    "body": '{"data": {"id": 42}}',
    "json": {"data": {"id": 42, "items": [{"name": "first"}, {"name": "second"}], "ok": True},
             "odd key": [1, 2, 3]},
    "duration_ms": 12.5,
}  # fmt: skip


def run(**args: Any) -> dict[str, Any]:
    inputs = AssertInputs.model_validate(args)
    out = asyncio.run(AssertRunner().run(inputs, RunContext(step_id="assert.t")))
    return out.model_dump(mode="json")


def fail(**args: Any) -> ExpectedError:
    with pytest.raises(ExpectedError) as info:
        run(**args)
    return info.value


@pytest.mark.parametrize(
    "args",
    [
        {"status": 200},
        {"status": "2xx"},
        {"status": "200-204"},
        {"status": [404, "2xx"]},
        {"json": {"$.data.id": 42}},
        {"json": {"data.items[0].name": "first", "$.data.items[-1].name": "second"}},
        {"json": {"$['odd key'][2]": 3, "$.data.ok": True}},
        {"json": {"$.data.id": 42.0}},
        {"json": {"$": RESPONSE["json"]}},
        {"body_matches": r'"id":\s*\d+'},
        {"max_duration_ms": 12.5},
        {"max_duration_ms": 100},
        {"that": True, "message": "all good"},
    ],
    ids=[
        "status-code",
        "status-class",
        "status-range",
        "status-list",
        "json-dollar",
        "json-no-dollar-and-negative-index",
        "json-quoted-key-and-bool",
        "json-int-equals-float",
        "json-root",
        "body-regex",
        "duration-equal",
        "duration-below",
        "that",
    ],
)
def test_checks_that_pass(args: dict[str, Any]) -> None:
    out = run(value=RESPONSE, **args)
    assert out["passed"] is True
    assert out["checks"]
    assert all(c["passed"] for c in out["checks"])


@pytest.mark.parametrize(
    ("value", "args", "message"),
    [
        (RESPONSE, {"status": 201},
         "1 of 1 assert checks failed: status: expected 201, got 200"),
        (RESPONSE, {"status": ["4xx", "500-599"]},
         'status: expected one of "4xx", "500-599", got 200'),
        ({"x": 1}, {"status": 200},
         "status: expected 200, got nothing (the value has no status_code "
         "(is it an http_request output?))"),
        (RESPONSE, {"json": {"$.data.id": "42"}}, 'json $.data.id: expected "42", got 42'),
        (RESPONSE, {"json": {"data.ok": 1}}, "json $.data.ok: expected 1, got true"),
        (RESPONSE, {"json": {"$.data.nope": 1}},
         'json $.data.nope: expected 1, got nothing ($.data has no key "nope")'),
        (RESPONSE, {"json": {"$.data.items[5].name": "x"}},
         'json $.data.items[5].name: expected "x", got nothing ($.data.items has 2 items, '
         "no index 5)"),
        (RESPONSE, {"json": {"$.data.id[0]": 1}},
         "json $.data.id[0]: expected 1, got nothing ($.data.id is a number, not a list)"),
        (RESPONSE, {"json": {"$.data.id.x": 1}},
         "json $.data.id.x: expected 1, got nothing ($.data.id is a number, not an object)"),
        (RESPONSE, {"body_matches": "^nope"},
         'body_matches: expected a match for "^nope", got "{\\"data\\": {\\"id\\": 42}}"'),
        (RESPONSE, {"max_duration_ms": 10},
         "max_duration_ms: expected at most 10.0, got 12.5"),
        ({"a": [1, 2]}, {"equals": {"a": [1, 2, 3]}},
         'equals: expected {"a": [1, 2, 3]}, got {"a": [1, 2]}'),
        (None, {"that": False, "message": "queue is empty"},
         "1 of 1 assert checks failed: queue is empty: expected true, got false"),
        (None, {"that": False}, "that: expected true, got false"),
    ],
    ids=["status", "status-list", "status-missing", "json-type", "json-bool-vs-number",
         "json-missing-key", "json-index-out-of-range", "json-index-into-number",
         "json-key-into-number", "body", "duration", "equals", "that-message", "that"],
)  # fmt: skip
def test_failures_name_expected_and_actual(value: Any, args: dict[str, Any], message: str) -> None:
    err = fail(value=value, **args)
    assert message in err.message
    assert err.message.startswith("1 of 1 assert checks failed: ")


def test_every_failed_check_is_listed() -> None:
    err = fail(
        value=RESPONSE,
        status=500,
        json={"$.data.id": 42, "$.data.ok": False},
        max_duration_ms=1,
    )
    assert err.message == (
        "3 of 4 assert checks failed: status: expected 500, got 200; "
        "json $.data.ok: expected false, got true; "
        "max_duration_ms: expected at most 1.0, got 12.5"
    )
    checks = err.details["checks"]
    assert isinstance(checks, list)
    assert [(c["check"], c["passed"]) for c in checks] == [
        ("status", False),
        ("json $.data.id", True),
        ("json $.data.ok", False),
        ("max_duration_ms", False),
    ]


def test_passing_output_lists_checks() -> None:
    out = run(value=RESPONSE, status="2xx", json={"data.id": 42})
    assert out == {
        "passed": True,
        "checks": [
            {"check": "status", "passed": True, "expected": "2xx", "actual": 200, "note": ""},
            {"check": "json $.data.id", "passed": True, "expected": 42, "actual": 42, "note": ""},
        ],
    }


@pytest.mark.parametrize(
    ("value", "expected", "ok"),
    [(None, None, True), (0, None, False), ([], [], True), ("a", "a", True), (1, True, False)],
    ids=["null-equals-null", "zero-is-not-null", "empty-lists", "strings", "one-is-not-true"],
)
def test_equals_is_json_equality_even_for_null(value: Any, expected: Any, ok: bool) -> None:
    if ok:
        assert run(value=value, equals=expected)["passed"] is True
    else:
        fail(value=value, equals=expected)


def test_json_paths_read_the_body_when_json_is_null() -> None:
    response = {**RESPONSE, "json": None, "body": '{"n": [7]}'}
    assert run(value=response, json={"n[0]": 7})["passed"] is True


def test_json_paths_on_a_plain_value() -> None:
    assert run(value={"a": {"b": "c"}}, json={"a.b": "c"})["passed"] is True


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"value": 1}, "assert has nothing to check: set at least one of status, json, "
                       "body_matches, max_duration_ms, equals or that"),
        ({"status": "2yy"}, '"2yy" is not a status; write a code (200), a class ("2xx"), '
                            'a range ("200-299") or a list of those'),
        ({"status": 700}, "700 is not an HTTP status code: codes run from 100 to 599"),
        ({"status": "299-200"}, 'status range "299-200" is empty: write the lower code first'),
        ({"status": []}, "the list of statuses is empty"),
        ({"status": True}, "true is not a status"),
        ({"json": {"$.a[": 1}}, 'JSON path "$.a[" is malformed at "["'),
        ({"body_matches": "(unclosed"}, "body_matches is not a valid regular expression"),
        ({"that": True, "message": 5}, "Input should be a valid string"),
        ({"message": "m", "status": 200}, 'message describes "that"'),
        ({"that": "yes"}, "Input should be a valid boolean"),
        ({"max_duration_ms": -1}, "greater than or equal to 0"),
        ({"expect": 200}, "Extra inputs are not permitted"),
    ],
    ids=["nothing-to-check", "bad-status-class", "status-out-of-range", "reversed-range",
         "empty-status-list", "bool-status", "bad-path", "bad-regex", "message-not-string",
         "message-without-that", "that-not-bool", "negative-duration", "unknown-argument"],
)  # fmt: skip
def test_bad_arguments(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        AssertInputs.model_validate(args)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("$", ()),
        ("", ()),
        ("$.a.b", ("a", "b")),
        ("a.b", ("a", "b")),
        ("a[0][-2]", ("a", 0, -2)),
        ("$['x.y'][\"z\"]", ("x.y", "z")),
        ("[3]", (3,)),
    ],
    ids=["root", "empty", "dotted", "bare", "indexes", "quoted", "leading-index"],
)
def test_parse_json_path(path: str, segments: tuple[str | int, ...]) -> None:
    assert parse_json_path(path) == segments


def test_lookup_missing_is_distinct_from_null() -> None:
    assert lookup({"a": None}, ("a",)) == (None, "")
    assert lookup({}, ("a",))[0] is MISSING


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        ({"a": [1, {"b": False}]}, {"a": [1, {"b": False}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("1", 1, False),
    ],
    ids=["int-float", "bool-int", "nested", "extra-key", "string-number"],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
