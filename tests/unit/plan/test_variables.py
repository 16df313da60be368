from __future__ import annotations

from typing import Any

import pytest

from gridflow.errors import UsageError
from gridflow.plan import Location, TypeSpec, Variable
from gridflow.plan.types import TypeMismatch
from gridflow.plan.variables import resolve_values, type_problem, unknown_variable

NUMBER = TypeSpec(kind="number")
STRING = TypeSpec(kind="string")
STRINGS = TypeSpec(kind="list", elem=STRING)


def var(
    name: str, spec: TypeSpec, *, line: int = 1, sensitive: bool = False, **default: Any
) -> Variable:
    return Variable(
        name=name,
        type=spec,
        default=default.get("default"),
        has_default="default" in default,
        sensitive=sensitive,
        loc=Location(file="main.hcl", line=line, col=1),
    )


DECLARED = {
    "base_url": var("base_url", STRING, line=1, default="http://127.0.0.1:8080"),
    "workers": var("workers", NUMBER, line=5),
    "pages": var("pages", STRINGS, line=9, default=["a"]),
    "token": var("token", STRING, line=13, sensitive=True),
    "pin": var("pin", NUMBER, line=17, sensitive=True, default=None),
}


@pytest.mark.parametrize(
    ("given", "values", "missing"),
    [
        (
            {},
            {"base_url": "http://127.0.0.1:8080", "pages": ["a"], "pin": None},
            ["workers", "token"],
        ),
        (
            {"workers": "4", "token": "s3cret"},
            {
                "base_url": "http://127.0.0.1:8080",
                "pages": ["a"],
                "pin": None,
                "workers": 4,
                "token": "s3cret",
            },
            [],
        ),
        (
            {"pages": ("x", 2), "base_url": 8080},
            {"base_url": "8080", "pages": ["x", "2"], "pin": None},
            ["workers", "token"],
        ),
        (
            {"base_url": None, "workers": None},
            {"base_url": "http://127.0.0.1:8080", "pages": ["a"], "pin": None},
            ["workers", "token"],
        ),
    ],
    ids=["defaults-only", "given-converted", "collections-and-numbers", "null-is-not-given"],
)
def test_resolve(given: dict[str, Any], values: dict[str, Any], missing: list[str]) -> None:
    assert resolve_values(DECLARED, given) == (values, missing)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"base_ur": "x"},
            'no variable "base_ur" is declared in the grid; did you mean "base_url"?',
        ),
        (
            {"zzz": 1},
            'no variable "zzz" is declared in the grid; '
            "declared variables: base_url, pages, pin, token, workers",
        ),
        (
            {"workers": "many"},
            'variable "workers" must be number (declared at main.hcl:5:1): '
            'expected number, got string "many"',
        ),
        (
            {"pages": ["a", ["b"]]},
            'variable "pages" must be list(string) (declared at main.hcl:9:1): '
            "at [1]: expected string, got list",
        ),
        (
            {"pin": "12ab34"},
            'variable "pin" must be number (declared at main.hcl:17:1): '
            "expected number, got string",
        ),
        (
            {"workers": [], "wrkers": 1},
            'variable "workers" must be number (declared at main.hcl:5:1): '
            "expected number, got list\n"
            'no variable "wrkers" is declared in the grid; did you mean "workers"?',
        ),
    ],
    ids=[
        "typo",
        "unknown-lists-declared",
        "type",
        "nested-type",
        "sensitive-hidden",
        "all-at-once",
    ],
)
def test_resolve_errors(given: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_values(DECLARED, given)
    assert str(info.value) == message


def test_sensitive_value_never_in_message() -> None:
    with pytest.raises(UsageError) as info:
        resolve_values(DECLARED, {"token": {"secret": "hunter2-password"}})
    assert "hunter2" not in str(info.value)
    assert str(info.value) == (
        'variable "token" must be string (declared at main.hcl:13:1): expected string, got object'
    )


def test_no_variables_declared() -> None:
    assert unknown_variable("x", []) == (
        'no variable "x" is declared in the grid; the grid declares no variables'
    )
    with pytest.raises(UsageError, match="the grid declares no variables"):
        resolve_values({}, {"x": 1})


def test_type_problem_shows_value_only_when_not_sensitive() -> None:
    exc = TypeMismatch(
        'expected number, got string "abc"', "[0]", redacted="expected number, got string"
    )
    plain = var("n", NUMBER)
    secret = var("n", NUMBER, sensitive=True)
    assert type_problem(plain, exc).endswith('at [0]: expected number, got string "abc"')
    assert type_problem(secret, exc).endswith("at [0]: expected number, got string")
