"""Grid semantics, each shown by running a grid through ``gridflow run -o json``
on every engine (local and Prefect) against a real local HTTP server."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import GridRunner


def test_count_fan_out_keeps_instance_order(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        step "print" "each" {
          count = 5
          arguments { input = "n=${count.index * 10}" }
        }
        """
    )
    assert res.exit_code == 0, res.stderr
    step = res.step("print.each")
    assert step["status"] == "success"
    assert (step["instances"], step["succeeded"], step["failed"]) == (5, 5, 0)
    assert step["outputs"] == ["n=0", "n=10", "n=20", "n=30", "n=40"]


def test_for_each_each_chain_and_all_to_one(run_grid: GridRunner, http_server: Any) -> None:
    res = run_grid(
        f"""
        locals {{ names = ["b", "a", "c"] }}
        step "http_request" "get" {{
          for_each = toset(local.names)
          arguments {{ url = "{http_server.url}/status/20${{length(each.key)}}" }}
        }}
        step "print" "per_instance" {{
          arguments {{ input = "${{each.key}}=${{http_request.get[each].output.status_code}}" }}
        }}
        step "print" "summary" {{
          arguments {{ input = "made ${{length(step.http_request.get.output)}} requests" }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    assert res.step("http_request.get")["keys"] == ["a", "b", "c"]
    assert res.step("print.per_instance")["outputs"] == ["a=201", "b=201", "c=201"]
    assert res.step("print.summary")["output"] == "made 3 requests"


def test_specific_instance_and_first_output(run_grid: GridRunner, http_server: Any) -> None:
    res = run_grid(
        f"""
        step "http_request" "race" {{
          count = 3
          arguments {{ url = "{http_server.url}/delay/${{(3 - count.index) * 150}}" }}
        }}
        step "print" "third" {{
          arguments {{ input = http_request.race[2].output.status_code }}
        }}
        step "print" "winner" {{
          arguments {{ input = http_request.race.first_output.status_code }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    assert res.step("print.third")["output"] == 200
    assert res.step("print.winner")["output"] == 200


def test_dynamic_fan_out_from_upstream_output(run_grid: GridRunner, http_server: Any) -> None:
    res = run_grid(
        f"""
        step "http_request" "list" {{
          arguments {{
            url    = "{http_server.url}/echo"
            method = "POST"
            json   = {{ items = ["x", "y", "z", "w"] }}
          }}
        }}
        step "print" "item" {{
          count = length(http_request.list.output.json.json.items)
          arguments {{ input = http_request.list.output.json.json.items[count.index] }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    assert res.step("print.item")["outputs"] == ["x", "y", "z", "w"]


def test_retry_attempts_are_counted(run_grid: GridRunner, http_server: Any) -> None:
    key = uuid.uuid4().hex
    res = run_grid(
        f"""
        step "http_request" "flaky" {{
          retry {{
            attempts = 3
            delay    = "50ms"
          }}
          arguments {{
            url           = "{http_server.url}/flaky/{key}/2"
            expect_status = [200]
          }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    step = res.step("http_request.flaky")
    assert step["status"] == "success"
    assert step["attempts"] == 3
    assert step["output"]["status_code"] == 200


def test_retries_exhausted_fail_the_run(run_grid: GridRunner, http_server: Any) -> None:
    key = uuid.uuid4().hex
    res = run_grid(
        f"""
        step "http_request" "flaky" {{
          retry {{ attempts = 2 }}
          arguments {{
            url           = "{http_server.url}/flaky/{key}/5"
            expect_status = ["2xx"]
          }}
        }}
        """
    )
    assert res.exit_code == 1
    assert res.doc is not None
    assert res.doc["status"] == "failed"
    step = res.step("http_request.flaky")
    assert (step["status"], step["attempts"], step["failed"]) == ("failed", 2, 1)
    assert "503" in step["errors"][0]["message"]


def test_if_false_skips_and_dependents_still_run(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        variable "enabled" {
          type    = bool
          default = false
        }
        step "print" "maybe" {
          if = var.enabled
          arguments { input = "ran" }
        }
        step "print" "after" {
          arguments { input = coalesce(print.maybe.output, "maybe was skipped") }
        }
        """
    )
    assert res.exit_code == 0, res.stderr
    assert res.step("print.maybe")["status"] == "skipped"
    assert res.step("print.maybe")["skipped"] == 1
    assert res.step("print.after")["output"] == "maybe was skipped"


def test_fail_fast_cancels_a_slow_request_in_flight(run_grid: GridRunner, http_server: Any) -> None:
    started = time.monotonic()
    res = run_grid(
        f"""
        step "http_request" "slow" {{
          arguments {{
            url     = "{http_server.url}/delay/20000"
            timeout = "60s"
          }}
        }}
        step "cmd" "boom" {{
          delay_before = "300ms"
          arguments {{ argv = ["false"] }}
        }}
        step "print" "never" {{
          arguments {{ input = http_request.slow.output.status_code }}
        }}
        """
    )
    elapsed = time.monotonic() - started
    assert res.exit_code == 1
    assert elapsed < 12, f"fail-fast took {elapsed:.1f}s"
    assert res.doc is not None
    assert res.doc["status"] == "failed"
    assert res.step("cmd.boom")["status"] == "failed"
    assert res.step("http_request.slow")["status"] == "cancelled"
    assert res.step("print.never")["status"] == "cancelled"


def test_continue_on_error_lets_the_run_go_on(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        step "cmd" "fails" {
          continue_on_error = true
          arguments { argv = ["sh", "-c", "echo oops >&2; exit 3"] }
        }
        step "print" "sees_error" {
          arguments { input = cmd.fails.error.kind }
        }
        """
    )
    assert res.exit_code == 0, res.stderr
    assert res.step("cmd.fails")["status"] == "failed"
    assert res.step("print.sees_error")["output"] == "expected"


VARIABLES = """
variable "greeting" {
  type    = string
  default = "default"
}
variable "count_n" {
  type    = number
  default = 1
}
step "print" "hello" {
  count = var.count_n
  arguments { input = "${var.greeting}-${count.index}" }
}
"""


@pytest.mark.parametrize(
    ("files", "args", "env", "expected"),
    [
        ({}, [], {}, ["default-0"]),
        ({}, ["-var", "greeting=cli", "-var", "count_n=2"], {}, ["cli-0", "cli-1"]),
        ({}, [], {"GRIDFLOW_VAR_greeting": "env"}, ["env-0"]),
        (
            {"vars.json": json.dumps({"greeting": "file"})},
            ["-var-file", "{grid}/vars.json"],
            {},
            ["file-0"],
        ),
        (
            {"profiles/staging.yaml": "greeting: staging\ncount_n: 2\n"},
            ["--profile", "staging"],
            {},
            ["staging-0", "staging-1"],
        ),
        ({}, ["-var", "greeting=cli"], {"GRIDFLOW_VAR_greeting": "env"}, ["cli-0"]),
    ],
    ids=["default", "cli", "env", "var-file", "profile", "cli-beats-env"],
)
def test_variables_from_every_source(
    run_grid: GridRunner,
    tmp_path: Any,
    files: dict[str, str],
    args: list[str],
    env: dict[str, str],
    expected: list[str],
) -> None:
    grid = tmp_path / "grid"
    extra = dict(files)
    argv = [a.replace("{grid}", str(grid)) for a in args]
    res = run_grid({"main.hcl": VARIABLES, **extra}, *argv, env=env)
    assert res.exit_code == 0, res.stderr
    assert res.step("print.hello")["outputs"] == expected


def test_shared_http_client_resource(run_grid: GridRunner, http_server: Any) -> None:
    res = run_grid(
        f"""
        resource "http_client" "api" {{
          arguments {{
            base_url = "{http_server.url}"
            headers  = {{ "X-Grid" = "yes" }}
          }}
        }}
        step "http_request" "calls" {{
          count       = 4
          uses        {{ client = resource.http_client.api }}
          concurrency {{ limit = 2 }}
          arguments   {{ url = "/echo?i=${{count.index}}" }}
        }}
        """
    )
    assert res.exit_code == 0, res.stderr
    outputs = res.step("http_request.calls")["outputs"]
    assert [o["status_code"] for o in outputs] == [200] * 4
    assert all(o["json"]["headers"].get("x-grid") == "yes" for o in outputs)


def test_sensitive_variable_never_in_result(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        variable "token" {
          type      = string
          sensitive = true
        }
        step "print" "leak" {
          arguments { input = "token is ${var.token}" }
        }
        """,
        "-var",
        "token=s3cr3t-value",
    )
    assert res.exit_code == 0, res.stderr
    assert "s3cr3t-value" not in res.stdout
    assert "s3cr3t-value" not in res.stderr
    assert res.step("print.leak")["output"] == "token is ***"


def test_credentials_in_resources_and_headers_are_masked(
    run_grid: GridRunner, http_server: Any
) -> None:
    res = run_grid(
        f"""
        resource "http_client" "api" {{
          arguments {{
            base_url = "{http_server.url}"
            auth     = {{ type = "bearer", token = "tok-resource-123" }}
          }}
        }}
        step "http_request" "echo" {{
          uses {{ client = resource.http_client.api }}
          arguments {{
            url     = "/echo"
            headers = {{ "X-Api-Key" = "key-header-456" }}
          }}
        }}
        step "print" "seen" {{
          arguments {{ input = http_request.echo.output.json.headers }}
        }}
        """,
        "-v",
    )
    assert res.exit_code == 0, res.stderr
    for secret in ("tok-resource-123", "key-header-456"):
        assert secret not in res.stdout
        assert secret not in res.stderr
    headers = res.step("print.seen")["output"]
    assert headers["authorization"] == "Bearer ***"
    assert headers["x-api-key"] == "***"


def test_abort_if_false_fails_the_run(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        variable "ready" { default = false }
        step "print" "gate" {
          if             = var.ready
          abort_if_false = true
          arguments { input = "go" }
        }
        step "print" "after" {
          arguments { input = print.gate.output }
        }
        """
    )
    assert res.exit_code == 1
    assert res.doc is not None
    assert res.doc["error"]["message"] == "print.gate: the if condition is false (abort_if_false)"
    assert res.step("print.gate")["status"] == "failed"
    assert res.step("print.after")["status"] == "cancelled"


def test_bad_grid_is_exit_2_with_location(run_grid: GridRunner) -> None:
    res = run_grid(
        """
        step "htp_request" "x" {
          arguments { url = "http://127.0.0.1:9" }
        }
        """
    )
    assert res.exit_code == 2
    assert res.doc is None
    assert "main.hcl:2:" in res.stderr
    assert 'did you mean "http_request"?' in res.stderr
    assert "Traceback" not in res.stderr
