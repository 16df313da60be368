"""The grid semantics suite of tests/e2e, run on ``gridflow run --engine airflow``.

Every test of tests/e2e/test_grid_semantics.py runs here again on Airflow's
DAG test mode (the DAG the dags-folder loader builds, run in this process),
except the one that needs parallel tasks: DAG test mode runs one task at a
time, so a failing step cannot cancel a request running beside it. Fail-fast
on a real, parallel Airflow is shown in test_dags_on_airflow.py.
"""

from __future__ import annotations

import pytest
from tests.e2e.conftest import run_grid  # noqa: F401  (the fixture)
from tests.e2e.test_grid_semantics import (  # noqa: F401  (re-run here)
    test_abort_if_false_fails_the_run,
    test_bad_grid_is_exit_2_with_location,
    test_continue_on_error_lets_the_run_go_on,
    test_count_fan_out_keeps_instance_order,
    test_credentials_in_resources_and_headers_are_masked,
    test_dynamic_fan_out_from_upstream_output,
    test_for_each_each_chain_and_all_to_one,
    test_if_false_skips_and_dependents_still_run,
    test_retries_exhausted_fail_the_run,
    test_retry_attempts_are_counted,
    test_sensitive_variable_never_in_result,
    test_shared_http_client_resource,
    test_specific_instance_and_first_output,
    test_variables_from_every_source,
)

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]


@pytest.fixture
def engine() -> str:
    # tests/airflow/conftest.py configured the engine's Airflow home for the session.
    return "airflow"
