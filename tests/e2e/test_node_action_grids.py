"""The fleet backends as grid runners, through ``gridflow run -o json`` on the
local engine (the runners are engine-free; one engine shows the wiring)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridflow.backends.program import BuildContext
from gridflow.backends.test_backend import expected_output, flaky_fails
from tests.e2e.conftest import GridRunner


@pytest.mark.parametrize("engine", ["local"])
def test_ping_and_test_steps(run_grid: GridRunner, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    res = run_grid(
        f"""
        step "ping" "hello" {{
          arguments {{
            action  = "echo"
            message = "$(touch {marker}) `touch {marker}`"
          }}
        }}
        step "ping" "host" {{
          arguments {{ action = "hostname" }}
        }}
        step "test" "flaky" {{
          count = 4
          retry {{
            attempts = 8
            delay    = "10ms"
          }}
          arguments {{
            action = "flaky"
            rate   = 50
          }}
        }}
        step "test" "lines" {{
          arguments {{
            action = "output"
            lines  = 3
            width  = 6
          }}
        }}
        step "print" "summary" {{
          arguments {{ input = "${{ping.host.output.output}}:${{test.lines.output.exit_code}}" }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    hello = res.step("ping.hello")["output"]
    assert hello["output"] == f"$(touch {marker}) `touch {marker}`"
    assert hello["commands"] == [f"printf %s '$(touch {marker}) `touch {marker}`'"]
    assert not marker.exists()
    assert res.step("test.lines")["output"]["output"] == expected_output(3, 6)
    assert res.step("print.summary")["output"] == f"{os.uname().nodename}:0"

    # Each instance needs as many attempts as its seeded draws say.
    def attempts_needed(index: int) -> int:
        attempt = 1
        seed = f"test.flaky[{index!r}]"
        while flaky_fails(50, BuildContext(node_id="local", attempt=attempt, seed=seed)):
            attempt += 1
        return attempt

    flaky = res.step("test.flaky")
    assert (flaky["status"], flaky["succeeded"]) == ("success", 4)
    assert flaky["attempts"] == sum(attempts_needed(i) for i in range(4))


@pytest.mark.parametrize("engine", ["local"])
def test_a_failing_action_fails_the_step(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        step "test" "boom" {
          arguments {
            action  = "fail"
            message = "broken on purpose"
          }
        }
        """
    )
    assert res.exit_code == 1
    step = res.step("test.boom")
    assert step["status"] == "failed"
    assert step["errors"][0]["message"] == "test fail: broken on purpose"
