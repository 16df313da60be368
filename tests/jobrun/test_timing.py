"""Job semantics that show in time: ordering, concurrency, retries, timeouts, aborts.

Times come from the job's own result (each node's ``started``/``ended``) and
from lines the commands append (``NODE UNIXTIME``). Sleeps are short and the
bounds generous: this machine is shared, so a test asserts an order or a
ceiling far from the expected value, never a tight equality. Every test runs
on local nodes and on real sshd nodes (``session_factory``), where opening a
node's connection takes some 50 ms and each command a few ms more.
"""

from __future__ import annotations

import itertools

import pytest

from gridflow.jobs.model import Backoff
from tests.jobrun.conftest import Fleet
from tests.jobrun.tasks import DIR, cmd, fails_on, job, mark, pipeline, sleep_on

pytestmark = pytest.mark.timeout(60)


def test_barrier_waits_for_every_node(fleet: Fleet) -> None:
    done = fleet.run(job(sleep_on({"n1": 0.5}, default=0.05), mark("after")))
    slowest_end = max(done.span("0", n)[1] for n in ("n1", "n2", "n3"))
    assert done.span("0", "n1")[1] == slowest_end
    for node in ("n1", "n2", "n3"):
        assert done.span("1", node)[0] >= slowest_end, node
    assert done.doc["status"] == "success"


def test_pipeline_nodes_advance_on_their_own(fleet: Fleet) -> None:
    done = fleet.run(
        job(
            pipeline(sleep_on({"n1": 0.6}, default=0.05), mark("step2")),
            mark("barrier"),
        )
    )
    n1_step1_end = done.span("0.0", "n1")[1]
    # n2 and n3 went on to step 2 while n1 was still in step 1 ...
    for node in ("n2", "n3"):
        assert done.span("0.1", node)[0] < n1_step1_end, node
        assert done.span("0.1", node)[1] < n1_step1_end, node
    # ... and the barrier after the pipeline waited for every chain.
    last_chain_end = max(done.span("0.1", n)[1] for n in ("n1", "n2", "n3"))
    for node in ("n1", "n2", "n3"):
        assert done.span("1", node)[0] >= last_chain_end


def test_fail_fast_cancels_the_running_work_of_the_phase(fleet: Fleet) -> None:
    done = fleet.run(
        job(
            cmd(fails_on("n2", after=0.2, then="sleep 20; ")),
            mark("rollback", condition="on_failure"),
        )
    )
    assert done.statuses("0") == {"n1": "cancelled", "n2": "failed", "n3": "cancelled"}
    assert done.entry("0", "n1")["reason"].startswith("phase 0 was aborted: phase 0: 1 of 3")
    assert done.wall_s < 10  # not the 20 s the others would have slept
    assert done.entry("0", "n1")["duration_s"] < 10
    # the rollback reaches the nodes that were cancelled, too
    assert sorted(line[0] for line in done.lines("rollback")) == ["n1", "n2", "n3"]


def test_retries_rerun_only_the_failed_node_with_backoff(fleet: Fleet) -> None:
    # n2 fails its first two attempts (a counter file per node), then passes.
    script = (
        f'echo "$GF_NODE $(date +%s.%N)" >> {DIR}/attempts; '
        f"n=$(cat {DIR}/count.$GF_NODE 2>/dev/null || echo 0); "
        f"echo $((n + 1)) > {DIR}/count.$GF_NODE; "
        'if [ "$GF_NODE" = n2 ] && [ "$n" -lt 2 ]; then echo "not yet ($n)" >&2; exit 1; fi; '
        "echo ready"
    )
    done = fleet.run(job(cmd(script, max_retries=4)))
    assert done.statuses("0") == {"n1": "success", "n2": "success", "n3": "success"}
    assert {n: done.entry("0", n)["attempts"] for n in ("n1", "n2", "n3")} == {
        "n1": 1,
        "n2": 3,
        "n3": 1,
    }
    lines = done.lines("attempts")
    assert sorted(node for node, _ in lines) == ["n1", "n2", "n2", "n2", "n3"]
    n2 = [float(t) for node, t in lines if node == "n2"]
    gaps = [b - a for a, b in itertools.pairwise(n2)]
    # FAST_BACKOFF: 0.1 s before the first retry, 0.2 s before the second
    assert 0.1 <= gaps[0] < 2.0
    assert 0.2 <= gaps[1] < 2.0
    assert gaps[1] > gaps[0] - 0.05  # it grows (allowing for scheduling noise)
    # the node's duration covers all its attempts and the waits between them
    assert done.entry("0", "n2")["duration_s"] >= 0.3
    retry_events = [e for e in done.events if e.kind == "node-retry"]
    assert [(e.node, e.attempt) for e in retry_events] == [("n2", 1), ("n2", 2)]
    assert "retrying in 100ms" in retry_events[0].message
    assert "retrying in 200ms" in retry_events[1].message


