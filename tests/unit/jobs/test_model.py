"""The arithmetic engines rely on: backoff, nodes at once, failure budgets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gridflow.jobs import Backoff, Concurrency, FailureBudget, Phase, Target, Task
from gridflow.plan.models import Location

HERE = Location(file="job.yaml", line=1, col=1)


@pytest.mark.parametrize(
    ("retry", "seconds"),
    [(0, 0), (1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (7, 30), (10_000, 30)],
    ids=lambda v: str(v),
)
def test_backoff_doubles_from_one_second_capped_at_30(retry: int, seconds: float) -> None:
    assert Backoff().delay_before_retry(retry) == seconds


@pytest.mark.parametrize(
    ("kind", "value", "total", "at_once"),
    [
        ("count", 1, 10, 1),
        ("count", 5, 3, 3),  # never more than there are nodes
        ("percent", 25, 10, 2),  # rounds down, like Ansible's serial
        ("percent", 25, 3, 1),  # never below one node
        ("percent", 100, 7, 7),
        ("percent", 50, 0, 0),
    ],
    ids=["one", "more-than-nodes", "quarter-of-10", "quarter-of-3", "all", "no-nodes"],
)
def test_concurrency(kind: str, value: float, total: int, at_once: int) -> None:
    assert Concurrency(kind=kind, value=value).nodes_at_once(total) == at_once


@pytest.mark.parametrize(
    ("kind", "value", "failed", "total", "tolerated"),
    [
        ("count", 0, 0, 3, True),
        ("count", 0, 1, 3, False),
        ("count", 2, 2, 3, True),
        ("count", 2, 3, 3, False),
        ("percent", 34, 1, 3, True),  # 33.3 % <= 34 %
        ("percent", 34, 2, 3, False),  # 66.7 % > 34 %
        ("percent", 50, 1, 2, True),  # reaching the ceiling is allowed
        ("percent", 0, 1, 100, False),
        ("percent", 100, 3, 3, True),
    ],
    ids=[
        "none-none",
        "none-one",
        "two-two",
        "two-three",
        "34pct-1of3",
        "34pct-2of3",
        "50pct-1of2",
        "0pct",
        "100pct",
    ],
)
def test_failure_budget(kind: str, value: float, failed: int, total: int, tolerated: bool) -> None:
    budget = FailureBudget(kind=kind, value=value)
    assert budget.tolerates(failed, total) is tolerated


def task(key: str, condition: str | None = None) -> Task:
    return Task(key=key, backend="ping", action="hostname", condition=condition, loc=HERE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "barrier", "tasks": []}, "a phase has at least one task"),
        ({"kind": "barrier", "tasks": [task("0"), task("0")]}, "exactly one task"),
        ({"kind": "barrier", "tasks": [task("0", "always")]}, "the phase's condition"),
    ],
    ids=["empty", "two-in-a-barrier", "condition-on-barrier-task"],
)
def test_phase_shape_is_enforced(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Phase(index=0, loc=HERE, **kwargs)


def test_target_value_matches_scope() -> None:
    assert str(Target(scope="group", value="web")) == "group:web"
    with pytest.raises(ValidationError, match="scope all takes no value"):
        Target(scope="all", value="web")
    with pytest.raises(ValidationError, match="group and node need one"):
        Target(scope="node")


def test_unknown_action_in_a_hand_made_plan_is_refused_when_used() -> None:
    bogus = Task(key="0", backend="apt", action="frobnicate", loc=HERE)
    with pytest.raises(ValueError, match=r"unknown action apt\.frobnicate"):
        bogus.action_params()
