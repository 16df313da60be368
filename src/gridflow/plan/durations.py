"""Durations as grids write them: seconds as a number, or ``"500ms"``, ``"1m30s"``.

One parser for every place a duration appears (meta-arguments, runner
inputs, var files), so they all accept the same spellings.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+")
_HELP = 'use seconds as a number or a string such as "500ms", "2s" or "1m30s"'


def parse_duration(value: object) -> float:
    """Seconds in ``value``; ``ValueError`` with a message for the user otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"invalid duration {_show(value)}: {_HELP}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid duration {_show(value)}: durations cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration of type {type(value).__name__}: {_HELP}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"invalid duration {_show(value)}: durations cannot be negative")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {_show(value)}: {_HELP}")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """A short human form: ``350ms``, ``1.5s``, ``2m3s``, ``1h2m``."""
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:.0f}ms" if ms >= 1 or ms == 0 else f"{ms:.3g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
