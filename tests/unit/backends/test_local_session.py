"""LocalSession: real subprocesses on this machine through the NodeSession interface."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from pathlib import Path

import pytest

from gridflow.nodes.base import MAX_OUTPUT_BYTES, Command, CommandResult, CommandTimedOut
from gridflow.nodes.local import LocalSession, command_argv, describe_command
from tests.support.processes import alive, process_tree, tree_pids, wait_dead
from tests.support.standins import Standins

NI = {"DEBIAN_FRONTEND": "noninteractive"}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def run(command: Command, timeout_s: float | None = None, **session: bool) -> CommandResult:
    async def main() -> CommandResult:
        async with LocalSession("n1", **session) as node:
            return await node.run(command, timeout_s=timeout_s)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("command", "stdout"),
    [
        (Command(argv=("printf", "%s|", "a b", "$HOME", "`id`", "; rm -rf /")),
         "a b|$HOME|`id`|; rm -rf /|"),
        (Command(shell="echo one; echo two"), "one\ntwo\n"),
        (Command(argv=("sh", "-c", 'echo "$FOO"'), env={"FOO": "x y"}), "x y\n"),
        (Command(shell='test -n "$PATH" && echo kept', env={"FOO": "x"}), "kept\n"),
        (Command(argv=("cat",), input="from stdin\n"), "from stdin\n"),
        (Command(argv=("cat",)), ""),
        (Command(argv=("pwd",), cwd="/"), "/\n"),
    ],
    ids=["argv-verbatim", "shell", "env", "env-merged-over-os-environ", "stdin",
         "stdin-empty-by-default", "cwd"],
)  # fmt: skip
def test_runs_commands(command: Command, stdout: str) -> None:
    res = run(command)
    assert (res.exit_code, res.stdout, res.stderr) == (0, stdout, "")
    assert res.duration_s > 0


def test_non_zero_exit_is_a_result() -> None:
    res = run(Command(shell="echo out; echo err >&2; exit 7"))
    assert (res.exit_code, res.stdout, res.stderr) == (7, "out\n", "err\n")


@pytest.mark.parametrize(
    ("command", "code", "stderr"),
    [
        (Command(argv=("/no/such/program", "x")), 127, "/no/such/program: command not found\n"),
        (Command(argv=("true",), cwd="/no/such/dir"), 2,
         "cannot change directory to /no/such/dir: no such directory\n"),
        (Command(argv=("{tmp}/data.txt",)), 126,
         "{tmp}/data.txt: cannot execute: Permission denied\n"),
        (Command(argv=("printf", "a\x00b")), 126, "printf: cannot execute: embedded null byte\n"),
    ],
    ids=["program-not-found", "cwd-not-found", "not-executable", "nul-byte"],
)  # fmt: skip
def test_start_failures_answer_like_a_shell(
    command: Command, code: int, stderr: str, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("not a program\n")
    if command.argv is not None:
        argv = tuple(a.replace("{tmp}", str(tmp_path)) for a in command.argv)
        command = dataclasses.replace(command, argv=argv)
    stderr = stderr.replace("{tmp}", str(tmp_path))
    res = run(command)
    assert (res.exit_code, res.stdout, res.stderr) == (code, "", stderr)


def test_stdout_keeps_its_head_and_stderr_its_tail() -> None:
    n = MAX_OUTPUT_BYTES + 5000
    res = run(
        Command(
            shell=f"head -c {n} /dev/zero | tr '\\0' a; printf B; "
            f"printf A >&2; head -c {n} /dev/zero | tr '\\0' z >&2"
        )
    )
    assert (len(res.stdout), res.stdout_truncated, "B" in res.stdout) == (
        MAX_OUTPUT_BYTES, True, False,
    )  # fmt: skip
    assert (len(res.stderr), res.stderr_truncated, "A" in res.stderr) == (
        MAX_OUTPUT_BYTES, True, False,
    )  # fmt: skip


# A timeout's message names the node; that the process group dies on
# cancellation too is run_process's doing, shared with the cmd runner and
# tested there (tests/unit/runners/test_cmd.py).
def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    script, pidfile = process_tree(tmp_path)
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        run(Command(shell=script), timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert info.value.message == (
        f"node n1: {describe_command(Command(shell=script))!r} ran longer than its timeout of "
        "0.5s and was killed with its process group"
    )
    pids = tree_pids(pidfile)
    assert wait_dead(pids) == [], [p for p in pids if alive(p)]


# -------------------------------------------------------------------- sudo


@pytest.mark.parametrize(
    ("command", "node_sudo", "argv"),
    [
        (Command(argv=("apt-get", "update")), False, ["apt-get", "update"]),
        (Command(argv=("apt-get", "update")), True, ["sudo", "-n", "--", "apt-get", "update"]),
        (Command(argv=("apt-get", "update"), sudo=True), False,
         ["sudo", "-n", "--", "apt-get", "update"]),
        (Command(argv=("apt-get", "update"), env={"DEBIAN_FRONTEND": "noninteractive"}), True,
         ["sudo", "-n", "--", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update"]),
        (Command(shell="id -u"), True, ["sudo", "-n", "--", "/bin/sh", "-c", "id -u"]),
    ],
    ids=["plain", "node-sudo", "command-sudo", "env-survives-sudo", "shell"],
)  # fmt: skip
def test_command_argv(command: Command, node_sudo: bool, argv: list[str]) -> None:
    assert command_argv(command, sudo=node_sudo) == argv


def test_sudo_runs_through_sudo_n_and_keeps_env(standins: Standins) -> None:
    res = run(
        Command(argv=("apt-get", "update"), env={"DEBIAN_FRONTEND": "noninteractive"}), sudo=True
    )
    assert res.exit_code == 0, res.stderr
    calls = standins.calls()
    assert [c["argv"] for c in calls] == [
        ["sudo", "-n", "--", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update"],
        ["apt-get", "update"],
    ]
    assert calls[1]["env"] == {"DEBIAN_FRONTEND": "noninteractive"}


def test_environment_is_merged_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDFLOW_TEST_OUTER", "outer")
    res = run(Command(shell='echo "$GRIDFLOW_TEST_OUTER $INNER"', env={"INNER": "inner"}))
    assert res.stdout == "outer inner\n"
    assert "INNER" not in os.environ


@pytest.mark.parametrize(
    ("command", "node_sudo", "text"),
    [
        (Command(argv=("apt-get", "install", "-y", "nginx"), env=NI), False,
         "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx"),
        (Command(argv=("apt-get", "update"), env=NI), True,
         "sudo -n -- env DEBIAN_FRONTEND=noninteractive apt-get update"),
        (Command(argv=("printf", "%s", "it's $(id)"), env={"A": "x y"}), False,
         "A='x y' printf %s 'it'\"'\"'s $(id)'"),
        (Command(shell="ls | wc -l", cwd="/srv/my app"), False,
         "cd '/srv/my app' && /bin/sh -c 'ls | wc -l'"),
        (Command(argv=("cat",), input="secret"), False, "cat  # with text on stdin"),
    ],
    ids=["env", "sudo-env", "quoted", "shell-cwd", "stdin-not-shown"],
)  # fmt: skip
def test_describe_command(command: Command, node_sudo: bool, text: str) -> None:
    assert describe_command(command, sudo=node_sudo) == text
