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
        ("5ms", 0.005),
        (".5s", 0.5),
        ("1m0.5s", 60.5),
        ("10ns", 1e-8),
        (0, 0.0),
        ("8784h", 8784 * 3600.0),
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
        ("1_000", 'invalid duration "1_000": ' + HELP),
        ("1e3", 'invalid duration "1e3": ' + HELP),
        ("inf", 'invalid duration "inf": ' + HELP),
        (float("nan"), "invalid duration nan: " + HELP),
        ("ms", 'invalid duration "ms": ' + HELP),
        ("8785h", 'invalid duration "8785h": durations are limited to a year (8784h)'),
        (
            10**400,
            "invalid duration 1000000000000000000000000000000000000...: "
            "durations are limited to a year (8784h)",
        ),
    ],
    ids=[
        "unit",
        "negative-string",
        "negative-number",
        "bool",
        "empty",
        "list",
        "underscore",
        "exponent",
        "inf-string",
        "nan",
        "no-number",
        "over-a-year",
        "huge-int",
    ],
)
def test_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.35, "350ms"),
        (1.5, "1.5s"),
        (123, "2m3s"),
        (3720, "1h2m"),
        (60, "1m"),
        (0, "0s"),
        (0.00025, "250us"),
        (0.0125, "12.5ms"),
        (0.99996, "1s"),
        (59.97, "1m"),
        (12.345, "12.3s"),
        (3599.6, "1h"),
        (-1.5, "-1.5s"),
    ],
    ids=[
        "ms",
        "s",
        "m",
        "h",
        "whole-minute",
        "zero",
        "us",
        "fractional-ms",
        "rounds-up-to-s",
        "rounds-up-to-m",
        "three-digits",
        "rounds-up-to-h",
        "negative",
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.none()))
def test_only_value_error_escapes(value: object) -> None:
    try:
        result = parse_duration(value)
    except ValueError:
        return
    assert 0 <= result <= 8784 * 3600


@given(st.floats(min_value=0, max_value=8784 * 3600, allow_nan=False))
def test_format_reads_back_close(seconds: float) -> None:
    # Reports round, but what they show must parse back to about the same time.
    back = parse_duration(format_duration(seconds))
    assert back == pytest.approx(seconds, rel=0.02, abs=1e-9)