def test_backoff_is_capped(fleet: Fleet) -> None:
    # Uncapped, a factor of 4 would wait 0.1, 0.4, 1.6 and 6.4 s.
    steep = Backoff(initial_s=0.1, factor=4.0, max_s=0.15)
    done = fleet.run(
        job(cmd(f'echo "$GF_NODE $(date +%s.%N)" >> {DIR}/attempts; exit 1', max_retries=4)),
        nodes=("n1",),
        backoff=steep,
    )
    times = [float(t) for _, t in done.lines("attempts")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 4
    assert gaps[0] >= 0.1
    assert all(0.15 <= g < 0.9 for g in gaps[1:]), gaps
    assert sum(gaps) < 3.0, gaps
    assert done.entry("0", "n1")["attempts"] == 5
    retries = [e.message for e in done.events if e.kind == "node-retry"]
    assert [m.split("retrying in ")[1].split(":")[0] for m in retries] == [
        "100ms",
        "150ms",
        "150ms",
        "150ms",
    ]


def test_task_timeout_stops_the_node_and_reports_timeout(fleet: Fleet) -> None:
    # The time to connect counts against a task's timeout: 1 s leaves an SSH
    # handshake (~50 ms, more on a busy machine) far from deciding the outcome.
    done = fleet.run(
        job(
            sleep_on({"n1": 20}, default=0, timeout="1s"),
            mark("after"),
            mark("undo", condition="on_failure"),
        )
    )
    assert done.statuses("0") == {"n1": "timeout", "n2": "success", "n3": "success"}
    entry = done.entry("0", "n1")
    assert entry["error"] == (
        "cmd run on node n1 ran past its timeout of 1s and was stopped while running: "
        "/bin/sh -c 'case \"$GF_NODE\" in n1) sleep 20;; *) sleep 0;; esac'"
    )
    assert 1.0 <= entry["duration_s"] < 5
    assert done.statuses("1") == {"n1": "skipped", "n2": "skipped", "n3": "skipped"}
    assert sorted(line[0] for line in done.lines("undo")) == ["n1", "n2", "n3"]
    assert done.doc["status"] == "failed"


def test_job_timeout_cancels_what_remains(fleet: Fleet) -> None:
    done = fleet.run(
        job(
            mark("first"),
            sleep_on({}, default=20),
            mark("never"),
            mark("cleanup", condition="always"),
            timeout="1s",
        )
    )
    assert done.doc["status"] == "cancelled"
    assert done.doc["error"]["kind"] == "timeout"
    assert done.doc["error"]["message"].startswith("the job ran past its timeout of 1s")
    assert done.statuses("0") == dict.fromkeys(("n1", "n2", "n3"), "success")
    assert done.statuses("1") == dict.fromkeys(("n1", "n2", "n3"), "cancelled")
    assert done.statuses("2") == dict.fromkeys(("n1", "n2", "n3"), "cancelled")
    assert done.statuses("3") == dict.fromkeys(("n1", "n2", "n3"), "cancelled")
    assert done.entry("2", "n1")["reason"].startswith("the job ran past its timeout")
    assert done.lines("never") == []
    assert done.lines("cleanup") == []
    assert 1.0 <= done.wall_s < 10
    assert done.doc["phases"]["1"]["status"] == "cancelled"


@pytest.mark.parametrize(
    ("concurrency", "most_at_once"),
    [(1, 1), (2, 2), ("67%", 2), (None, 3)],
    ids=["one", "two", "percent", "all"],
)
def test_concurrency_bounds_the_nodes_in_progress(
    fleet: Fleet, concurrency: int | str | None, most_at_once: int
) -> None:
    extra = {} if concurrency is None else {"concurrency": concurrency}
    done = fleet.run(job(sleep_on({}, default=0.3, **extra)))
    spans = {n: done.span("0", n) for n in ("n1", "n2", "n3")}
    events = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == most_at_once
    if concurrency == 1:  # one at a time, in inventory order
        assert spans["n1"][1] <= spans["n2"][0]
        assert spans["n2"][1] <= spans["n3"][0]


def test_concurrency_one_stops_a_rolling_deploy_at_the_first_failure(fleet: Fleet) -> None:
    done = fleet.run(
        job(
            pipeline(cmd(fails_on("n2")), mark("started"), concurrency=1),
            mark("rollback", condition="on_failure"),
        )
    )
    assert done.statuses("0.0") == {"n1": "success", "n2": "failed", "n3": "cancelled"}
    assert done.statuses("0.1") == {"n1": "success", "n2": "skipped", "n3": "cancelled"}
    assert [line[0] for line in done.lines("started")] == ["n1"]
    assert sorted(line[0] for line in done.lines("rollback")) == ["n1", "n2", "n3"]


def test_during_check_aborts_the_phase(fleet: Fleet) -> None:
    # The task breaks things after 1 s (long enough for every node's check to
    # pass once, SSH connections included); the check every 0.1 s notices.
    # On Prefect (test_on_prefect.py) node tasks start a few tenths of a
    # second later, as task runs: a wider ceiling there.
    during = {"interval": "100ms", "checks": [cmd(f"test ! -e {DIR}/broken", name="healthy")]}
    done = fleet.run(
        job(
            cmd(f"sleep 1; touch {DIR}/broken; sleep 20", checks={"during": during}),
            mark("next"),
            mark("rollback", condition="on_failure"),
        )
    )
    assert done.doc["status"] == "failed"
    assert done.statuses("0") == dict.fromkeys(("n1", "n2", "n3"), "cancelled")
    assert done.doc["error"]["message"].startswith("phase 0 during-check healthy on n")
    assert done.wall_s < (15 if fleet.engine == "prefect" else 10)
    records = [c for c in done.doc["checks"] if c["stage"] == "during"]
    assert {c["node"] for c in records} == {"n1", "n2", "n3"}
    assert any(c["failures"] >= 1 for c in records)
    assert all(c["runs"] >= 2 for c in records)  # it passed before it failed
    assert done.lines("next") == []
    assert sorted(line[0] for line in done.lines("rollback")) == ["n1", "n2", "n3"]


def test_job_during_check_aborts_the_running_phase(fleet: Fleet) -> None:
    during = {"interval": "100ms", "checks": [cmd(f"test ! -e {DIR}/broken")]}
    done = fleet.run(
        job(
            mark("first"),
            cmd(f"sleep 0.3; touch {DIR}/broken; sleep 20"),
            mark("cleanup", condition="always"),
            checks={"during": during},
        )
    )
    assert done.doc["status"] == "failed"
    assert done.statuses("0") == dict.fromkeys(("n1", "n2", "n3"), "success")
    assert done.statuses("1") == dict.fromkeys(("n1", "n2", "n3"), "cancelled")
    assert done.doc["error"]["message"].startswith("job during-check cmd run on n")
    assert sorted(line[0] for line in done.lines("cleanup")) == ["n1", "n2", "n3"]
    assert done.wall_s < 10


def test_during_checks_that_pass_do_not_disturb(fleet: Fleet) -> None:
    during = {"interval": "100ms", "checks": [{"backend": "ping", "action": "echo"}]}
    done = fleet.run(job(sleep_on({}, default=0.45, checks={"during": during})))
    assert done.doc["status"] == "success"
    runs = [c["runs"] for c in done.doc["checks"]]
    # every ~0.1 s while the 0.45 s phase ran, and not after it ended
    assert len(runs) == 3
    assert all(2 <= r <= 5 for r in runs), runs
