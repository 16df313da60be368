"""Loader rules for a step's load settings: ``mode``, ``rate``, ``duration``,
``shards``, ``abort_on_fail`` and the ``thresholds`` block (``processes`` is
not implemented yet).

They are meta-arguments like ``retry``: evaluated when the grid is compiled
(variables and locals only), so a bad rate or threshold is a load error with
its line instead of a failure at the end of a long test.
"""

from __future__ import annotations

import math
import re
from typing import Any

from gridflow.plan.durations import parse_duration
from gridflow.plan.models import FanOut, Load, Threshold
from gridflow.plan.thresholds import METRICS, parse_condition
from gridflow.translators.hcl.blocks import Block
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.graph import GraphRules
from gridflow.translators.hcl.helpers import _kind, _loc, is_whole

_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*/\s*([0-9]*\.?[0-9]*\s*(?:ms|s|m|h))\s*$")
MAX_SHARDS = 1000
# Attributes that only make sense when a step runs as a burst.
BURST_ONLY = ("rate", "duration", "shards", "abort_on_fail")


def parse_rate(value: Any) -> float:
    """Arrivals per second from ``"500/s"``, ``"30/m"``, ``"5/100ms"`` or a number."""
    if isinstance(value, bool):
        raise ValueError(f'expected a rate such as "500/s", got {_kind(value)}')
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str):
        m = _RATE.match(value)
        if m is None:
            raise ValueError(f'"{value}" is not a rate: write "500/s", "30/m" or "5/100ms"')
        per = m.group(2).strip()
        period = parse_duration(per if per[0].isdigit() or per[0] == "." else "1" + per)
        if period <= 0:
            raise ValueError(f'"{value}": the period must be longer than zero')
        rate = float(m.group(1)) / period
    else:
        raise ValueError(f'expected a rate such as "500/s", got {_kind(value)}')
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"the rate must be more than zero, got {value!r}")
    if rate > 10_000_000:
        raise ValueError(f"{value!r} is more than 10,000,000 arrivals per second")
    return rate


