"""Bursts end to end: ``gridflow run -o json`` on every engine against the
real local HTTP server (tests/support/http_server.py), every load bounded in
count and time."""

from __future__ import annotations

import socket

import pytest

from tests.e2e.conftest import GridRunner
from tests.support.http_server import LocalHTTPServer

pytestmark = pytest.mark.timeout(240)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_large_fan_out_runs_as_one_burst_and_keeps_outputs_that_are_read(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    # Acceptance (issue #5): 3,000 instances above the default threshold; the
    # downstream length() still sees every output.
    result = run_grid(
        f"""
        step "http_request" "load" {{
          count = 3000
          concurrency {{ limit = 50 }}
          arguments {{ url = "{http_server.url}/status/200?burst=acceptance" }}
        }}
        step "print" "n" {{
          arguments {{ input = length(step.http_request.load.output) }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    load = result.step("http_request.load")
    assert load["succeeded"] == 3000
    assert load["instances"] == 3000
    metrics = load["metrics"]
    assert metrics["mode"] == "burst"
    assert metrics["requests"] == 3000
    assert metrics["status_codes"] == {"200": 3000}
    assert metrics["rps"] > 0
    assert set(metrics["latency_ms"]) == {"min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"}
    assert metrics["latency_ms"]["min"] <= metrics["latency_ms"]["p50"] <= metrics["latency_ms"]["max"]
    assert len(load["outputs"]) == 3000  # kept: print.n reads them
    assert result.step("print.n")["output"] == 3000


def test_outputs_are_not_kept_when_nothing_reads_them(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "load" {{
          count = 200
          mode  = "burst"
          arguments {{ url = "{http_server.url}/status/204" }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    load = result.step("http_request.load")
    assert "outputs" not in load
    assert load["succeeded"] == 200
    assert load["metrics"]["status_codes"] == {"204": 200}


def test_each_chain_runs_inside_the_burst_per_instance(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "get" {{
          count = 30
          mode  = "burst"
          arguments {{ url = "{http_server.url}/echo?i=${{count.index}}" }}
        }}
        step "print" "seen" {{
          arguments {{
            input = "${{count.index}}=${{step.http_request.get[each].output.json.query.i}}"
          }}
        }}
        step "print" "all" {{
          arguments {{ input = join(",", step.print.seen.output) }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    seen = result.step("print.seen")
    assert seen["metrics"]["mode"] == "burst"
    assert seen["succeeded"] == 30
    assert seen["outputs"] == [f"{i}={i}" for i in range(30)]
    assert result.step("print.all")["output"] == ",".join(f"{i}={i}" for i in range(30))


def test_failing_threshold_fails_the_run_naming_threshold_and_value(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "slow" {{
          count = 20
          concurrency {{ limit = 10 }}
          thresholds {{
            latency    = ["p(95) < 5ms"]
            error_rate = "< 1%"
          }}
          arguments {{ url = "{http_server.url}/delay/60" }}
        }}
        """
    )
    assert result.exit_code == 1
    slow = result.step("http_request.slow")
    assert slow["status"] == "failed"
    judged = {j["condition"]: j for j in slow["metrics"]["thresholds"]}
    assert judged["p(95) < 5ms"]["ok"] is False
    assert judged["p(95) < 5ms"]["measured"] >= 60
    assert judged["< 1%"]["ok"] is True
    assert result.doc is not None
    message = result.doc["error"]["message"]
    assert 'latency "p(95) < 5ms" failed: measured' in message
    assert "main.hcl:6" in message


def test_passing_thresholds_decide_even_with_failed_requests(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    # k6's rule: with thresholds, failed requests are measured, not fatal.
    result = run_grid(
        f"""
        step "http_request" "mixed" {{
          count = 40
          mode  = "burst"
          thresholds {{
            error_rate = "< 60%"
          }}
          arguments {{
            url           = "{http_server.url}/status/${{count.index % 2 == 0 ? 200 : 500}}"
            expect_status = 200
          }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    mixed = result.step("http_request.mixed")
    assert mixed["status"] == "success"
    assert (mixed["succeeded"], mixed["failed"]) == (20, 20)
    assert mixed["metrics"]["errors"] == {"status": 20}
    assert mixed["metrics"]["status_codes"] == {"200": 20, "500": 20}
    assert mixed["metrics"]["error_rate"] == 0.5


def test_abort_on_fail_stops_the_burst_early(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "doomed" {{
          count         = 100000
          abort_on_fail = true
          concurrency {{ limit = 20 }}
          thresholds {{
            latency = "max < 1ms"
          }}
          arguments {{ url = "{http_server.url}/delay/20" }}
        }}
        """
    )
    assert result.exit_code == 1
    doomed = result.step("http_request.doomed")
    assert doomed["status"] == "failed"
    assert doomed["metrics"]["requests"] < 100000
    assert doomed["cancelled"] > 0  # never started


def test_open_model_arrivals_at_a_rate(run_grid: GridRunner, http_server: LocalHTTPServer) -> None:
    result = run_grid(
        f"""
        step "http_request" "paced" {{
          rate     = "40/s"
          duration = "1s"
          concurrency {{ limit = 20 }}
          arguments {{ url = "{http_server.url}/status/200?n=${{count.index}}" }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    paced = result.step("http_request.paced")
    assert paced["instances"] == 40
    assert paced["metrics"]["requests"] + paced["metrics"]["dropped"] == 40
    # 40 arrivals spread over one second: the last one is due at 0.975 s.
    assert paced["metrics"]["duration_s"] >= 0.9


def test_open_model_counts_dropped_arrivals_and_warns(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "overload" {{
          rate     = "50/s"
          duration = "1s"
          concurrency {{ limit = 1 }}
          arguments {{ url = "{http_server.url}/delay/300" }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    metrics = result.step("http_request.overload")["metrics"]
    assert metrics["dropped"] > 10
    assert metrics["requests"] + metrics["dropped"] == 50
    assert any("dropped" in w for w in metrics["generator"]["warnings"])


def test_shards_split_the_burst_and_merge_exactly(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "sharded" {{
          count  = 90
          shards = 3
          arguments {{ url = "{http_server.url}/status/200?i=${{count.index}}" }}
        }}
        step "print" "keys" {{
          arguments {{ input = length(step.http_request.sharded.output) }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    sharded = result.step("http_request.sharded")
    assert sharded["metrics"]["shards"] == 3
    assert sharded["metrics"]["requests"] == 90
    assert sharded["succeeded"] == 90
    # Each instance ran once, in its own place.
    assert [o["url"].rsplit("=", 1)[1] for o in sharded["outputs"]] == [str(i) for i in range(90)]
    assert result.step("print.keys")["output"] == 90


@pytest.mark.parametrize(
    ("path_or_url", "timeout", "kind"),
    [
        pytest.param("CLOSED", None, "connect", id="connection-refused"),
        pytest.param("/delay/3000", "0.2s", "timeout", id="stall-past-timeout"),
        pytest.param("/reset", None, "read", id="connection-reset"),
    ],
)
def test_faults_are_counted_by_kind_and_the_run_ends(
    run_grid: GridRunner, http_server: LocalHTTPServer, path_or_url: str, timeout: str | None,
    kind: str,
) -> None:  # fmt: skip
    url = (
        f"http://127.0.0.1:{_closed_port()}/"
        if path_or_url == "CLOSED"
        else f"{http_server.url}{path_or_url}"
    )
    timeout_arg = f'timeout = "{timeout}"' if timeout else ""
    result = run_grid(
        f"""
        step "http_request" "faulty" {{
          count = 10
          mode  = "burst"
          concurrency {{ limit = 10 }}
          thresholds {{
            failures = ">= 0"
          }}
          arguments {{
            url = "{url}"
            {timeout_arg}
          }}
        }}
        """
    )
    faulty = result.step("http_request.faulty")
    assert result.exit_code == 0, result.stderr  # the threshold accepts failures
    assert faulty["failed"] == 10
    errors = faulty["metrics"]["errors"]
    assert sum(errors.values()) == 10
    assert kind in errors or (kind == "read" and "connect" in errors), errors
    assert faulty["metrics"]["error_samples"]


def test_without_thresholds_the_first_failure_stops_the_burst(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    result = run_grid(
        f"""
        step "http_request" "strict" {{
          count = 5000
          mode  = "burst"
          concurrency {{ limit = 2 }}
          arguments {{
            url           = "{http_server.url}/status/${{count.index == 3 ? 503 : 200}}"
            expect_status = "2xx"
          }}
        }}
        """
    )
    assert result.exit_code == 1
    strict = result.step("http_request.strict")
    assert strict["status"] == "failed"
    assert strict["failed"] == 1
    assert strict["cancelled"] > 4000  # stopped launching at once (fail-fast)
    assert result.doc is not None
    assert "1 of 5000 instances failed" in result.doc["error"]["message"]


def test_known_delays_give_known_percentiles(
    run_grid: GridRunner, http_server: LocalHTTPServer
) -> None:
    # Delays 0, 10, ..., 90 ms, ten of each: the measured latency is the
    # delay plus this machine's overhead, so lower bounds are exact and upper
    # bounds are loose.
    result = run_grid(
        f"""
        step "http_request" "timed" {{
          count = 100
          mode  = "burst"
          concurrency {{ limit = 10 }}
          arguments {{ url = "{http_server.url}/delay/${{(count.index % 10) * 10}}" }}
        }}
        """
    )
    assert result.exit_code == 0, result.stderr
    latency = result.step("http_request.timed")["metrics"]["latency_ms"]
    assert latency["p50"] >= 40
    assert latency["p90"] >= 80
    assert latency["max"] >= 90
    assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["max"]
