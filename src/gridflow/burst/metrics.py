"""What a burst measures, kept flat in memory and mergeable across shards.

Latencies are counted in HDR histogram buckets (microseconds, 1 µs to one
hour, three significant digits): one set of counts per second of the run,
so the time series for reports costs nothing extra and the whole run's
histogram is their sum. Memory grows with the run's length in seconds,
never with its request count.

``to_json()`` is what crosses process boundaries (XCom, Prefect results,
shard workers): counters plus each second's bucket counts (compressed,
base64). ``merge_json()`` adds another shard's data exactly: merging the
shards of a burst gives the same histogram as one run over the same samples.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import zlib
from collections import Counter
from typing import Any

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
MAX_TIMELINE_SECONDS = 24 * 3600  # beyond that, samples land in the last second
ERROR_SAMPLES = 20  # first failures kept with their message, per step

# Failure kinds as reported: the runners' error kinds mapped to the words a
# load tester looks for.
KIND_NAMES = {
    "expected": "status",  # expect_status and other foreseen failures
    "assertion": "assertion",
    "timeout": "timeout",
    "connect": "connect",
    "read": "read",
    "retryable": "other",
    "cancelled": "cancelled",
}


# HDR with 3 significant digits keeps 2,048 sub-buckets per power of two:
# values that share their top 11 bits land in the same bucket. Samples are
# counted by that bucket's lowest value in a dict (a fraction of a
# microsecond each, against ~1.7 us for HdrHistogram.record_value in pure
# Python), and everything read from them (percentiles, min, max, mean) is
# computed from the counts with HDR's own rules. Building and walking
# HdrHistogram objects instead cost seconds at the end of a long burst.
_SUB_BUCKET_BITS = 11


def _bucket_of(us: int) -> int:
    """The lowest value of ``us``'s HDR bucket."""
    shift = us.bit_length() - _SUB_BUCKET_BITS
    return (us >> shift) << shift if shift > 0 else us


def _bucket_size(lowest: int) -> int:
    return 1 << max(lowest.bit_length() - _SUB_BUCKET_BITS, 0)


