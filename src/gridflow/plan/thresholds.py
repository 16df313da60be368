"""k6-style pass/fail conditions on a burst's metrics (``thresholds { }``).

::

    thresholds {
      latency    = ["p(95) < 300ms", "max < 2s"]   # avg, min, med, max, p(N)
      error_rate = "< 1%"                          # or "rate < 0.01"
      rps        = "> 200"
      failures   = "== 0"                          # also: requests, dropped
    }

A condition is ``[aggregate] <op> <number>[unit]``; the attribute names the
metric. Latency values take a duration unit (``us``, ``ms``, ``s``, ``m``;
a bare number is milliseconds, as in k6); ``error_rate`` takes a fraction or
a percentage. Parsing happens when the grid is loaded, so a typo is a load
error with its line, never a surprise at the end of a long test.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

METRICS = ("latency", "error_rate", "rps", "requests", "failures", "dropped")
LATENCY_AGGREGATES = ("avg", "min", "med", "max")
_SCALAR_AGGREGATES = {"error_rate": ("rate",), "rps": ("rate", "value")}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_COND = re.compile(
    r"^\s*(?P<agg>[a-z]+(?:[0-9.]+|\(\s*[0-9.]+\s*\))?)?\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>us|µs|ms|s|m|%)?\s*$"
)
# p(95) as k6 writes it; p95 accepted too, as most reports spell it.
_PERCENTILE = re.compile(r"^p(?:\(\s*([0-9.]+)\s*\)|([0-9.]+))$")
_LATENCY_UNITS_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclasses.dataclass(frozen=True)
class Condition:
    """One parsed condition; ``value`` is in the metric's unit (latency: ms)."""

    metric: str
    aggregate: str  # "p95", "p99.9", "avg", "min", "med", "max", or "value"
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)


def parse_condition(metric: str, text: str) -> Condition:
    """Parse ``text`` as a condition on ``metric``; ValueError says how to fix it."""
    if metric not in METRICS:
        raise ValueError(f'unknown metric "{metric}": thresholds can check ' + ", ".join(METRICS))
    m = _COND.match(text)
    if m is None:
        example = '"p(95) < 300ms"' if metric == "latency" else '"< 0.01"'
        raise ValueError(
            f'"{text}" is not a condition: write [aggregate] <op> <number>[unit], e.g. {example}'
        )
    agg_text, op, unit = m.group("agg"), m.group("op"), m.group("unit")
    number = float(m.group("num"))
    if metric == "latency":
        aggregate = _latency_aggregate(agg_text, text)
        if unit == "%":
            raise ValueError(f'"{text}": latency takes a duration such as 300ms, not a percentage')
        value = number * _LATENCY_UNITS_MS[unit or "ms"]
    else:
        allowed = _SCALAR_AGGREGATES.get(metric, ("count", "value"))
        if agg_text is not None and agg_text not in allowed:
            raise ValueError(
                f'"{text}": {metric} has no aggregate "{agg_text}"; write e.g. "< 10"'
                if metric != "error_rate"
                else f'"{text}": write error_rate = "< 0.01" or "< 1%"'
            )
        aggregate = "value"
        if unit == "%":
            if metric != "error_rate":
                raise ValueError(f'"{text}": only error_rate takes a percentage')
            number /= 100.0
        elif unit is not None:
            raise ValueError(f'"{text}": {metric} takes a plain number, not {unit}')
        value = number
    return Condition(metric, aggregate, op, value)


def _latency_aggregate(agg: str | None, text: str) -> str:
    if agg is None:
        raise ValueError(
            f'"{text}": say which latency to check: avg, min, med, max or p(N), '
            f'e.g. "p(95) < 300ms"'
        )
    if agg in LATENCY_AGGREGATES:
        return agg
    m = _PERCENTILE.match(agg)
    if m is None:
        raise ValueError(
            f'"{text}": unknown latency aggregate "{agg}"; use avg, min, med, max or p(N)'
        )
    try:
        pct = float(m.group(1) or m.group(2))
    except ValueError:
        raise ValueError(f'"{text}": "{agg}" is not a percentile such as p(95)') from None
    if not 0 < pct <= 100:
        raise ValueError(f'"{text}": a percentile is between 0 and 100')
    return "p" + format(pct, "g")


def measured_value(condition: Condition, summary: Mapping[str, Any]) -> float | None:
    """The value ``condition`` checks, read from a burst metrics summary
    (``gridflow.burst.metrics`` shape); None when there is nothing to measure
    (no request finished: latency percentiles are undefined)."""
    if condition.metric == "latency":
        latency = summary.get("latency_ms") or {}
        key = {"avg": "mean", "med": "p50"}.get(condition.aggregate, condition.aggregate)
        if key in latency:
            value = latency[key]
        else:  # a percentile the summary does not list: computed on demand
            finder = summary.get("_percentile")
            value = finder(float(key[1:])) if callable(finder) else None
        return None if value is None else float(value)
    value = summary.get(condition.metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def describe(condition: Condition) -> str:
    """The condition in canonical form, e.g. ``latency p95 < 300ms``."""
    if condition.metric == "latency":
        return f"latency {condition.aggregate} {condition.op} {condition.value:g}ms"
    return f"{condition.metric} {condition.op} {condition.value:g}"