class LoadRules(GraphRules):
    def _load(self, blk: Block, conv: Converter, what: str, fan_out: FanOut | None) -> Load:
        values: dict[str, Any] = {}
        attrs = blk.attrs
        mode = self._static_attr(blk, "mode", conv)
        if mode is not None:
            if mode not in ("auto", "burst", "tasks"):
                self.error(
                    attrs["mode"].pos,
                    "bad-mode",
                    f'mode of {what} must be "auto", "burst" or "tasks", got {_kind(mode)}',
                    'write mode = "burst" to run every instance in one task',
                )
            else:
                values["mode"] = mode
        if "rate" in attrs:
            rate = self._static_attr(blk, "rate", conv)
            if rate is not None:
                try:
                    values["rate_per_s"] = parse_rate(rate)
                except ValueError as exc:
                    self.error(attrs["rate"].pos, "bad-rate", f"rate of {what}: {exc}")
        if "duration" in attrs:
            dur = self._static_attr(blk, "duration", conv)
            if dur is not None:
                try:
                    seconds = parse_duration(dur)
                    if seconds <= 0:
                        raise ValueError("the duration must be longer than zero")
                    values["duration_s"] = seconds
                except ValueError as exc:
                    self.error(
                        attrs["duration"].pos,
                        "bad-duration",
                        f"duration of {what}: {exc}",
                        'e.g. duration = "60s"',
                    )
        # processes (several cores in one worker) is reported as not
        # implemented by the step rules; shards are the way to scale out.
        for name, top in (("shards", MAX_SHARDS),):
            if name in attrs:
                n = self._static_attr(blk, name, conv)
                if n is None:
                    continue
                if not is_whole(n) or not 1 <= n <= top:
                    self.error(
                        attrs[name].pos,
                        f"bad-{name}",
                        f"{name} of {what} must be a whole number from 1 to {top}, got {_kind(n)}",
                        f"write {name} = 4",
                    )
                    continue
                values[name] = int(n)
        abort = self._static_bool(blk, "abort_on_fail", conv, self.static_roots)
        if abort is not None:
            values["abort_on_fail"] = abort
        thresholds = self._thresholds(blk, conv, what)
        if thresholds:
            values["thresholds"] = thresholds
        self._check_load_shape(blk, what, fan_out, values)
        return Load(**values)

    def _static_attr(self, blk: Block, name: str, conv: Converter) -> Any:
        attr = blk.attrs.get(name)
        if attr is None:
            return None
        ok, value = self.static_attr(attr, conv)
        return value if ok else None

    def _thresholds(self, blk: Block, conv: Converter, what: str) -> tuple[Threshold, ...]:
        subs = [b for b in blk.blocks if b.type == "thresholds"]
        for extra in subs[1:]:
            self.error(
                extra.pos,
                "duplicate-block",
                f"{what} has more than one thresholds block",
                "merge them into one",
            )
        if not subs:
            return ()
        sub = subs[0]
        self._unknown_members(sub, METRICS, (), f"the thresholds block of {what}")
        out: list[Threshold] = []
        for metric, attr in sub.attrs.items():
            if metric not in METRICS:
                continue  # reported by _unknown_members
            ok, value = self.static_attr(attr, conv)
            if not ok:
                continue
            texts = value if isinstance(value, list) else [value]
            if not texts or not all(isinstance(t, str) for t in texts):
                self.error(
                    attr.pos,
                    "bad-threshold",
                    f"threshold {metric} of {what} must be a string or a list of strings, "
                    f"got {_kind(value)}",
                    'e.g. latency = ["p(95) < 300ms"]',
                )
                continue
            for text in texts:
                try:
                    cond = parse_condition(metric, text)
                except ValueError as exc:
                    self.error(attr.pos, "bad-threshold", f"threshold {metric} of {what}: {exc}")
                    continue
                out.append(
                    Threshold(
                        metric=metric,
                        text=text,
                        aggregate=cond.aggregate,
                        op=cond.op,
                        value=cond.value,
                        loc=_loc(attr.pos),
                    )
                )
        return tuple(out)

    def _check_load_shape(
        self, blk: Block, what: str, fan_out: FanOut | None, values: dict[str, Any]
    ) -> None:
        burst_only = [n for n in BURST_ONLY if n in blk.attrs]
        if any(b.type == "thresholds" for b in blk.blocks):
            burst_only.append("thresholds")
        if values.get("mode") == "tasks" and burst_only:
            self.error(
                blk.attrs["mode"].pos,
                "tasks-with-burst-settings",
                f'{what} sets mode = "tasks" and {", ".join(burst_only)}, which only a burst has',
                'remove mode = "tasks", or the burst settings',
            )
            return
        if fan_out is None and "rate" not in blk.attrs:
            if values.get("mode") == "burst" or burst_only:
                names = ['mode = "burst"'] if values.get("mode") == "burst" else burst_only
                first = "mode" if values.get("mode") == "burst" else burst_only[0]
                self.error(
                    blk.attrs[first].pos if first in blk.attrs else blk.pos,
                    "burst-without-fan-out",
                    f"{what} sets {', '.join(names)} but is not fanned out: only a step with "
                    f"count, for_each or rate runs as a burst",
                    "add count = N (closed model) or rate and duration (open model)",
                )
            return
        if "rate" in blk.attrs and "duration" not in blk.attrs and fan_out is None:
            self.error(
                blk.attrs["rate"].pos,
                "rate-without-end",
                f"{what} sets a rate but neither duration nor count: the burst would not end",
                'add duration = "60s" (or count = N to stop after N arrivals)',
            )
        if fan_out is not None and fan_out.kind == "for_each" and "rate" in blk.attrs:
            self.error(
                blk.attrs["rate"].pos,
                "rate-with-for-each",
                f"{what} sets rate with for_each: arrivals at a rate are counted, not keyed",
                "use count = N with the rate, or drop the rate",
            )
