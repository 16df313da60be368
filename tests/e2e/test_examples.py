"""Every example grid in dags_examples/grids runs green against the demo server.

Runs through the real CLI (in-process) on the local engine; the Prefect
engine is covered by test_grid_semantics. Each example is checked for what
it is meant to show, not only for success.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gridflow.cli import app
from tests.support.demo import demo_server

ROOT = Path(__file__).resolve().parents[2]
GRIDS = ROOT / "dags_examples" / "grids"


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with demo_server() as url:
        yield url


def run(grid: str, url: str, *extra: str) -> tuple[dict[str, Any], str]:
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(GRIDS / grid),
            "--engine",
            "local",
            "-o",
            "json",
            "-var",
            f"base_url={url}",
            *extra,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def check_http_fanout(doc: dict[str, Any], stderr: str) -> None:
    steps = doc["steps"]
    assert steps["http_request.get_item"]["keys"] == ["1", "2", "3", "4", "5"]
    assert steps["assert.item_ok"]["succeeded"] == 5
    assert steps["print.summary"]["output"].startswith("fetched 5 items (item-1, item-2")


def check_hello(doc: dict[str, Any], stderr: str) -> None:
    assert doc["steps"]["print.greet"]["outputs"][1] == "hello, Grace (#2)"
    banner = doc["steps"]["print.banner"]
    assert banner["output"] == "ADA, GRACE, LINUS\nsaid 3 greetings\n"
    assert banner["outputs"] == [banner["output"]]  # SPEC §6: outputs for every step


def check_retries_and_timeouts(doc: dict[str, Any], stderr: str) -> None:
    assert doc["steps"]["http_request.flaky"]["attempts"] == 3
    assert doc["steps"]["http_request.flaky"]["output"]["status_code"] == 200
    assert "attempt 1/4 failed" in stderr


def check_dynamic_fanout(doc: dict[str, Any], stderr: str) -> None:
    assert doc["steps"]["http_request.work"]["instances"] == 4
    assert doc["steps"]["print.done"]["output"]["statuses"] == [200, 200, 200, 200]


def check_race_first_output(doc: dict[str, Any], stderr: str) -> None:
    assert doc["steps"]["print.third"]["output"] == "mirror #2 answered 200"
    assert doc["steps"]["print.fastest"]["output"].startswith("first mirror answered in")


def check_assertions(doc: dict[str, Any], stderr: str) -> None:
    assert doc["status"] == "success"
    assert doc["steps"]["http_request.known_broken"]["status"] == "failed"
    assert doc["steps"]["assert.item_contract"]["output"]["passed"] is True
    assert doc["steps"]["print.verdict"]["output"].endswith("broken probe status: failed")


def check_conditional(doc: dict[str, Any], stderr: str) -> None:
    assert doc["steps"]["http_request.soak"]["status"] == "skipped"
    assert doc["steps"]["print.summary"]["output"] == "env=dev smoke=success soak=skipped"


def check_env_and_cmd(doc: dict[str, Any], stderr: str) -> None:
    report = doc["steps"]["print.report"]["output"]
    assert report.endswith("3 lines, token ***")
    assert "not-a-real-token" not in json.dumps(doc)
    assert "not-a-real-token" not in stderr
    assert "token ***" in stderr


CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "http_fanout": check_http_fanout,
    "hello": check_hello,
    "retries_and_timeouts": check_retries_and_timeouts,
    "dynamic_fanout": check_dynamic_fanout,
    "race_first_output": check_race_first_output,
    "assertions": check_assertions,
    "conditional": check_conditional,
    "env_and_cmd": check_env_and_cmd,
}


def test_every_example_has_a_check() -> None:
    assert sorted(p.name for p in GRIDS.iterdir() if p.is_dir()) == sorted(CHECKS)


@pytest.mark.parametrize("grid", sorted(CHECKS))
def test_example_runs_green(grid: str, demo_url: str) -> None:
    doc, stderr = run(grid, demo_url)
    assert doc["status"] == "success"
    CHECKS[grid](doc, stderr)


def test_conditional_with_profile(demo_url: str) -> None:
    doc, _ = run("conditional", demo_url, "--profile", "staging")
    assert doc["steps"]["http_request.soak"]["status"] == "success"
    assert doc["steps"]["print.summary"]["output"] == "env=staging smoke=success soak=success"
