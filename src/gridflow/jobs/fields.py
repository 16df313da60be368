"""Readers for the values job and inventory files hold, collecting problems.

Each reader takes a positioned YAML value (:mod:`gridflow.jobs.yamltree`),
returns the Python value it stands for or ``None``, and records what is
wrong as a :class:`~gridflow.errors.Diagnostic` at the value's file:line:col.
Nothing here raises for bad input: the caller collects every problem of a
file and raises one :class:`~gridflow.errors.LoadError` at the end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gridflow.errors import Diagnostic, SourcePos, suggest
from gridflow.jobs.model import Concurrency, FailureBudget
from gridflow.jobs.yamltree import YEntry, YMap, YScalar, YSeq, YValue, describe
from gridflow.plan.durations import format_duration, parse_duration
from gridflow.plan.models import Location

#: Node ids, group names and job names: they become parts of task ids and paths.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
NAME_RULE = "start with a letter or digit, then letters, digits, '.', '_' or '-' (128 at most)"

_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class Problems:
    """The diagnostics of one load, in the order found (LoadError sorts them)."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, pos: SourcePos, code: str, message: str, hint: str = "") -> None:
        self.items.append(Diagnostic.at(pos, code, message, hint))

    def extend(self, items: Sequence[Diagnostic]) -> None:
        self.items.extend(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)


def loc(pos: SourcePos) -> Location:
    return Location(file=pos.file, line=pos.line, col=pos.col)


def check_keys(
    mapping: YMap,
    allowed: Sequence[str],
    where: str,
    problems: Problems,
    *,
    hints: dict[str, str] | None = None,
    extensions: bool = False,
) -> None:
    """Report every key of ``mapping`` not in ``allowed``, with a "did you mean".

    ``hints`` gives a better fix for keys people are known to write by mistake.
    ``extensions`` lets ``x-`` keys through (as Docker Compose does): a place
    for YAML anchors that other entries merge in (``<<: *defaults``).
    """
    for entry in mapping:
        if entry.key in allowed or (extensions and entry.key.startswith("x-")):
            continue
        hint = (hints or {}).get(entry.key) or suggest(entry.key, allowed)
        if not hint:
            hint = f"{where} takes: {', '.join(allowed)}"
        problems.add(entry.key_pos, "unknown-key", f'unknown key "{entry.key}" in {where}', hint)


def expect_map(value: YValue, what: str, problems: Problems, hint: str = "") -> YMap | None:
    if isinstance(value, YMap):
        return value
    problems.add(value.pos, "wrong-type", f"{what} must be a mapping, got {describe(value)}", hint)
    return None


def expect_list(value: YValue, what: str, problems: Problems, hint: str = "") -> YSeq | None:
    if isinstance(value, YSeq):
        return value
    problems.add(value.pos, "wrong-type", f"{what} must be a list, got {describe(value)}", hint)
    return None


def expect_str(value: YValue, what: str, problems: Problems, hint: str = "") -> str | None:
    if isinstance(value, YScalar) and isinstance(value.value, str):
        return value.value
    problems.add(
        value.pos,
        "wrong-type",
        f"{what} must be a string, got {describe(value)}",
        hint or quote_hint(value),
    )
    return None


def expect_bool(value: YValue, what: str, problems: Problems) -> bool | None:
    if isinstance(value, YScalar) and isinstance(value.value, bool):
        return value.value
    problems.add(
        value.pos,
        "wrong-type",
        f"{what} must be true or false, got {describe(value)}",
        "write true or false",
    )
    return None


def expect_name(value: YValue, what: str, problems: Problems) -> str | None:
    """A node id, group or job name (see :data:`NAME_PATTERN`)."""
    text = expect_str(value, what, problems)
    if text is None:
        return None
    if not NAME_PATTERN.match(text):
        problems.add(
            value.pos, "bad-name", f'{what} "{_short(text)}" is not a valid name', NAME_RULE
        )
        return None
    return text


def expect_choice(
    value: YValue, what: str, choices: Sequence[str], problems: Problems
) -> str | None:
    text = expect_str(value, what, problems, f"write one of: {', '.join(choices)}")
    if text is None:
        return None
    if text not in choices:
        hint = suggest(text, choices) or f"write one of: {', '.join(choices)}"
        problems.add(
            value.pos, "bad-value", f'{what} "{_short(text)}" is not one of {_or(choices)}', hint
        )
        return None
    return text