class _Second:
    """One second of a burst: counters and the latencies recorded in it."""

    __slots__ = ("counts", "failures", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.counts: dict[int, int] = {}  # lowest equivalent value (us) -> samples

    def add(self, us: int) -> None:
        counts = self.counts
        bucket = _bucket_of(us)
        counts[bucket] = counts.get(bucket, 0) + 1

    def add_counts(self, other: dict[int, int]) -> None:
        counts = self.counts
        for value, n in other.items():
            counts[value] = counts.get(value, 0) + n


class _Latencies:
    """Read-only view of summed bucket counts, answering as an HDR histogram
    of the same samples would (``get_value_at_percentile``, min, max, mean)."""

    def __init__(self, counts: dict[int, int]) -> None:
        self.values = sorted(counts)
        self.counts = [counts[v] for v in self.values]
        self.total = sum(self.counts)

    def percentiles(self, pcts: tuple[float, ...]) -> tuple[int, ...]:
        """HDR's value at each of ``pcts`` (ascending): the highest value of
        the first bucket whose cumulative count reaches the target."""
        out: list[int] = []
        i, seen = 0, 0
        for pct in pcts:
            target = max(int(min(pct, 100.0) * self.total / 100 + 0.5), 1)
            while seen < target and i < len(self.values):
                seen += self.counts[i]
                i += 1
            lowest = self.values[i - 1] if i else 0
            out.append(lowest + _bucket_size(lowest) - 1 if pct and i else lowest)
        return tuple(out)

    def min(self) -> int:
        return self.values[0] if self.values else 0

    def max(self) -> int:
        top = self.values[-1] if self.values else 0
        return top + _bucket_size(top) - 1 if top else 0

    def mean(self) -> float:
        if not self.total:
            return 0.0
        mid = sum(
            n * (v + (_bucket_size(v) >> 1)) for v, n in zip(self.values, self.counts, strict=True)
        )
        return mid / self.total


def encode_counts(counts: dict[int, int]) -> str:
    """Bucket counts as compact text (zlib, base64): sorted values as deltas."""
    values = sorted(counts)
    deltas = [b - a for a, b in itertools.pairwise([0, *values])]
    payload = json.dumps([deltas, [counts[v] for v in values]], separators=(",", ":"))
    return base64.b64encode(zlib.compress(payload.encode("ascii"))).decode("ascii")


def decode_counts(text: str) -> dict[int, int]:
    deltas, numbers = json.loads(zlib.decompress(base64.b64decode(text)))
    out: dict[int, int] = {}
    value = 0
    for delta, n in zip(deltas, numbers, strict=True):
        value += int(delta)
        # Re-bucketed: a count from elsewhere still lands on a bucket's lowest value.
        bucket = _bucket_of(value)
        out[bucket] = out.get(bucket, 0) + int(n)
    return out


class BurstMetrics:
    """Counters and latency histograms of one step's calls in one burst (or shard)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = started if started is not None else time.time()
        self.ended: float | None = None
        self.requests = 0  # calls of the runner (attempts), each one latency sample
        self.failures = 0  # calls that failed
        self.instances = 0  # instances finished (all their attempts)
        self.succeeded = 0
        self.failed = 0
        self.skipped = 0
        self.cancelled = 0
        self.dropped = 0  # open model: arrivals that found no free slot
        self.late = 0  # open model: arrivals started after their time
        self.errors: Counter[str] = Counter()
        self._codes: dict[int, int] = {}  # status code -> responses (recorded here)
        self._merged_codes: Counter[str] = Counter()  # ... and merged in from shards
        self.error_samples: list[dict[str, Any]] = []
        self._seconds: dict[int, _Second] = {}
        self._origin = int(self.started)
        self._bucket: _Second | None = None  # the current second's, until tick()

    def tick(self) -> None:
        """Forget the current second's bucket so the next record looks it up
        again (called a few times a second by the burst's monitor)."""
        self._bucket = None

    # ---------------------------------------------------------------- record
    def record(
        self, latency_s: float, *, status_code: int | None = None, error_kind: str | None = None
    ) -> None:
        """One call: its latency, its HTTP status if it has one, its failure kind."""
        # No clock read per call: the bucket is looked up again after tick().
        bucket = self._bucket
        if bucket is None:
            bucket = self._current_bucket()
        us = int(latency_s * 1_000_000)
        bucket.add(LOWEST_US if us < LOWEST_US else min(us, HIGHEST_US))
        bucket.requests += 1
        self.requests += 1
        if status_code is not None:
            codes = self._codes
            codes[status_code] = codes.get(status_code, 0) + 1
        if error_kind is not None:
            bucket.failures += 1
            self.failures += 1
            self.errors[KIND_NAMES.get(error_kind, error_kind)] += 1

    def _current_bucket(self) -> _Second:
        now = time.time()
        second = min(int(now) - self._origin, MAX_TIMELINE_SECONDS)
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = _Second()
        self._bucket = bucket
        return bucket

    @property
    def status_codes(self) -> Counter[str]:
        """Responses by status code (as strings, the JSON keys)."""
        out = Counter({str(code): n for code, n in self._codes.items()})
        out.update(self._merged_codes)
        return out

    def sample_error(self, instance: Any, kind: str, message: str) -> None:
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append({"instance": instance, "kind": kind, "message": message})

    # ----------------------------------------------------------------- query
    def bucket_counts(self) -> dict[int, int]:
        """The whole run's latencies: samples per HDR bucket (its lowest value, us).

        Recorded into an ``HdrHistogram(LOWEST_US, HIGHEST_US,
        SIGNIFICANT_DIGITS)`` they make the histogram of the same samples."""
        total: dict[int, int] = {}
        for bucket in self._seconds.values():
            for value, n in bucket.counts.items():
                total[value] = total.get(value, 0) + n
        return total

    def summary(self) -> dict[str, Any]:
        """The metrics as results show them (SPEC §6): counts, rates, latency in ms."""
        ended = self.ended if self.ended is not None else time.time()
        elapsed = max(ended - self.started, 1e-9)
        lat = _Latencies(self.bucket_counts())
        latency: dict[str, float | None]
        if lat.total:
            at = lat.percentiles(PERCENTILES)
            latency = {
                "min": _ms(lat.min()),
                "mean": round(lat.mean() / 1000, 3),
                **{_pname(p): _ms(v) for p, v in zip(PERCENTILES, at, strict=True)},
                "max": _ms(lat.max()),
            }
        else:
            latency = dict.fromkeys(["min", "mean", *map(_pname, PERCENTILES), "max"])
        timeline = []
        for second in sorted(self._seconds):
            b = self._seconds[second]
            p50, p99 = _Latencies(b.counts).percentiles((50.0, 99.0))
            timeline.append(
                {
                    "t": self._origin + second,
                    "requests": b.requests,
                    "failures": b.failures,
                    "p50": _ms(p50),
                    "p99": _ms(p99),
                }
            )
        return {
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": round(self.failures / self.requests, 6) if self.requests else 0.0,
            "rps": round(self.requests / elapsed, 3),
            "duration_s": round(elapsed, 3),
            "errors": dict(sorted(self.errors.items())),
            "status_codes": dict(sorted(self.status_codes.items())),
            "dropped": self.dropped,
            "late": self.late,
            "latency_ms": latency,
            "timeline": timeline,
            "error_samples": list(self.error_samples),
        }

    def percentile_ms(self, pct: float) -> float | None:
        lat = _Latencies(self.bucket_counts())
        return _ms(lat.percentiles((pct,))[0]) if lat.total else None

    # ------------------------------------------------------ serialise, merge
    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "ended": self.ended,
            "counts": {
                "requests": self.requests,
                "failures": self.failures,
                "instances": self.instances,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "skipped": self.skipped,
                "cancelled": self.cancelled,
                "dropped": self.dropped,
                "late": self.late,
            },
            "errors": dict(self.errors),
            "status_codes": dict(self.status_codes),
            "error_samples": list(self.error_samples),
            "seconds": {
                str(self._origin + s): [b.requests, b.failures, encode_counts(b.counts)]
                for s, b in self._seconds.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BurstMetrics:
        m = cls(started=float(data["started"]))
        m.ended = data.get("ended")
        m.merge_json(data, keep_window=True)
        return m

    def merge_json(self, data: dict[str, Any], *, keep_window: bool = False) -> None:
        """Add another burst's (or shard's) :meth:`to_json` into this one."""
        counts = data["counts"]
        for name in (
            "requests",
            "failures",
            "instances",
            "succeeded",
            "failed",
            "skipped",
            "cancelled",
            "dropped",
            "late",
        ):
            setattr(self, name, getattr(self, name) + int(counts.get(name, 0)))
        self.errors.update(data.get("errors") or {})
        self._merged_codes.update(data.get("status_codes") or {})
        room = ERROR_SAMPLES - len(self.error_samples)
        if room > 0:
            self.error_samples.extend((data.get("error_samples") or [])[:room])
        if not keep_window:
            # The merged run spans from the earliest start to the latest end.
            self.started = min(self.started, float(data["started"]))
            if data.get("ended") is not None:
                self.ended = max(self.ended or 0.0, float(data["ended"]))
        origin = int(self.started)
        if origin < self._origin:  # re-key what is here to the earlier origin
            shift = self._origin - origin
            self._seconds = {s + shift: b for s, b in self._seconds.items()}
            self._origin = origin
        for epoch, (requests, failures, encoded) in (data.get("seconds") or {}).items():
            second = min(int(epoch) - self._origin, MAX_TIMELINE_SECONDS)
            bucket = self._seconds.get(second)
            if bucket is None:
                bucket = self._seconds[second] = _Second()
            bucket.add_counts(decode_counts(encoded))
            bucket.requests += int(requests)
            bucket.failures += int(failures)


def _ms(us: float) -> float:
    return round(us / 1000, 3)


def _pname(pct: float) -> str:
    return "p" + format(pct, "g")
