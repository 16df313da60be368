"""Durations as grids write them: seconds as a number, or ``"500ms"``, ``"1m30s"``.

One parser for every place a duration appears (meta-arguments, runner
inputs, var files), so they all accept the same spellings.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# "ms" must be tried before "m" and "s", or "5ms" would read as 5m + "s".
_UNIT = r"(?:ns|us|µs|ms|s|m|h)"
_PART = re.compile(f"({_NUMBER})({_UNIT})")
_WHOLE = re.compile(f"(?:{_NUMBER}{_UNIT})+")
_PLAIN = re.compile(_NUMBER)
# A year is far beyond any step or run; anything longer is a typo, and bounding it
# keeps float overflow (10**400 seconds) out of the schedulers' arithmetic.
_LONGEST = 366 * 24 * 3600.0
_TOO_LONG = "durations are limited to a year (8784h)"
_HELP = 'use seconds as a number or a string such as "500ms", "2s" or "1m30s"'


def parse_duration(value: object) -> float:
    """Seconds in ``value``; ``ValueError`` with a message for the user otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"invalid duration {_show(value)}: {_HELP}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"invalid duration {_show(value)}: {_HELP}")
        if value < 0:
            raise ValueError(f"invalid duration {_show(value)}: durations cannot be negative")
        if value > _LONGEST:
            raise ValueError(f"invalid duration {_show(value)}: {_TOO_LONG}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration of type {type(value).__name__}: {_HELP}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"invalid duration {_show(value)}: durations cannot be negative")
    # Python's float() would also take "1_0", "1e3", "inf" and "nan"; grids should not.
    if _PLAIN.fullmatch(text):
        seconds = float(text)
    elif _WHOLE.fullmatch(text):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    else:
        raise ValueError(f"invalid duration {_show(value)}: {_HELP}")
    if seconds > _LONGEST:
        raise ValueError(f"invalid duration {_show(value)}: {_TOO_LONG}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``250us``, ``350ms``, ``1.5s``, ``2m3s``, ``1h2m``."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    # Thresholds sit where three significant digits would round up to the next unit,
    # so 0.99996 s reads "1s" rather than "1e+03ms".
    if seconds == 0 or seconds * 1e9 < 0.5:
        return "0s"
    if seconds * 1e6 < 0.9995:
        return f"{seconds * 1e9:.3g}ns"
    if seconds * 1e3 < 0.9995:
        return f"{seconds * 1e6:.3g}us"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.3g}ms"
    if seconds < 59.95:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def _show(value: object) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
