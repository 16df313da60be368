"""Job semantics on real nodes: the table of docs/jobs.md's rules.

Every job here runs for real through the local engine: commands are real
processes on each node's session (``$GF_NODE`` tells a command which node it
is on). Statuses are asserted per task and node; the markers the commands
leave (``@DIR@/NAME``) prove what did and did not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.jobrun.conftest import Finished, Fleet
from tests.jobrun.tasks import cmd, fails_on, job, mark, pipeline

pytestmark = pytest.mark.timeout(60)

S, F, K, C, T = "success", "failed", "skipped", "cancelled", "timeout"


def each(status: str, nodes: tuple[str, ...] = ("n1", "n2", "n3")) -> dict[str, str]:
    return dict.fromkeys(nodes, status)


@dataclass
class Case:
    id: str
    job: dict[str, Any]
    status: str  # the job's
    statuses: dict[str, dict[str, str]]  # key -> node -> status
    ran: dict[str, list[str]] = field(default_factory=dict)  # marker -> nodes that wrote it
    attempts: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    error: tuple[str, ...] = ()  # parts of the job's error message


# n2 (and n3) fail after 0.3 s, when the other nodes have finished: no race
# between a failure and the others' success.
LATE = 1.0  # late enough that the other nodes' chains end first, on any engine

CASES = [
    Case(
        "fail-fast-skips-then-rolls-back-everywhere",
        job(
            cmd(fails_on("n2", after=LATE)),
            mark("after"),
            mark("rollback", condition="on_failure"),
            mark("success", condition="on_success"),
            mark("cleanup", condition="always"),
        ),
        "failed",
        {
            "0": {"n1": S, "n2": F, "n3": S},
            "1": each(K),
            "2": each(S),
            "3": each(K),
            "4": each(S),
        },
        ran={
            "after": [],
            "rollback": ["n1", "n2", "n3"],
            "success": [],
            "cleanup": ["n1", "n2", "n3"],
        },
        error=("phase 0: 1 of 3 nodes failed (n2) and strategy fail-fast tolerates none",),
    ),
    Case(
        "fail-fast-without-failure-skips-on-failure",
        job(
            mark("first"),
            mark("rollback", condition="on_failure"),
            mark("done", condition="on_success"),
        ),
        "success",
        {"0": each(S), "1": each(K), "2": each(S)},
        ran={"first": ["n1", "n2", "n3"], "rollback": [], "done": ["n1", "n2", "n3"]},
    ),
    Case(
        "continue-drops-the-failed-node-the-rest-go-on",
        job(
            cmd(fails_on("n2")),
            mark("after"),
            mark("report", condition="on_failure"),
            mark("cleanup", condition="always"),
            strategy="continue",
        ),
        "success",
        {
            "0": {"n1": S, "n2": F, "n3": S},
            "1": {"n1": S, "n2": K, "n3": S},
            "2": {"n1": S, "n2": K, "n3": S},
            "3": {"n1": S, "n2": K, "n3": S},
        },
        ran={"after": ["n1", "n3"], "report": ["n1", "n3"], "cleanup": ["n1", "n3"]},
        dropped=["n2"],
    ),
    Case(
        "continue-every-node-failed-fails-the-job",
        job(cmd(fails_on("n1", "n2", "n3")), mark("after"), strategy="continue"),
        "failed",
        {"0": each(F), "1": each(K)},
        ran={"after": []},
        dropped=["n1", "n2", "n3"],
        error=("every node failed and was dropped",),
    ),
    Case(
        "continue-budget-exceeded-stops-and-keeps-dropped-nodes-out",
        job(
            cmd(fails_on("n2", "n3", after=LATE), tolerate_failures=1),
            mark("after"),
            mark("rollback", condition="on_failure"),
            strategy="continue",
        ),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": F}, "1": each(K), "2": {"n1": S, "n2": K, "n3": K}},
        ran={"after": [], "rollback": ["n1"]},
        dropped=["n2", "n3"],
        error=("2 of 3 nodes failed (n2, n3), more than tolerate_failures 1 allows",),
    ),
    Case(
        "tolerated-count-drops-the-node-and-goes-on",
        job(
            cmd(fails_on("n2"), tolerate_failures=1),
            mark("after"),
            mark("report", condition="on_failure"),
            mark("happy", condition="on_success"),
        ),
        "success",
        {
            "0": {"n1": S, "n2": F, "n3": S},
            "1": {"n1": S, "n2": K, "n3": S},
            "2": {"n1": S, "n2": K, "n3": S},
            "3": each(K),
        },
        ran={"after": ["n1", "n3"], "report": ["n1", "n3"], "happy": []},
        dropped=["n2"],
    ),
    Case(
        "tolerated-count-exceeded-rolls-back-every-node",
        job(
            cmd(fails_on("n2", "n3", after=LATE), tolerate_failures=1),
            mark("after"),
            mark("rollback", condition="on_failure"),
        ),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": F}, "1": each(K), "2": each(S)},
        ran={"after": [], "rollback": ["n1", "n2", "n3"]},
        error=("2 of 3 nodes failed (n2, n3), more than tolerate_failures 1 allows",),
    ),
    Case(
        "percent-34-of-3-tolerates-one",
        job(cmd(fails_on("n3"), tolerate_failures="34%"), mark("after")),
        "success",
        {"0": {"n1": S, "n2": S, "n3": F}, "1": {"n1": S, "n2": S, "n3": K}},
        ran={"after": ["n1", "n2"]},
        dropped=["n3"],
    ),
    Case(
        "percent-34-of-3-not-two",
        job(cmd(fails_on("n2", "n3", after=LATE), tolerate_failures="34%"), mark("after")),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": F}, "1": each(K)},
        ran={"after": []},
        error=("more than tolerate_failures 34% allows",),
    ),
    Case(
        "pipeline-conditions-are-judged-per-node",
        job(
            pipeline(
                cmd(fails_on("n2", after=LATE)),
                mark("next"),
                mark("fix", condition="on_failure"),
                mark("tidy", condition="always"),
            ),
            mark("after"),
            mark("rollback", condition="on_failure"),
        ),
        "failed",
        {
            "0.0": {"n1": S, "n2": F, "n3": S},
            "0.1": {"n1": S, "n2": K, "n3": S},
            "0.2": {"n1": K, "n2": S, "n3": K},
            "0.3": each(S),
            "1": each(K),
            "2": each(S),
        },
        ran={
            "next": ["n1", "n3"],
            "fix": ["n2"],
            "tidy": ["n1", "n2", "n3"],
            "after": [],
            "rollback": ["n1", "n2", "n3"],
        },
        error=(
            "phase 0: 1 of 3 nodes failed (n2) and strategy fail-fast tolerates none; "
            "n2: 0.0 cmd run failed",
        ),
    ),
    Case(
        "on-failure-pipeline-after-a-barrier-failure",
        job(
            cmd(fails_on("n1", after=LATE)),
            pipeline(mark("undo"), mark("undone"), condition="on_failure"),
        ),
        "failed",
        {"0": {"n1": F, "n2": S, "n3": S}, "1.0": each(S), "1.1": each(S)},
        ran={"undo": ["n1", "n2", "n3"], "undone": ["n1", "n2", "n3"]},
        error=("phase 0: 1 of 3 nodes failed (n1)",),
    ),
    Case(
        "retries-exhausted-on-the-failing-node-only",
        job(cmd(f"{fails_on('n2', then='')}", max_retries=2)),
        "failed",
        {"0": {"n1": S, "n2": F, "n3": S}},
        attempts={"0": {"n1": 1, "n2": 3, "n3": 1}},
        error=("(n2) and strategy fail-fast tolerates none",),
    ),
    Case(
        "job-pre-check-failure-runs-nothing",
        job(
            mark("ran"),
            mark("cleanup", condition="always"),
            checks={"pre": [cmd(fails_on("n3"), name="n3 is ready")]},
        ),
        "failed",
        {"0": each(K), "1": each(K)},
        ran={"ran": [], "cleanup": []},
        error=("job pre-check n3 is ready on n3 failed: /bin/sh -c", "exited with 1: boom on n3"),
    ),
    Case(
        "phase-pre-check-failure-skips-the-phase-and-fails-it",
        job(
            mark("first"),
            mark("second", checks={"pre": [cmd(fails_on("n1"))]}),
            mark("rollback", condition="on_failure"),
        ),
        "failed",
        {"0": each(S), "1": each(K), "2": each(S)},
        ran={"first": ["n1", "n2", "n3"], "second": [], "rollback": ["n1", "n2", "n3"]},
        error=("phase 1 pre-check cmd run on n1 failed:", "boom on n1"),
    ),
    Case(
        "phase-post-check-failure-fails-the-phase",
        job(
            mark("first", checks={"post": [cmd(fails_on("n2"), name="verify")]}),
            mark("second"),
            mark("rollback", condition="on_failure"),
        ),
        "failed",
        {"0": each(S), "1": each(K), "2": each(S)},
        ran={"first": ["n1", "n2", "n3"], "second": [], "rollback": ["n1", "n2", "n3"]},
        error=("phase 0 post-check verify on n2 failed",),
    ),
    Case(
        "job-post-check-failure-fails-the-job",
        job(mark("first"), checks={"post": [cmd(fails_on("n1"), name="smoke test")]}),
        "failed",
        {"0": each(S)},
        ran={"first": ["n1", "n2", "n3"]},
        error=("job post-check smoke test on n1 failed:", "boom on n1"),
    ),
    Case(
        "checks-that-pass-let-the-job-succeed",
        job(
            mark("first", checks={"pre": [cmd("true")], "post": [cmd("true")]}),
            checks={"pre": [{"backend": "ping", "action": "hostname"}], "post": [cmd("true")]},
        ),
        "success",
        {"0": each(S)},
        ran={"first": ["n1", "n2", "n3"]},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_semantics(fleet: Fleet, case: Case) -> None:
    check_case(fleet.run(case.job), case)


def check_case(done: Finished, case: Case) -> None:
    """What every engine must report for ``case``."""
    assert done.all_statuses() == case.statuses, done.doc
    assert done.doc["status"] == case.status
    for marker, nodes in case.ran.items():
        assert sorted(line[0] for line in done.lines(marker)) == nodes, marker
    for key, by_node in case.attempts.items():
        assert {n: done.entry(key, n)["attempts"] for n in by_node} == by_node
    assert sorted(done.doc["dropped"]) == case.dropped
    if case.error:
        message = done.doc["error"]["message"]
        assert all(part in message for part in case.error), message
    else:
        assert "error" not in done.doc
