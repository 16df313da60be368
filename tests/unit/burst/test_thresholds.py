"""Threshold conditions: parsing table and judging."""

from __future__ import annotations

import pytest

from gridflow.plan.thresholds import Condition, measured_value, parse_condition


@pytest.mark.parametrize(
    ("metric", "text", "expected"),
    [
        pytest.param("latency", "p(95) < 300ms", ("p95", "<", 300.0), id="p95-ms"),
        pytest.param("latency", "p(99.9)<=1s", ("p99.9", "<=", 1000.0), id="p999-s"),
        pytest.param("latency", "avg < 200", ("avg", "<", 200.0), id="bare-number-is-ms"),
        pytest.param("latency", "max < 500us", ("max", "<", 0.5), id="microseconds"),
        pytest.param("latency", "med > 1m", ("med", ">", 60000.0), id="minutes"),
        pytest.param("latency", "p99 < 1s", ("p99", "<", 1000.0), id="p99-without-parens"),
        pytest.param("error_rate", "< 0.01", ("value", "<", 0.01), id="fraction"),
        pytest.param("error_rate", "rate < 1%", ("value", "<", 0.01), id="percent"),
        pytest.param("rps", ">= 100", ("value", ">=", 100.0), id="rps"),
        pytest.param("failures", "== 0", ("value", "==", 0.0), id="failures"),
        pytest.param("dropped", "count < 5", ("value", "<", 5.0), id="dropped-count"),
    ],
)
def test_parse(metric: str, text: str, expected: tuple[str, str, float]) -> None:
    cond = parse_condition(metric, text)
    assert (cond.aggregate, cond.op, cond.value) == expected


@pytest.mark.parametrize(
    ("metric", "text", "message"),
    [
        pytest.param("latency", "< 300ms", "say which latency to check", id="no-aggregate"),
        pytest.param("latency", "p(150) < 1s", "between 0 and 100", id="percentile-range"),
        pytest.param("latency", "q(95) < 1s", 'unknown latency aggregate "q', id="unknown-agg"),
        pytest.param("latency", "p(95) < 5%", "not a percentage", id="percent-latency"),
        pytest.param("error_rate", "< 5ms", "plain number", id="unit-on-rate"),
        pytest.param("rps", "fast", "is not a condition", id="garbage"),
        pytest.param("rps", "> 5%", "only error_rate", id="percent-rps"),
        pytest.param("cpu", "< 5", 'unknown metric "cpu"', id="unknown-metric"),
    ],
)
def test_parse_errors(metric: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_condition(metric, text)


def test_measured_value_reads_the_summary() -> None:
    summary = {
        "latency_ms": {"mean": 12.0, "p50": 10.0, "p95": 40.0, "max": 90.0},
        "error_rate": 0.02,
        "_percentile": lambda pct: pct,  # computed on demand for other percentiles
    }
    assert measured_value(Condition("latency", "p95", "<", 1), summary) == 40.0
    assert measured_value(Condition("latency", "med", "<", 1), summary) == 10.0
    assert measured_value(Condition("latency", "avg", "<", 1), summary) == 12.0
    assert measured_value(Condition("latency", "p75", "<", 1), summary) == 75.0
    assert measured_value(Condition("error_rate", "value", "<", 1), summary) == 0.02
    assert Condition("error_rate", "value", "<", 0.01).holds(0.02) is False
