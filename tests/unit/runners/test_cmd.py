"""cmd: argv and shell, env, cwd, stdin, exit codes, output caps, and no process
left behind on timeout or cancellation."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError, StepTimeout
from gridflow.runners.base import RunContext
from gridflow.runners.cmd import MAX_OUTPUT_BYTES, CmdInputs, CmdRunner
from tests.support.processes import process_tree, tree_pids, wait_dead

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def run(**args: Any) -> dict[str, Any]:
    inputs = CmdInputs.model_validate(args)
    out = asyncio.run(CmdRunner().run(inputs, RunContext(step_id="cmd.t")))
    return out.model_dump(mode="json")


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        ({"argv": ["echo", "hello", "world"]}, "hello world\n"),
        ({"shell": "echo one; echo two"}, "one\ntwo\n"),
        ({"argv": ["printf", "%s|", "a b", "$HOME", "`id`", "; rm -rf /"]},
         "a b|$HOME|`id`|; rm -rf /|"),
        ({"argv": ["sh", "-c", 'echo "$FOO-$BAR"'], "env": {"FOO": "x", "BAR": 2}}, "x-2\n"),
        ({"shell": "test -n \"$PATH\" && echo path-kept", "env": {"FOO": "x"}}, "path-kept\n"),
        ({"argv": ["cat"], "input": "from stdin\n"}, "from stdin\n"),
        ({"argv": ["cat"]}, ""),
        ({"shell": "printf 'caf\\303\\251 \\377'"}, "café \ufffd"),
    ],
    ids=["argv", "shell", "argv-is-never-parsed-by-a-shell", "env", "env-merged-over-os-environ",
         "stdin", "stdin-empty-by-default", "undecodable-bytes-replaced"],
)  # fmt: skip
def test_runs_and_captures(args: dict[str, Any], stdout: str) -> None:
    out = run(**args)
    assert out["stdout"] == stdout
    assert out["exit_code"] == 0
    assert out["duration_ms"] > 0


def test_no_shell_injection_through_argv(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = run(argv=["echo", f"$(touch {marker})", f"; touch {marker}"])
    assert out["stdout"] == f"$(touch {marker}) ; touch {marker}\n"
    assert not marker.exists()


def test_cwd(tmp_path: Path) -> None:
    assert run(argv=["pwd"], cwd=str(tmp_path))["stdout"] == f"{tmp_path}\n"


def test_stderr_is_captured_separately() -> None:
    out = run(shell="echo out; echo err >&2")
    assert (out["stdout"], out["stderr"]) == ("out\n", "err\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"shell": "echo boom >&2; exit 3"},
         "cmd: 'echo boom >&2; exit 3' exited with 3 (ok exit codes: 0); stderr: boom"),
        ({"argv": ["false"]}, "cmd: 'false' exited with 1 (ok exit codes: 0); stderr was empty"),
        ({"argv": ["sh", "-c", "exit 0"], "ok_exit_codes": [1, 2]},
         "cmd: 'sh -c exit 0' exited with 0 (ok exit codes: 1, 2); stderr was empty"),
        ({"shell": "kill -9 $$"},
         "cmd: 'kill -9 $$' killed by signal 9 (ok exit codes: 0); stderr was empty"),
    ],
    ids=["shell-exit-3", "false", "zero-not-ok", "killed-by-signal"],
)  # fmt: skip
def test_bad_exit_code_fails(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpectedError) as info:
        run(**args)
    assert info.value.message == message
    output = info.value.details["output"]
    assert isinstance(output, dict)
    assert set(output) >= {"stdout", "stderr", "exit_code", "duration_ms"}


def test_ok_exit_codes() -> None:
    assert run(shell="exit 3", ok_exit_codes=[0, 3])["exit_code"] == 3


def test_failure_message_quotes_the_tail_of_stderr() -> None:
    with pytest.raises(ExpectedError) as info:
        run(shell="for i in $(seq 1 400); do echo line$i >&2; done; exit 1")
    assert info.value.message.endswith("line399\nline400")
    assert "line1\n" not in info.value.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"argv": ["/no/such/program"]},
         "cmd: command not found: /no/such/program (check the spelling, or give the full path)"),
        ({"argv": ["true"], "cwd": "/no/such/dir"},
         "cmd: directory not found: /no/such/dir (check the spelling, or give the full path)"),
    ],
    ids=["program", "cwd"],
)  # fmt: skip
def test_not_found(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpectedError) as info:
        run(**args)
    assert info.value.message == message


def test_stdout_keeps_its_head_and_stderr_its_tail() -> None:
    n = MAX_OUTPUT_BYTES + 5000
    out = run(
        shell=f"head -c {n} /dev/zero | tr '\\0' a; printf B; "
        f"printf A >&2; head -c {n} /dev/zero | tr '\\0' z >&2"
    )
    assert len(out["stdout"]) == MAX_OUTPUT_BYTES
    assert out["stdout_truncated"] is True
    assert "B" not in out["stdout"]
    assert len(out["stderr"]) == MAX_OUTPUT_BYTES
    assert out["stderr_truncated"] is True
    assert "A" not in out["stderr"]


def test_small_output_is_not_flagged() -> None:
    out = run(argv=["echo", "x"])
    assert (out["stdout_truncated"], out["stderr_truncated"]) == (False, False)


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    script, pidfile = process_tree(tmp_path)
    started = time.monotonic()
    with pytest.raises(StepTimeout) as info:
        run(shell=script, timeout="500ms")
    assert time.monotonic() - started < 5
    assert info.value.message == (
        f"cmd: {script!r} ran longer than its timeout of 0.5s and was killed with its process group"
    )
    assert wait_dead(tree_pids(pidfile)) == []


def test_cancellation_kills_the_whole_process_tree(tmp_path: Path) -> None:
    script, pidfile = process_tree(tmp_path)

    async def main() -> None:
        task = asyncio.ensure_future(
            CmdRunner().run(CmdInputs(shell=script), RunContext(step_id="cmd.t"))
        )
        while not pidfile.exists() or len(pidfile.read_text().split()) < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert wait_dead(tree_pids(pidfile)) == []


def test_runtime_step_timeout_kills_the_tree(tmp_path: Path) -> None:
    """The runtime wraps run() in asyncio.wait_for: that cancellation must kill too."""
    script, pidfile = process_tree(tmp_path)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                CmdRunner().run(CmdInputs(shell=script), RunContext(step_id="cmd.t")), 0.5
            )

    asyncio.run(main())
    assert wait_dead(tree_pids(pidfile)) == []


def test_background_child_holding_the_pipes_does_not_block() -> None:
    started = time.monotonic()
    out = run(shell="sleep 30 & echo $!")
    elapsed = time.monotonic() - started
    pid = int(out["stdout"].split()[0])
    try:
        assert elapsed < 5
        assert out["exit_code"] == 0
    finally:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({}, "set exactly one of argv"),
        ({"argv": ["a"], "shell": "b"}, "set exactly one of argv"),
        ({"argv": []}, "at least 1 item"),
        ({"shell": ""}, "at least 1 character"),
        ({"argv": "echo hi"}, "Input should be a valid list"),
        ({"argv": ["x"], "timeout": "1 minute"}, "invalid duration"),
        ({"argv": ["x"], "ok_exit_codes": []}, "at least 1 item"),
        ({"argv": ["x"], "command": "y"}, "Extra inputs are not permitted"),
    ],
    ids=["none", "both", "empty-argv", "empty-shell", "argv-string", "bad-timeout",
         "no-ok-codes", "unknown-argument"],
)  # fmt: skip
def test_bad_inputs(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        CmdInputs.model_validate(args)
    assert fragment in str(info.value)


def test_an_argument_no_process_can_receive_is_a_clear_error() -> None:
    with pytest.raises(ExpectedError) as info:
        run(argv=["printf", "a\x00b"])
    assert info.value.message == "cmd: cannot start 'printf a\\x00b': embedded null byte"
