"""The job semantics suite again, on the Prefect engine.

The tests imported below run here with a ``fleet`` whose jobs go through
:func:`gridflow.engines.prefect_jobs.run_job`: a real Prefect flow run (on
the session's temporary Prefect server) whose task runs are the node
attempts. They assert the same statuses, attempts, markers, timings and
errors as on the local engine; the last tests compare whole result
documents of both engines.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from gridflow.jobs.model import Backoff
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import DIR, cmd, fails_on, job, mark, pipeline, sleep_on
from tests.jobrun.test_runs import test_one_session_per_node_reused_and_closed  # noqa: F401
from tests.jobrun.test_semantics import test_semantics  # noqa: F401
from tests.jobrun.test_timing import (  # noqa: F401
    test_concurrency_bounds_the_nodes_in_progress,
    test_concurrency_one_stops_a_rolling_deploy_at_the_first_failure,
    test_during_check_aborts_the_phase,
    test_fail_fast_cancels_the_running_work_of_the_phase,
    test_task_timeout_stops_the_node_and_reports_timeout,
)
from tests.support.job_nodes import Transport

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(180)]


@pytest.fixture
def fleet(tmp_path: Path, session_factory: Transport, prefect_harness: None) -> Fleet:
    return Fleet(tmp_path, session_factory, engine="prefect")


def test_retries_are_new_task_runs_of_the_failed_node_only(fleet: Fleet) -> None:
    # As test_timing's retry test, with waits long enough that creating a
    # Prefect task run (~0.1-0.3 s here) cannot hide whether they grow.
    script = (
        f'echo "$GF_NODE $(date +%s.%N)" >> {DIR}/attempts; '
        f"n=$(cat {DIR}/count.$GF_NODE 2>/dev/null || echo 0); "
        f"echo $((n + 1)) > {DIR}/count.$GF_NODE; "
        'if [ "$GF_NODE" = n2 ] && [ "$n" -lt 2 ]; then echo "not yet ($n)" >&2; exit 1; fi'
    )
    backoff = Backoff(initial_s=0.5, factor=3.0, max_s=1.5)
    done = fleet.run(job(cmd(script, max_retries=4)), backoff=backoff)
    assert done.statuses("0") == dict.fromkeys(("n1", "n2", "n3"), "success")
    assert {n: done.entry("0", n)["attempts"] for n in ("n1", "n2", "n3")} == {
        "n1": 1,
        "n2": 3,
        "n3": 1,
    }
    n2 = [float(t) for node, t in done.lines("attempts") if node == "n2"]
    gaps = [b - a for a, b in itertools.pairwise(n2)]
    assert 0.5 <= gaps[0] < 1.5 <= gaps[1] < 15, gaps  # it waited 0.5 s, then 1.5 s
    retries = [e.message for e in done.events if e.kind == "node-retry"]
    assert [m.split(": ")[1] for m in retries] == [
        "attempt 1 of 5 failed, retrying in 500ms",
        "attempt 2 of 5 failed, retrying in 1.5s",
    ]
    assert all(" on n2" in m for m in retries)


# Timing tests with the margins a Prefect task run's start (0.1-0.5 s on a
# loaded machine) needs; the local engine's versions are in test_timing.py.


def test_barrier_waits_for_every_node(fleet: Fleet) -> None:
    done = fleet.run(job(sleep_on({"n1": 3}, default=0.05), mark("after")))
    slowest_end = max(done.span("0", n)[1] for n in ("n1", "n2", "n3"))
    assert done.span("0", "n1")[1] == slowest_end
    for node in ("n1", "n2", "n3"):
        assert done.span("1", node)[0] >= slowest_end, node


def test_pipeline_nodes_advance_on_their_own(fleet: Fleet) -> None:
    done = fleet.run(
        job(pipeline(sleep_on({"n1": 4}, default=0.05), mark("step2")), mark("barrier"))
    )
    n1_step1_end = done.span("0.0", "n1")[1]
    for node in ("n2", "n3"):
        assert done.span("0.1", node)[1] < n1_step1_end, node
    last_chain_end = max(done.span("0.1", n)[1] for n in ("n1", "n2", "n3"))
    for node in ("n1", "n2", "n3"):
        assert done.span("1", node)[0] >= last_chain_end


def test_job_timeout_cancels_what_remains(fleet: Fleet) -> None:
    done = fleet.run(
        job(
            mark("first"),
            sleep_on({}, default=60),
            mark("never"),
            mark("cleanup", condition="always"),
            timeout="3s",
        )
    )
    assert (done.doc["status"], done.doc["error"]["kind"]) == ("cancelled", "timeout")
    assert done.statuses("0") == dict.fromkeys(("n1", "n2", "n3"), "success")
    for key in ("1", "2", "3"):
        assert done.statuses(key) == dict.fromkeys(("n1", "n2", "n3"), "cancelled"), key
    assert done.lines("never") == done.lines("cleanup") == []
    assert 3.0 <= done.wall_s < 40  # not the 60 s the nodes would have slept


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """What must be equal on every engine: statuses, attempts, decisions, errors."""
    return {
        "status": doc["status"],
        "step": doc["step"],
        "results": {
            key: {n: (e["status"], e["attempts"], e["error"]) for n, e in by_node.items()}
            for key, by_node in doc["results"].items()
        },
        "phases": {
            i: (p["status"], p["nodes"], p["failed_nodes"], p.get("error"), p.get("reason"))
            for i, p in doc["phases"].items()
        },
        "dropped": doc["dropped"],
        "error": doc.get("error"),
    }


COMPARED = {
    "rollback-after-a-failed-pipeline": job(
        # n2 fails once the others' chains are over: no race between the stop and them
        pipeline(cmd(fails_on("n2", after=1.5)), mark("next"), mark("fix", condition="on_failure")),
        mark("after"),
        mark("rollback", condition="on_failure"),
        mark("cleanup", condition="always"),
    ),
    "continue-with-a-budget": job(
        cmd(fails_on("n3"), tolerate_failures=1),
        pipeline(mark("a"), cmd(fails_on("n1"))),
        mark("report", condition="on_failure"),
        strategy="continue",
    ),
    "timeout-and-retries": job(
        # 1 s: over SSH on a busy worker a "sleep 0" alone can take 300 ms
        sleep_on({"n2": 5}, default=0, timeout="1s", max_retries=1),
        mark("undo", condition="on_failure"),
    ),
}


@pytest.mark.parametrize("name", list(COMPARED))
def test_same_document_as_the_local_engine(
    tmp_path: Path, session_factory: Transport, prefect_harness: None, name: str
) -> None:
    spec = COMPARED[name]
    local = Fleet(tmp_path / "local", session_factory, engine="local")
    on_prefect = Fleet(tmp_path / "prefect", session_factory, engine="prefect")
    for fleet in (local, on_prefect):
        fleet.dir.mkdir()
    expected = _comparable(local.run(spec).doc)
    assert _comparable(on_prefect.run(spec).doc) == expected
