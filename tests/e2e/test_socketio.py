"""A grid with ``socketio`` steps, run by ``gridflow run -o json`` against a real server."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import GridRunner
from tests.support.socketio_server import SECRET_TOKEN, LocalSocketIOServer

GRID = """\
variable "sio_url" { type = string }
variable "token" {
  type      = string
  sensitive = true
}

step "socketio" "chat" {
  arguments {
    url       = var.sio_url
    namespace = "/chat"
    timeout   = "5s"
    sequence = [
      { emit = "echo", data = { text = "hi" } },
      { expect = "echo_reply", timeout = "2s" },
      { emit = "burst", data = { n = 3 } },
      { expect = "done" },
    ]
  }
}

step "socketio" "secure" {
  arguments {
    url        = var.sio_url
    namespace  = "/secure"
    auth       = { token = var.token }
    emit_event = "echo"
    emit_data  = "from ${socketio.chat.output.received[0].data.data.text}"
    on_event   = "echo_reply"
  }
}

step "print" "summary" {
  arguments {
    input = "${socketio.secure.output.response_data.data}, ${socketio.chat.output.events} events"
  }
}
"""

DROPPED = """\
variable "sio_url" { type = string }

step "socketio" "dropped" {
  arguments {
    url        = var.sio_url
    emit_event = "drop_me"
    on_event   = "never"
  }
}
"""


@pytest.mark.parametrize("engine", ["local"])
def test_socketio_steps_in_a_grid(
    run_grid: GridRunner, socketio_server: LocalSocketIOServer
) -> None:
    result = run_grid(
        GRID, "-var", f"sio_url={socketio_server.url}", "-var", f"token={SECRET_TOKEN}"
    )
    assert result.exit_code == 0, result.stderr
    chat = result.step("socketio.chat")["output"]
    assert [r["event"] for r in chat["received"]] == ["echo_reply", "done"]
    assert chat["response_data"] == {"n": 3}
    assert chat["events"] == 5  # echo_reply, three ticks, done
    assert chat["connect_ms"] <= chat["duration_ms"]
    assert result.step("socketio.secure")["output"]["response_data"] == {
        "namespace": "/secure",
        "data": "from hi",
    }
    assert result.step("print.summary")["output"] == "from hi, 5 events"
    assert SECRET_TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("engine", ["local"])
def test_a_dropped_connection_fails_the_run(
    run_grid: GridRunner, socketio_server: LocalSocketIOServer
) -> None:
    result = run_grid(DROPPED, "-var", f"sio_url={socketio_server.url}")
    assert result.exit_code == 1, result.stdout
    [error] = result.step("socketio.dropped")["errors"]
    assert error["kind"] == "retryable"
    assert error["details"]["kind"] == "disconnect"
    assert error["message"] == (
        f"Socket.IO {socketio_server.url} namespace /: the connection closed (server "
        f'disconnect) while waiting for "never"'
    )


@pytest.mark.parametrize("engine", ["local"])
def test_a_bad_url_is_reported_when_the_grid_loads(run_grid: GridRunner) -> None:
    result = run_grid('step "socketio" "x" {\n  arguments { url = "ftp://127.0.0.1/" }\n}\n')
    assert result.exit_code == 2
    assert 'has scheme "ftp"; a Socket.IO URL starts with http://' in result.stderr
