"""A scope's during-checks as the Airflow sensor runs them, without Airflow.

Each poke of the sensor calls :func:`gridflow.engines.airflow.job_tasks.poke_during`
with the records the other tasks pushed and the rounds it ran so far. Here the
pokes and the node tasks (``run_node_task``, as the mapped instances run them)
take turns in this process, in orders an Airflow run can take, on real nodes;
``job_result`` then makes the document ``job.result`` would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gridflow.engines.airflow.job_tasks import (
    DuringPoke,
    JobContext,
    Verdict,
    job_result,
    poke_during,
    run_node_task,
    use_session_factory,
)
from gridflow.jobs import load_job
from gridflow.runtime.masking import Masker
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import NODES, job, mark, pipeline
from tests.support.http_server import LocalHTTPServer

pytestmark = pytest.mark.timeout(60)

Records = list[dict[str, Any]]


def context(fleet: Fleet, spec: dict[str, Any]) -> JobContext:
    job_path, inventory = fleet.write(spec)
    plan, nodes = load_job(job_path, inventory)
    return JobContext(plan, nodes, run_id="r1", started_at=time.time(), masker=Masker())


def poke(
    ctx: JobContext,
    scope: int | None,
    records: Records,
    rounds: Records,
    *,
    over: bool = False,
    fresh: Callable[[], Records] | None = None,
) -> DuringPoke:
    return asyncio.run(
        poke_during(
            ctx, scope, records, rounds, scope_over=over, fresh=fresh or (lambda: list(records))
        )
    )


def node_tasks(ctx: JobContext, key: str, records: Records) -> Records:
    """Task ``key`` on every node, one after the other: their records."""
    out: Records = []
    for node in NODES:
        out += asyncio.run(run_node_task(ctx, key, node, 1, records)).records
    return out


def http_during(url: str, interval: str = "200ms") -> dict[str, Any]:
    return {"during": {"interval": interval, "checks": [{"http": {"url": url}}]}}


def test_a_round_comes_when_due_and_the_checks_end_with_their_phase(
    fleet: Fleet, http_server: LocalHTTPServer
) -> None:
    key = uuid.uuid4().hex
    during = http_during(f"{http_server.url}/echo?test={key}", "1s")
    during["during"]["checks"].append({"backend": "ping", "action": "echo"})
    ctx = context(fleet, job(mark("a", checks=during)))
    with use_session_factory(fleet.transport):
        early = poke(ctx, 0, [], [])
        assert early.result is None
        assert early.rounds == []
        assert 0 < early.wait_s <= 1  # the first round: an interval after the phase began
        time.sleep(early.wait_s)
        first = poke(ctx, 0, [], early.rounds)
        assert first.result is None
        assert 0 < first.wait_s <= 1  # the next: an interval after this one ended
        assert sorted(r["kind"] for r in first.rounds) == ["check"] * 4 + ["round"]
        assert {r.get("round") for r in first.rounds} == {1}
        assert len(http_server.requests(lambda r: r.query.get("test") == key)) == 1
        # the phase's tasks end: the next look finds the run wants no more rounds
        tasks = node_tasks(ctx, "0", [])
        last = poke(ctx, 0, tasks, first.rounds)
    assert last.result is not None
    assert (last.result.verdict, last.result.message) == (
        Verdict.SUCCESS,
        "phase 0's during-checks passed 1 round",
    )
    over = [r for r in last.result.records if r["kind"] == "rounds-over"]
    assert [(r["scope"], r["rounds"]) for r in over] == [(0, 1)]
    _, doc = job_result(ctx, tasks + last.result.records)
    assert doc["status"] == "success"
    assert [(c["kind"], c["node"], c["status"], c["runs"]) for c in doc["checks"]] == [
        ("http", None, "success", 1),
        *[("backend", n, "success", 1) for n in NODES],
    ]


def test_a_failing_round_stops_its_phase_for_the_tasks_that_start_after_it(
    fleet: Fleet, http_server: LocalHTTPServer
) -> None:
    url = f"{http_server.url}/fail-after/{uuid.uuid4().hex}/0"
    ctx = context(
        fleet,
        job(
            pipeline(mark("a"), mark("b"), checks=http_during(url)),
            mark("undo", condition="on_failure"),
        ),
    )
    with use_session_factory(fleet.transport):
        first = node_tasks(ctx, "0.0", [])  # every node's first step, before the round
        time.sleep(max(ctx.started_at + 0.2 - time.time(), 0.0))
        failed = poke(ctx, 0, first, [])
        assert failed.result is not None
        assert failed.result.verdict is Verdict.FAIL
        assert failed.result.message.startswith(f"phase 0 during-check GET {url}: failed: ")
        assert "503" in failed.result.message
        # the second steps start after the round: the phase was stopped then
        told = [
            asyncio.run(run_node_task(ctx, "0.1", n, 1, first + failed.result.records))
            for n in NODES
        ]
        undo = node_tasks(
            ctx, "1", first + failed.result.records + [r for t in told for r in t.records]
        )
    for result in told:
        assert result.verdict is Verdict.SKIP
        assert result.message.startswith("cancelled: never started: phase 0 during-check GET")
    records = first + failed.result.records + [r for t in told for r in t.records] + undo
    _, doc = job_result(ctx, records)
    assert doc["status"] == "failed"
    assert doc["phases"]["0"]["error"]["message"].startswith(
        f"phase 0 during-check GET {url} failed"
    )
    assert {n: e["status"] for n, e in doc["results"]["0.1"].items()} == dict.fromkeys(
        NODES, "cancelled"
    )
    assert {n: e["status"] for n, e in doc["results"]["1"].items()} == dict.fromkeys(
        NODES, "success"
    )
    [check] = doc["checks"]
    assert (check["status"], check["runs"], check["failures"]) == ("failed", 1, 1)


def test_a_round_that_went_off_after_its_phase_ended_does_not_count(
    fleet: Fleet, http_server: LocalHTTPServer
) -> None:
    # The sensor looks with stale records (the tasks' were not pushed yet),
    # runs a round that fails, and finds, with the records as they are now,
    # that the phase had ended before: its round is dropped, it ends passed.
    url = f"{http_server.url}/fail-after/{uuid.uuid4().hex}/0"
    ctx = context(fleet, job(mark("a", checks=http_during(url, "100ms")), mark("next")))
    with use_session_factory(fleet.transport):
        tasks = node_tasks(ctx, "0", [])
        time.sleep(max(ctx.started_at + 0.1 - time.time(), 0.0))
        late = poke(ctx, 0, [], [], fresh=lambda: tasks)
    assert late.result is not None
    assert late.result.verdict is Verdict.SUCCESS
    assert [r["kind"] for r in late.result.records] == ["rounds-over"]
    assert http_server.count(f"/fail-after/{url.rsplit('/', 2)[1]}/0") == 1  # it did run
    pushed = tasks + late.result.records
    with use_session_factory(fleet.transport):
        pushed += node_tasks(ctx, "1", pushed)
    _, doc = job_result(ctx, pushed)
    assert (doc["status"], doc["checks"]) == ("success", []), doc.get("error")


def test_the_during_checks_of_a_phase_that_does_not_run_are_skipped(
    fleet: Fleet, http_server: LocalHTTPServer
) -> None:
    during = http_during(f"{http_server.url}/echo")
    ctx = context(fleet, job(mark("a"), mark("b", condition="on_failure", checks=during)))
    with use_session_factory(fleet.transport):
        skipped = poke(ctx, 1, node_tasks(ctx, "0", []), [])
    assert skipped.result is not None
    assert (skipped.result.verdict, skipped.result.message, skipped.result.records) == (
        Verdict.SKIP,
        "phase 1's during-checks do not run: the phase did not run",
        [],
    )
