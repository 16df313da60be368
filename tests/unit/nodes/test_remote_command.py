"""remote_command: the exact line the node's login shell receives, for every
part of a Command, and the refusals for what no shell line can carry.

What the line *does* on a real shell (hostile arguments arriving verbatim) is
checked against real sshd nodes in test_ssh.py; these pin its shape.
"""

from __future__ import annotations

import subprocess

import pytest

from gridflow.nodes.base import Command
from gridflow.nodes.ssh import remote_command


@pytest.mark.parametrize(
    ("command", "sudo", "line"),
    [
        (Command(argv=("echo", "hi")), False, "exec echo hi"),
        (Command(argv=("echo", "a b", "it's")), False, "exec echo 'a b' 'it'\"'\"'s'"),
        (
            Command(argv=("apt-get", "install", "-y", "'; touch /tmp/pwned #")),
            False,
            "exec apt-get install -y ''\"'\"'; touch /tmp/pwned #'",
        ),
        (Command(argv=("echo", "$(id)", "`id`")), False, "exec echo '$(id)' '`id`'"),
        # A program named like an assignment or a reserved word stays a program after exec.
        (Command(argv=("if", "A=B")), False, "exec if A=B"),
        (Command(shell="echo $HOME | wc -c"), False, "exec /bin/sh -c 'echo $HOME | wc -c'"),
        (Command(argv=("printenv", "X"), env={"X": "1 2"}), False, "exec env 'X=1 2' printenv X"),
        (
            Command(argv=("/opt/a=b/run",), env={"X": "1"}),
            False,
            'exec env X=1 /bin/sh -c \'exec "$0" "$@"\' /opt/a=b/run',
        ),
        (Command(argv=("pwd",), cwd="/tmp/my dir"), False, "cd -- '/tmp/my dir' && exec pwd"),
        (
            Command(argv=("apt-get", "update"), env={"DEBIAN_FRONTEND": "noninteractive"}),
            True,
            "exec sudo -n -- env DEBIAN_FRONTEND=noninteractive apt-get update",
        ),
        (
            Command(shell="id -u", cwd="-odd"),
            True,
            "cd -- -odd && exec sudo -n -- /bin/sh -c 'id -u'",
        ),
    ],
    ids=[
        "argv",
        "spaces-and-quotes",
        "quote-breakout",
        "substitutions",
        "reserved-word-and-assignment",
        "shell",
        "env",
        "env-with-equals-in-program",
        "cwd",
        "sudo-env",
        "sudo-shell-cwd-dash",
    ],
)
def test_line(command: Command, sudo: bool, line: str) -> None:
    assert remote_command(command, sudo=sudo) == line


HOSTILE = ("'; touch /tmp/pwned #", "$(id)", "`id`", "a\nb", "*", "~", "", "-n", "\\", "A=B")


@pytest.mark.parametrize("login_shell", ["/bin/sh", "/bin/bash"])
@pytest.mark.parametrize(
    ("command", "out"),
    [
        (Command(argv=("printf", "<%s>", *HOSTILE)), "".join(f"<{a}>" for a in HOSTILE)),
        (Command(argv=("printenv", "V"), env={"V": "$(id) 'x' `y`"}), "$(id) 'x' `y`\n"),
        (Command(argv=("pwd",), cwd="/"), "/\n"),
        (Command(shell="printf '%s' \"$0\""), "/bin/sh"),
    ],
    ids=["argv", "env", "cwd", "shell"],
)
def test_a_real_shell_runs_the_line_verbatim(login_shell: str, command: Command, out: str) -> None:
    # The node runs the line with the login shell's -c, as sshd does.
    result = subprocess.run(
        [login_shell, "-c", remote_command(command)], capture_output=True, text=True, check=True
    )
    assert result.stdout == out


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (Command(argv=("true",), env={"A B": "1"}), "environment variable name 'A B' is not valid"),
        (Command(argv=("true",), env={"1X": "1"}), "environment variable name '1X' is not valid"),
        (Command(argv=("true",), env={"X=Y": "1"}), "environment variable name 'X=Y' is not valid"),
        (Command(argv=("true",), env={"É": "1"}), "environment variable name 'É' is not valid"),
        (Command(argv=("true",), env={"X": "a\0b"}), "environment variable X contains a NUL byte"),
        (Command(argv=("echo", "a\0b")), "the command contains a NUL byte"),
        (Command(argv=("pwd",), cwd="/t\0mp"), "the command contains a NUL byte"),
    ],
    ids=["space", "digit-first", "equals", "non-ascii", "nul-value", "nul-arg", "nul-cwd"],
)
def test_refused(command: Command, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        remote_command(command)