def expect_int(value: YValue, what: str, problems: Problems, *, lo: int, hi: int) -> int | None:
    number = value.value if isinstance(value, YScalar) else None
    if isinstance(number, bool) or not isinstance(number, int):
        problems.add(
            value.pos,
            "wrong-type",
            f"{what} must be a whole number, got {describe(value)}",
            f"write a number from {lo} to {hi}",
        )
        return None
    if not lo <= number <= hi:
        problems.add(
            value.pos,
            "out-of-range",
            f"{what} must be from {lo} to {hi}, got {number}",
            f"write a number from {lo} to {hi}",
        )
        return None
    return number


def expect_duration(
    value: YValue, what: str, problems: Problems, *, longest: float
) -> float | None:
    """Seconds in a duration (``30``, ``"30s"``, ``"1m30s"``): above 0, at most ``longest``."""
    raw = value.value if isinstance(value, YScalar) else None
    if not isinstance(value, YScalar):
        problems.add(
            value.pos,
            "bad-duration",
            f"{what} must be a duration, got {describe(value)}",
            'write seconds as a number or a string such as "500ms", "30s" or "5m"',
        )
        return None
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        problems.add(value.pos, "bad-duration", f"{what}: {exc}")
        return None
    if seconds <= 0:
        problems.add(
            value.pos,
            "bad-duration",
            f"{what} must be longer than 0",
            'write a positive duration such as "30s", or leave it out for the default',
        )
        return None
    if seconds > longest:
        problems.add(
            value.pos,
            "bad-duration",
            f"{what} is {format_duration(seconds)}, longer than the {format_duration(longest)} "
            "allowed",
            f"write at most {format_duration(longest)}",
        )
        return None
    return seconds


def expect_concurrency(value: YValue, problems: Problems) -> Concurrency | None:
    """``concurrency``: nodes at once, ``2`` or ``"25%"``; at least 1 node, at most 100 %."""
    parsed = _amount(
        value, "concurrency", problems, 'write a number of nodes (2) or a share ("25%")'
    )
    if parsed is None:
        return None
    kind, number = parsed
    if kind == "count" and number < 1:
        problems.add(
            value.pos,
            "out-of-range",
            "concurrency must be at least 1 node",
            "leave concurrency out to run every node at once",
        )
        return None
    if kind == "percent" and not 0 < number <= 100:
        problems.add(
            value.pos,
            "out-of-range",
            f"concurrency must be above 0% and at most 100%, got {number:g}%",
            'write e.g. "25%"; a share rounds down, to at least one node',
        )
        return None
    return Concurrency(kind=kind, value=number)


def expect_failure_budget(value: YValue, problems: Problems) -> FailureBudget | None:
    """``tolerate_failures``: nodes that may fail, ``1`` or ``"34%"``; 0 to 100 %."""
    parsed = _amount(
        value,
        "tolerate_failures",
        problems,
        'write a number of nodes (1) or a share of the nodes ("34%")',
    )
    if parsed is None:
        return None
    kind, number = parsed
    if kind == "percent" and number > 100:
        problems.add(
            value.pos,
            "out-of-range",
            f"tolerate_failures cannot be more than 100%, got {number:g}%",
            'write a share from "0%" to "100%"',
        )
        return None
    return FailureBudget(kind=kind, value=number)


def _amount(value: YValue, what: str, problems: Problems, how: str) -> tuple[str, float] | None:
    raw = value.value if isinstance(value, YScalar) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 0:
            problems.add(value.pos, "out-of-range", f"{what} cannot be negative, got {raw}", how)
            return None
        return "count", float(raw)
    if isinstance(raw, str) and (m := _AMOUNT.match(raw)):
        number = float(m.group(1))
        if m.group(2):
            return "percent", number
        if number.is_integer():
            return "count", number
    problems.add(
        value.pos,
        "bad-amount",
        f"{what} must be a count or a percentage, got {describe(value)}",
        how,
    )
    return None


def quote_hint(value: YValue) -> str:
    """A hint for scalars YAML read as something other than text."""
    if isinstance(value, YScalar) and isinstance(value.value, bool):
        return "YAML reads yes/no/on/off/true/false as booleans: put the value in quotes"
    if isinstance(value, YScalar) and isinstance(value.value, int | float):
        return "put the value in quotes to make it a string"
    return ""


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _or(choices: Sequence[str]) -> str:
    quoted = [f'"{c}"' for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def entry_or_map(mapping: YMap, key: str) -> YEntry | YMap:
    """The entry for ``key`` when written, else the mapping (for "missing" messages)."""
    return mapping.entries.get(key) or mapping
