"""The burst suite of tests/e2e, run on ``gridflow run --engine airflow``:
the DAG the loader builds runs each burst as one GridBurstOperator task (or
mapped shard tasks and a merge task) and the result is read back from XCom."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import run_grid  # noqa: F401  (the fixture)
from tests.e2e.test_bursts import (  # noqa: F401  (re-run here)
    test_abort_on_fail_stops_the_burst_early,
    test_each_chain_runs_inside_the_burst_per_instance,
    test_failing_threshold_fails_the_run_naming_threshold_and_value,
    test_faults_are_counted_by_kind_and_the_run_ends,
    test_large_fan_out_runs_as_one_burst_and_keeps_outputs_that_are_read,
    test_open_model_counts_dropped_arrivals_and_warns,
    test_outputs_are_not_kept_when_nothing_reads_them,
    test_passing_thresholds_decide_even_with_failed_requests,
    test_shards_split_the_burst_and_merge_exactly,
    test_without_thresholds_the_first_failure_stops_the_burst,
)

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]


@pytest.fixture
def engine() -> str:
    # tests/airflow/conftest.py configured the engine's Airflow home for the session.
    return "airflow"
