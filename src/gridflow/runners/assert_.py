"""``assert``: check a value — usually an upstream step's output — and fail if
any check does not hold.

Checks (each optional; at least one is required):

- ``status``: ``value.status_code`` is in the set (``200``, ``"2xx"``,
  ``"200-299"``, or a list).
- ``json``: map of path -> expected value. Paths are simple JSON paths:
  ``"$.data.id"``, ``"data.items[0].name"``, ``"$['odd key'][-1]"``. When
  ``value`` is an ``http_request`` output (it has ``status_code``), paths
  are looked up in its parsed ``json`` (or in its ``body`` parsed as JSON);
  otherwise in ``value`` itself. Comparison is JSON equality: ``1 == 1.0``,
  but ``true != 1`` and ``"42" != 42``.
- ``body_matches``: a regular expression found somewhere in ``value.body``.
- ``max_duration_ms``: ``value.duration_ms`` is at most this.
- ``equals``: ``value`` equals this (JSON equality, as above).
- ``that``: a boolean, typically computed by an expression, with ``message``
  naming what it means.

Output: ``{"passed": true, "checks": [{"check", "passed", "expected",
"actual"}, ...]}``. If any check fails the step fails with an
:class:`~gridflow.errors.ExpectedError` listing every failed check with what
was expected and what was found; ``details["checks"]`` holds the list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

import regex
from pydantic import AfterValidator, Field, StrictBool, model_validator

from gridflow.errors import ExpectedError
from gridflow.runners._http import StatusSet, StatusSpec
from gridflow.runners._types import json_field_allowed
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

REGEX_TIMEOUT = 1.0  # seconds for one body_matches search; bodies can be megabytes
SHOW_LIMIT = 120  # characters of a value shown in a failure message


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()

# -- JSON paths ---------------------------------------------------------------

_SEGMENT = re.compile(
    r"""\.(?P<name>[^.\[\]]+)            # .name
      | \[\s*(?P<index>-?\d+)\s*\]       # [0]  [-1]
      | \[\s*(?P<q>["'])(?P<key>.*?)(?P=q)\s*\]   # ["key"]  ['key']
    """,
    re.VERBOSE,
)


def parse_json_path(path: str) -> tuple[str | int, ...]:
    """``"$.data.items[0].name"`` -> ``("data", "items", 0, "name")``.

    A leading ``$`` is optional, and so is the dot before the first name.
    Raises ValueError saying where the path is malformed.
    """
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text and text[0] not in ".[":
        text = "." + text
    segments: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if m is None:
            raise ValueError(
                f'JSON path "{path}" is malformed at "{text[pos:]}": write names with dots '
                f'and indexes or quoted keys in brackets, e.g. "$.data.items[0].name"'
            )
        if m.group("name") is not None:
            segments.append(m.group("name").strip())
        elif m.group("index") is not None:
            segments.append(int(m.group("index")))
        else:
            segments.append(m.group("key"))
        pos = m.end()
    return tuple(segments)


def _format_path(segments: tuple[str | int, ...]) -> str:
    out = "$"
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", seg):
            out += f".{seg}"
        else:
            out += f"[{json.dumps(seg)}]"
    return out


def lookup(doc: Any, segments: tuple[str | int, ...]) -> tuple[Any, str]:
    """The value at ``segments`` in ``doc``, or ``(MISSING, why)``."""
    current = doc
    for i, seg in enumerate(segments):
        where = _format_path(segments[:i])
        if isinstance(seg, int):
            if not isinstance(current, list):
                return MISSING, f"{where} is {_type(current)}, not a list"
            if not -len(current) <= seg < len(current):
                return MISSING, f"{where} has {len(current)} items, no index {seg}"
            current = current[seg]
        else:
            if not isinstance(current, Mapping):
                return MISSING, f"{where} is {_type(current)}, not an object"
            if seg not in current:
                return MISSING, f'{where} has no key "{seg}"'
            current = current[seg]
    return current, ""


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: numbers compare by value, booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


# -- inputs -------------------------------------------------------------------


def _check_paths(paths: dict[str, Any] | None) -> dict[str, Any] | None:
    for path in paths or {}:
        parse_json_path(path)
    return paths


def _check_regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValueError(
                f"body_matches is not a valid regular expression: {exc}; escape special "
                f"characters such as ( [ . * with a backslash to match them literally"
            ) from exc
    return pattern


with json_field_allowed():

    class AssertInputs(RunnerInputs):
        value: Any = None
        status: StatusSpec | None = None
        # shadows the deprecated BaseModel.json() on purpose (see json_field_allowed)
        json: Annotated[dict[str, Any] | None, AfterValidator(_check_paths)] = None  # type: ignore[assignment]
        body_matches: Annotated[str | None, AfterValidator(_check_regex)] = None
        max_duration_ms: float | None = Field(default=None, ge=0)
        equals: Any = None
        # strict: a string such as "false" must not count as a truth to assert
        that: StrictBool | None = None
        message: str | None = None

        @model_validator(mode="after")
        def _something_to_check(self) -> AssertInputs:
            checks = {"status", "json", "body_matches", "max_duration_ms", "equals", "that"}
            if not checks & self.model_fields_set:
                raise ValueError(
                    "assert has nothing to check: set at least one of status, json, "
                    "body_matches, max_duration_ms, equals or that"
                )
            if self.message is not None and "that" not in self.model_fields_set:
                raise ValueError('message describes "that"; set that = <a boolean expression>')
            return self


class CheckResult(RunnerOutputs):
    check: str
    passed: bool
    expected: Any
    actual: Any
    note: str = ""


class AssertOutputs(RunnerOutputs):
    passed: bool
    checks: list[CheckResult]


# -- running ------------------------------------------------------------------


def _field(value: Any, name: str) -> tuple[Any, str]:
    if isinstance(value, Mapping) and name in value:
        return value[name], ""
    return MISSING, f"the value has no {name} (is it an http_request output?)"


def _json_document(value: Any) -> Any:
    if isinstance(value, Mapping) and "status_code" in value:
        doc = value.get("json")
        if doc is None and isinstance(value.get("body"), str):
            try:
                return json.loads(value["body"])
            except ValueError:
                return None
        return doc
    return value


def evaluate(inputs: AssertInputs) -> list[CheckResult]:
    """Every requested check, in a fixed order, passed or not."""
    value = inputs.value
    results: list[CheckResult] = []
    fields = inputs.model_fields_set

    def add(check: str, passed: bool, expected: Any, actual: Any, note: str = "") -> None:
        shown = None if actual is MISSING else actual
        results.append(CheckResult(check=check, passed=passed, expected=expected, actual=shown,
                                   note=note))  # fmt: skip

    if inputs.status is not None:
        code, note = _field(value, "status_code")
        add("status", code in inputs.status, _status_json(inputs.status), code, note)
    if inputs.json is not None:
        doc = _json_document(value)
        for path, expected in inputs.json.items():
            segments = parse_json_path(path)
            actual, note = lookup(doc, segments)
            ok = actual is not MISSING and json_equal(actual, expected)
            add(f"json {_format_path(segments)}", ok, expected, actual, note)
    if inputs.body_matches is not None:
        body, note = _field(value, "body")
        ok = False
        if isinstance(body, str):
            try:
                ok = regex.search(inputs.body_matches, body, timeout=REGEX_TIMEOUT) is not None
            except TimeoutError:
                note = f"the regular expression ran longer than {REGEX_TIMEOUT:g}s on this body"
        elif body is not MISSING:
            note = f"body is {_type(body)}, not a string"
        add("body_matches", ok, inputs.body_matches, _clip(body), note)
    if inputs.max_duration_ms is not None:
        duration, note = _field(value, "duration_ms")
        ok = isinstance(duration, int | float) and not isinstance(duration, bool)
        ok = ok and duration <= inputs.max_duration_ms
        add("max_duration_ms", ok, inputs.max_duration_ms, duration, note)
    if "equals" in fields:
        add("equals", json_equal(value, inputs.equals), inputs.equals, value)
    if inputs.that is not None:
        add(inputs.message or "that", inputs.that is True, True, inputs.that)
    return results


def _status_json(status: StatusSet) -> Any:
    items = status.to_json()
    return items[0] if len(items) == 1 else items


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SHOW_LIMIT:
        return value[:SHOW_LIMIT] + "..."
    return value


def show(value: Any) -> str:
    """A value as compact JSON for a message, cut to SHOW_LIMIT characters."""
    if value is MISSING:
        return "nothing"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= SHOW_LIMIT else text[: SHOW_LIMIT - 3] + "..."


def _expected_text(result: CheckResult) -> str:
    if result.check == "body_matches":
        return f"a match for {show(result.expected)}"
    if result.check == "max_duration_ms":
        return f"at most {show(result.expected)}"
    if result.check == "status" and isinstance(result.expected, list):
        return "one of " + ", ".join(show(e) for e in result.expected)
    return show(result.expected)


def failure_message(results: list[CheckResult]) -> str:
    """``N of M assert checks failed: <check>: expected X, got Y (why); ...``"""
    failed = [r for r in results if not r.passed]
    parts = []
    for r in failed:
        actual = "nothing" if r.actual is None and r.note else show(r.actual)
        text = f"{r.check}: expected {_expected_text(r)}, got {actual}"
        if r.note:
            text += f" ({r.note})"
        parts.append(text)
    return f"{len(failed)} of {len(results)} assert checks failed: " + "; ".join(parts)


class AssertRunner(Runner[AssertInputs, AssertOutputs]):
    """Fails the step unless every check on ``value`` holds."""

    name = "assert"
    Inputs = AssertInputs
    Outputs = AssertOutputs
    description = "Check a value (status, JSON paths, body regex, latency, equality)."

    async def run(self, inputs: AssertInputs, ctx: RunContext) -> AssertOutputs:
        results = evaluate(inputs)
        if not all(r.passed for r in results):
            raise ExpectedError(
                failure_message(results),
                details={"checks": [r.model_dump(mode="json") for r in results]},
            )
        return AssertOutputs(passed=True, checks=results)
