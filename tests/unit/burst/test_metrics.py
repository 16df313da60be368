"""BurstMetrics: exact merging, percentiles within HDR precision, flat memory."""

from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram

from gridflow.burst.metrics import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, BurstMetrics

# Three significant digits: a recorded value reads back within 0.1 %.
HDR_PRECISION = 0.001


def new_histogram() -> HdrHistogram:
    """The HDR histogram BurstMetrics' buckets are those of (the reference)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_of(metrics: BurstMetrics) -> HdrHistogram:
    hist = new_histogram()
    for value, n in metrics.bucket_counts().items():
        hist.record_value(value, n)
    return hist


def _samples(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(-3.5, 0.8) for _ in range(n)]  # seconds, median ~30 ms


def _exact_percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] * 1000


@pytest.mark.parametrize("pct", [50.0, 90.0, 95.0, 99.0, 99.9])
def test_percentiles_match_the_exact_ones_within_hdr_precision(pct: float) -> None:
    values = _samples(20_000, seed=7)
    metrics = BurstMetrics()
    for v in values:
        metrics.record(v, status_code=200)
    measured = metrics.percentile_ms(pct)
    exact = _exact_percentile(values, pct)
    assert measured is not None
    # HDR reports the highest value equivalent to the bucket: within its precision,
    # plus one microsecond of integer rounding.
    assert abs(measured - exact) <= exact * HDR_PRECISION + 0.002, (measured, exact)


def test_merged_shards_equal_one_run_over_the_same_samples() -> None:
    values = _samples(9_000, seed=11)
    whole = BurstMetrics(started=1000.0)
    shards = [BurstMetrics(started=1000.0 + k) for k in range(3)]
    for i, v in enumerate(values):
        kind = "timeout" if i % 97 == 0 else None
        whole.record(v, status_code=200, error_kind=kind)
        shards[i % 3].record(v, status_code=200, error_kind=kind)
    merged = BurstMetrics.from_json(shards[0].to_json())
    for shard in shards[1:]:
        merged.merge_json(shard.to_json())
    a, b = histogram_of(merged), histogram_of(whole)
    assert a.get_total_count() == b.get_total_count() == 9_000
    for pct in (1, 25, 50, 75, 90, 99, 99.9, 100):
        assert a.get_value_at_percentile(pct) == b.get_value_at_percentile(pct)
    assert merged.requests == whole.requests
    assert merged.errors == whole.errors == {"timeout": len(range(0, 9000, 97))}
    assert merged.status_codes == whole.status_codes


def test_json_round_trip_keeps_counts_and_timeline() -> None:
    metrics = BurstMetrics()
    metrics.record(0.010, status_code=200)
    metrics.record(0.020, status_code=503, error_kind="expected")
    metrics.succeeded, metrics.failed, metrics.dropped = 1, 1, 3
    back = BurstMetrics.from_json(metrics.to_json())
    summary = back.summary()
    assert summary["requests"] == 2
    assert summary["failures"] == 1
    assert summary["errors"] == {"status": 1}
    assert summary["status_codes"] == {"200": 1, "503": 1}
    assert summary["dropped"] == 3
    assert sum(point["requests"] for point in summary["timeline"]) == 2
    assert back.succeeded == 1
    assert back.failed == 1


def test_memory_does_not_grow_with_requests() -> None:
    # Within one second of wall time every sample lands in the same bucket:
    # recording 200,000 values adds no objects.
    metrics = BurstMetrics()
    metrics.record(0.001)
    before = len(metrics._seconds)
    for _ in range(200_000):
        metrics.record(0.0015)
    assert len(metrics._seconds) - before <= 2
    assert metrics.requests == 200_001


def test_empty_metrics_have_no_latency() -> None:
    summary = BurstMetrics().summary()
    assert summary["requests"] == 0
    assert summary["error_rate"] == 0.0
    assert all(v is None for v in summary["latency_ms"].values())


def test_counting_by_bucket_gives_the_hdr_histogram_of_the_samples() -> None:
    # BurstMetrics counts samples by their HDR bucket instead of calling
    # record_value per sample: the histogram read back must be the same.
    values = [*_samples(5_000, seed=3), 0.0000005, 3.0, 3599.0, 0.002047, 0.002048, 0.0020491]
    metrics = BurstMetrics()
    direct = new_histogram()
    for v in values:
        metrics.record(v)
        direct.record_value(max(1, int(v * 1_000_000)))
    built = histogram_of(metrics)
    assert built.get_total_count() == direct.get_total_count()
    for pct in (0.1, 1, 10, 50, 90, 99, 99.9, 100):
        assert built.get_value_at_percentile(pct) == direct.get_value_at_percentile(pct)
    assert built.get_min_value() == direct.get_min_value()
    assert built.get_max_value() == direct.get_max_value()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_reads_the_counts_as_an_hdr_histogram_would(seed: int) -> None:
    # summary() computes percentiles, min, max and mean from the bucket
    # counts without building a histogram: the answers must be HDR's.
    from gridflow.burst.metrics import PERCENTILES

    rng = random.Random(seed)
    # Spread over many powers of two, bucket edges included.
    values = [rng.lognormvariate(-6, 2.0) for _ in range(3_000)] + [0.002047, 0.002048, 3.0]
    metrics = BurstMetrics()
    direct = new_histogram()
    for v in values:
        metrics.record(v)
        direct.record_value(max(1, int(v * 1_000_000)))
    latency = metrics.summary()["latency_ms"]
    for pct in PERCENTILES:
        name = "p" + format(pct, "g")
        assert latency[name] == round(direct.get_value_at_percentile(pct) / 1000, 3), name
    assert latency["min"] == round(direct.get_min_value() / 1000, 3)
    assert latency["max"] == round(direct.get_max_value() / 1000, 3)
    assert latency["mean"] == round(direct.get_mean_value() / 1000, 3)
    for pct in (0.0, 0.01, 100.0):
        assert metrics.percentile_ms(pct) == round(direct.get_value_at_percentile(pct) / 1000, 3)


def test_bucket_counts_survive_their_text_encoding() -> None:
    from gridflow.burst.metrics import decode_counts, encode_counts

    top = (3_600_000_000 >> 21) << 21  # the lowest value of the last second's top bucket
    counts = {1: 3, 2047: 1, 2048: 5, 4094: 2, top: 1}
    assert decode_counts(encode_counts(counts)) == counts
    assert decode_counts(encode_counts({})) == {}
