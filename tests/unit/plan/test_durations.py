from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridflow.plan.durations import format_duration, parse_duration

HELP = 'use seconds as a number or a string such as "500ms", "2s" or "1m30s"'


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (2, 2.0),
        (1.5, 1.5),
        ("2s", 2.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("2h45m", 9900.0),
        ("250us", 0.00025),
        ("1.5s", 1.5),
        ("3", 3.0),
        (" 2s ", 2.0),
    ],
    ids=lambda v: repr(v),
)
def test_parses(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2x",
            'invalid duration "2x": ' + HELP,
        ),
        ("-1s", 'invalid duration "-1s": durations cannot be negative'),
        (-3, "invalid duration -3: durations cannot be negative"),
        (
            True,
            "invalid duration True: " + HELP,
        ),
        (
            "",
            'invalid duration "": ' + HELP,
        ),
        (
            [1],
            "invalid duration of type list: " + HELP,
        ),
    ],
    ids=["unit", "negative-string", "negative-number", "bool", "empty", "list"],
)
def test_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.35, "350ms"), (1.5, "1.5s"), (123, "2m3s"), (3720, "1h2m"), (60, "1m")],
    ids=["ms", "s", "m", "h", "whole-minute"],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.none()))
def test_only_value_error_escapes(value: object) -> None:
    try:
        result = parse_duration(value)
    except ValueError:
        return
    assert result >= 0
