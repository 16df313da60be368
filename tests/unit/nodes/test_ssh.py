"""The ssh transport against real sshd nodes (tests/support/sshd.py).

Commands (argv, shell, env, cwd, stdin, sudo) and what the nodes' recording
stand-ins received; no shell injection; exit codes as results; bounded
output; timeouts and cancellation that leave no remote process; host key
policy (unknown, hashed, changed, revoked, insecure); logins by key file,
inline key, passphrase and password, and refused ones; unreachable and killed
nodes; one connection for many commands; nodes in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gridflow.errors import ExpectedError, RetryableError
from gridflow.nodes.base import (
    MAX_OUTPUT_BYTES,
    Command,
    CommandResult,
    CommandTimedOut,
    HostKeyRejected,
    NodeAuthFailed,
    NodeUnreachable,
    SshTarget,
)
from gridflow.nodes.ssh import MAX_CHANNELS, SshSession
from tests.support.sshd import PasswordUser, SshNodes, fingerprint, keygen

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = TypeVar("T")


def with_session(
    target: SshTarget, use: Callable[[SshSession], Awaitable[T]], node_id: str = "node1"
) -> T:
    async def go() -> T:
        session = await SshSession.open(node_id, target)
        try:
            return await use(session)
        finally:
            await session.close()

    return asyncio.run(go())


def run(
    target: SshTarget, command: Command, timeout_s: float | None = 30.0, node_id: str = "node1"
) -> CommandResult:
    return with_session(target, lambda s: s.run(command, timeout_s=timeout_s), node_id)


def connect(target: SshTarget, node_id: str = "node1") -> None:
    """Open and close a session: raises what opening raises."""

    async def nothing(session: SshSession) -> None:
        return None

    with_session(target, nothing, node_id)


def remote_processes(pattern: str) -> list[str]:
    """Processes whose command line contains ``pattern`` (the nodes are local)."""
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return out.splitlines()


def gone(pattern: str, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while remote_processes(pattern):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def socket_port(listen: bool = False) -> Iterator[int]:
    """A free port on 127.0.0.2; with ``listen=True``, one on 127.0.0.1 where
    something accepts connections (into the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1" if listen else "127.0.0.2", 0))
        if listen:
            sock.listen(8)
        yield sock.getsockname()[1]


def unique_sleep() -> str:
    """A sleep duration no other process on the machine has: ``30.<random>``."""
    return f"30.{uuid.uuid4().int % 10**9:09d}"


# -- commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "exit_code", "stdout", "stderr"),
    [
        (Command(argv=("echo", "hello", "world")), 0, "hello world\n", ""),
        (Command(shell="echo out; echo err >&2; exit 3"), 3, "out\n", "err\n"),
        (Command(argv=("sh", "-c", "exit 42")), 42, "", ""),
        (Command(argv=("false",)), 1, "", ""),
        (Command(argv=("no-such-program-here",)), 127, "", "not found"),
        (Command(argv=("cat",), input="from stdin\nline 2"), 0, "from stdin\nline 2", ""),
        (Command(argv=("cat",)), 0, "", ""),
        (Command(argv=("pwd",), cwd="/tmp"), 0, "/tmp\n", ""),
        # root's login shell is bash, whose failing cd exits 1 (dash's: 2)
        (Command(argv=("pwd",), cwd="/no/such/dir"), 1, "", "/no/such/dir"),
        (
            Command(argv=("printenv", "A", "B"), env={"A": "x y", "B": "$(id)"}),
            0,
            "x y\n$(id)\n",
            "",
        ),
        (Command(shell='echo "$A"', env={"A": "via shell"}), 0, "via shell\n", ""),
        (Command(shell="printf 'caf\\303\\251 \\377'"), 0, "café \ufffd", ""),
        (Command(shell="kill -9 $$"), -9, "", ""),
        (Command(shell="kill -TERM $$"), -15, "", ""),
        (Command(argv=("id", "-un")), 0, "root\n", ""),
    ],
    ids=[
        "argv",
        "shell-exit-3",
        "exit-42",
        "false",
        "not-found",
        "stdin",
        "stdin-empty",
        "cwd",
        "cwd-missing",
        "env",
        "env-shell",
        "utf8-replacement",
        "killed-by-sigkill",
        "killed-by-sigterm",
        "user",
    ],
)
def test_command(
    ssh_nodes: SshNodes, command: Command, exit_code: int, stdout: str, stderr: str
) -> None:
    result = run(ssh_nodes.target("node1"), command)
    assert (result.exit_code, result.stdout) == (exit_code, stdout)
    assert stderr in result.stderr if stderr else result.stderr == ""
    assert not result.stdout_truncated
    assert not result.stderr_truncated
    assert 0 <= result.duration_s < 10


HOSTILE = (
    "'; touch /tmp/gridflow-pwned #",
    "$(touch /tmp/gridflow-pwned)",
    "`touch /tmp/gridflow-pwned`",
    "a && touch /tmp/gridflow-pwned",
    "x\ny",
    "*",
    "~root",
    "",
    '"',
    "\\",
    "-y",
)


def test_stand_in_records_exact_argv_and_hostile_args_arrive_verbatim(ssh_nodes: SshNodes) -> None:
    ssh_nodes.clear_calls("node2")
    Path("/tmp/gridflow-pwned").unlink(missing_ok=True)
    command = Command(
        argv=("apt-get", "install", "-y", *HOSTILE),
        env={"DEBIAN_FRONTEND": "noninteractive", "GRIDFLOW_PROBE": "$(touch /tmp/gridflow-pwned)"},
    )
    result = run(ssh_nodes.target("node2"), command)
    assert result.exit_code == 0
    [call] = ssh_nodes.calls("node2")
    assert call["argv"] == ["apt-get", "install", "-y", *HOSTILE]
    assert call["env"]["DEBIAN_FRONTEND"] == "noninteractive"
    assert call["env"]["GRIDFLOW_PROBE"] == "$(touch /tmp/gridflow-pwned)"
    assert call["node"] == "node2"
    assert not Path("/tmp/gridflow-pwned").exists()


def test_hostile_cwd_and_shell_string_stay_data(ssh_nodes: SshNodes) -> None:
    Path("/tmp/gridflow-pwned").unlink(missing_ok=True)
    odd = Path("/tmp") / "dir '; touch gridflow-pwned #"
    odd.mkdir(exist_ok=True)
    result = run(ssh_nodes.target("node1"), Command(argv=("pwd",), cwd=str(odd)))
    assert result.stdout == f"{odd}\n"
    result = run(ssh_nodes.target("node1"), Command(shell="printf '%s' \"$0\" '; ls'"))
    assert result.stdout == "/bin/sh; ls"
    assert not Path("/tmp/gridflow-pwned").exists()
    assert not (odd / "gridflow-pwned").exists()
    odd.rmdir()


@pytest.mark.parametrize(
    ("command_sudo", "target_sudo"),
    [(True, False), (False, True)],
    ids=["command-sudo", "target-sudo"],
)
def test_sudo_runs_through_sudo_n(
    ssh_nodes: SshNodes, command_sudo: bool, target_sudo: bool
) -> None:
    ssh_nodes.clear_calls("node3")
    command = Command(argv=("systemctl", "restart", "nginx"), env={"X": "1"}, sudo=command_sudo)
    result = run(ssh_nodes.target("node3", sudo=target_sudo), command)
    assert result.exit_code == 0
    assert ssh_nodes.argvs("node3") == [
        ["sudo", "-n", "--", "env", "X=1", "systemctl", "restart", "nginx"],
        ["systemctl", "restart", "nginx"],
    ]


def test_queued_failure_is_a_result_not_an_exception(ssh_nodes: SshNodes) -> None:
    ssh_nodes.clear_calls("node1")
    ssh_nodes.fail_next("node1", "apt-get", 100, "E: Unable to locate package nope\n")
    target = ssh_nodes.target("node1")
    failed = run(target, Command(argv=("apt-get", "install", "-y", "nope")))
    assert (failed.exit_code, failed.stderr) == (100, "E: Unable to locate package nope\n")
    again = run(target, Command(argv=("apt-get", "install", "-y", "nope")))
    assert again.exit_code == 0
    assert len(ssh_nodes.calls("node1", "apt-get")) == 2


def test_output_is_bounded_stdout_keeps_its_start_stderr_its_end(ssh_nodes: SshNodes) -> None:
    result = run(ssh_nodes.target("node1"), Command(shell="seq 1 400000; seq 1 400000 >&2"))
    assert result.exit_code == 0
    assert result.stdout_truncated
    assert result.stderr_truncated
    assert len(result.stdout.encode()) == len(result.stderr.encode()) == MAX_OUTPUT_BYTES
    assert result.stdout.startswith("1\n2\n3\n")
    assert result.stderr.endswith("399999\n400000\n")


def test_large_input_and_output_at_once_do_not_deadlock(ssh_nodes: SshNodes) -> None:
    text = "".join(f"{i}\n" for i in range(500_000))  # ~3.4 MB through cat and back
    result = run(ssh_nodes.target("node1"), Command(argv=("cat",), input=text))
    assert result.exit_code == 0
    assert result.stdout_truncated
    assert result.stdout == text.encode()[:MAX_OUTPUT_BYTES].decode()
    counted = run(ssh_nodes.target("node1"), Command(argv=("wc", "-c"), input=text))
    assert counted.stdout.strip() == str(len(text))


def test_background_child_holding_output_does_not_hold_the_result(ssh_nodes: SshNodes) -> None:
    pattern = f"sleep {unique_sleep()}"
    started = time.monotonic()
    result = run(ssh_nodes.target("node1"), Command(shell=f"{pattern} & echo started"))
    assert (result.exit_code, result.stdout) == (0, "started\n")
    assert time.monotonic() - started < 5
    subprocess.run(["pkill", "-f", pattern], check=False)


def test_invalid_env_name_is_a_clear_error(ssh_nodes: SshNodes) -> None:
    with pytest.raises(ExpectedError, match=r"^ssh node node1: environment variable name 'A B'"):
        run(ssh_nodes.target("node1"), Command(argv=("true",), env={"A B": "1"}))


# -- timeouts and cancellation ----------------------------------------------


@pytest.mark.parametrize("sudo", [False, True], ids=["plain", "sudo"])
def test_timeout_returns_promptly_and_kills_the_remote_command(
    ssh_nodes: SshNodes, sudo: bool
) -> None:
    pattern = f"sleep {unique_sleep()}"
    command = Command(shell=f"echo before; echo oops >&2; {pattern}; echo after", sudo=sudo)
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as caught:
        run(ssh_nodes.target("node2"), command, timeout_s=0.5, node_id="node2")
    assert time.monotonic() - started < 2.0
    assert str(caught.value) == (
        f"ssh node node2: {command.shell!r} ran longer than its timeout of 0.5s and was "
        "stopped (SIGKILL to its process group)"
    )
    assert caught.value.details["stdout"] == "before\n"
    assert caught.value.details["stderr"] == "oops\n"
    assert gone(pattern), remote_processes(pattern)


def test_cancellation_kills_the_remote_command_and_propagates(ssh_nodes: SshNodes) -> None:
    pattern = f"sleep {unique_sleep()}"

    async def use(session: SshSession) -> float:
        task = asyncio.create_task(session.run(Command(shell=pattern)))
        await asyncio.sleep(0.5)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        # The session is still usable afterwards.
        after = await session.run(Command(argv=("echo", "still here")))
        assert after.stdout == "still here\n"
        return elapsed

    assert with_session(ssh_nodes.target("node1"), use) < 0.5
    assert gone(pattern), remote_processes(pattern)


# -- host keys --------------------------------------------------------------


def unknown_key_message(nodes: SshNodes, node_id: str, known_hosts: Path) -> str:
    node = nodes[node_id]
    fp = nodes.host_key_fingerprint(node_id)
    return (
        f"ssh node {node_id}: the host key of {node.host}:{node.port} is not in {known_hosts}; "
        f"the node offered ssh-ed25519 {fp}. If that is the node's key (compare with "
        "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the node), trust it with "
        f"`ssh-keyscan -p {node.port} -t ed25519 {node.host} >> {known_hosts}`, or set "
        "insecure_skip_host_key_check: true on this node to skip the check (anyone on the "
        "network path could then impersonate it)"
    )


def test_unknown_host_key_is_refused_and_the_hint_fixes_it(
    ssh_nodes: SshNodes, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("# nothing known yet\n")
    target = ssh_nodes.target("node2", known_hosts=str(known_hosts))
    with pytest.raises(HostKeyRejected) as caught:
        connect(target, "node2")
    assert str(caught.value) == unknown_key_message(ssh_nodes, "node2", known_hosts)
    assert not isinstance(caught.value, RetryableError)
    # Follow the hint literally.
    hint = str(caught.value).split("trust it with `")[1].split("`")[0]
    subprocess.run(hint, shell=True, check=True, capture_output=True)
    assert run(target, Command(argv=("echo", "trusted"))).stdout == "trusted\n"


def test_known_hosts_of_another_node_does_not_vouch_for_this_one(
    ssh_nodes: SshNodes, tmp_path: Path
) -> None:
    # node1's key listed under node2's name: a different key, so "changed".
    node1, node2 = ssh_nodes["node1"], ssh_nodes["node2"]
    key = Path(f"{node1.host_key}.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{node2.known_hosts_name} {' '.join(key)}\n")
    with pytest.raises(HostKeyRejected, match="has CHANGED"):
        connect(ssh_nodes.target("node2", known_hosts=str(known_hosts)), "node2")


@pytest.mark.parametrize("form", ["hashed", "several-names", "with-comments-and-markers"])
def test_known_hosts_forms_openssh_writes(ssh_nodes: SshNodes, tmp_path: Path, form: str) -> None:
    node = ssh_nodes["node3"]
    key = " ".join(Path(f"{node.host_key}.pub").read_text().split()[:2])
    known_hosts = tmp_path / "known_hosts"
    if form == "hashed":
        known_hosts.write_text(f"{node.known_hosts_name} {key}\n")
        subprocess.run(
            ["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True
        )
        assert known_hosts.read_text().startswith("|1|")
    elif form == "several-names":
        known_hosts.write_text(f"other.example,{node.known_hosts_name},10.9.9.9 {key}\n")
    else:
        known_hosts.write_text(
            "# comment\n\n@cert-authority *.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA\n"
            "garbage line\n"
            f"{node.known_hosts_name} {key} a comment\n"
        )
    result = run(ssh_nodes.target("node3", known_hosts=str(known_hosts)), Command(argv=("true",)))
    assert result.exit_code == 0


def test_default_known_hosts_is_read_from_home(
    ssh_nodes: SshNodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".ssh").mkdir()
    ssh_nodes.write_known_hosts(tmp_path / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(tmp_path))
    target = ssh_nodes.target("node1", known_hosts=None)
    assert run(target, Command(argv=("true",))).exit_code == 0
    (tmp_path / ".ssh" / "known_hosts").unlink()
    with pytest.raises(HostKeyRejected, match=r"is not in .*/\.ssh/known_hosts;"):
        connect(target)


def test_missing_explicit_known_hosts_file_is_refused(ssh_nodes: SshNodes, tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(HostKeyRejected, match=f"^ssh node node1: known_hosts file {path} does"):
        connect(ssh_nodes.target("node1", known_hosts=str(path)))


def test_changed_host_key_is_refused_and_the_hint_fixes_it(own_ssh_node: SshNodes) -> None:
    nodes = own_ssh_node
    node = nodes["node1"]
    old = nodes.host_key_fingerprint("node1")
    nodes.rotate_host_key("node1")
    new = nodes.host_key_fingerprint("node1")
    assert old != new
    with pytest.raises(HostKeyRejected) as caught:
        connect(nodes.target("node1"))
    kh = nodes.known_hosts
    assert str(caught.value) == (
        f"ssh node node1: the host key of {node.host}:{node.port} has CHANGED: {kh} lists "
        f"ssh-ed25519 {old}, the node offered ssh-ed25519 {new}. Someone may be intercepting "
        "the connection, or the node was reinstalled. If the new key is right (check it on the "
        f"node), replace the old one: `ssh-keygen -R '[{node.host}]:{node.port}' -f {kh}` then "
        f"`ssh-keyscan -p {node.port} -t ed25519 {node.host} >> {kh}`; or set "
        "insecure_skip_host_key_check: true on this node to skip the check"
    )
    for step in (
        str(caught.value).split("replace the old one: `")[1].split("`; or")[0].split("` then `")
    ):
        subprocess.run(step, shell=True, check=True, capture_output=True)
    assert run(nodes.target("node1"), Command(argv=("true",))).exit_code == 0


def test_revoked_host_key_is_refused(ssh_nodes: SshNodes, tmp_path: Path) -> None:
    node = ssh_nodes["node1"]
    key = " ".join(Path(f"{node.host_key}.pub").read_text().split()[:2])
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{node.known_hosts_name} {key}\n@revoked * {key}\n")
    with pytest.raises(HostKeyRejected, match="is marked @revoked in"):
        connect(ssh_nodes.target("node1", known_hosts=str(known_hosts)))


def test_insecure_option_accepts_unknown_keys_with_one_warning(
    ssh_nodes: SshNodes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    node_id = f"insecure-{uuid.uuid4().hex[:8]}"  # the warning is once per node and process
    target = ssh_nodes.target("node2", known_hosts=str(empty), insecure_skip_host_key_check=True)
    with caplog.at_level(logging.WARNING, logger="gridflow.nodes.ssh"):
        for _ in range(2):
            result = with_session(target, lambda s: s.run(Command(argv=("true",))), node_id)
            assert result.exit_code == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "gridflow.nodes.ssh"]
    assert warnings == [
        f"ssh node {node_id}: host key of {target.host}:{target.port} NOT checked "
        "(insecure_skip_host_key_check is set); accepting ssh-ed25519 "
        f"{ssh_nodes.host_key_fingerprint('node2')}. Anyone on the network path can "
        "impersonate this node."
    ]


# -- logins -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client_keys(ssh_nodes: SshNodes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Authorized client keys of every kind: ed25519, rsa, ecdsa, an encrypted
    one (passphrase "sekret") and an rsa key in the old PEM format."""
    folder = tmp_path_factory.mktemp("client-keys")
    for name, key_type, passphrase, extra in [
        ("ed25519", "ed25519", "", ()),
        ("rsa", "rsa", "", ("-b", "2048")),
        ("ecdsa", "ecdsa", "", ()),
        ("encrypted", "ed25519", "sekret", ()),
        ("rsa_pem", "rsa", "sekret", ("-b", "2048", "-m", "PEM")),
    ]:
        keygen(folder / name, key_type, passphrase, *extra)
        ssh_nodes.authorize(folder / f"{name}.pub")
    keygen(folder / "stranger")  # never authorized
    return folder


@pytest.mark.parametrize(
    ("key", "passphrase", "inline"),
    [
        ("ed25519", None, False),
        ("rsa", None, False),
        ("ecdsa", None, False),
        ("encrypted", "sekret", False),
        ("rsa_pem", "sekret", False),
        ("ed25519", None, True),
        ("ecdsa", None, True),
        ("encrypted", "sekret", True),
    ],
    ids=[
        "ed25519-file",
        "rsa-file",
        "ecdsa-file",
        "encrypted-file",
        "rsa-pem-encrypted-file",
        "ed25519-inline",
        "ecdsa-inline",
        "encrypted-inline",
    ],
)
def test_key_logins(
    ssh_nodes: SshNodes, client_keys: Path, key: str, passphrase: str | None, inline: bool
) -> None:
    path = client_keys / key
    target = ssh_nodes.target(
        "node1",
        key_file=None if inline else str(path),
        private_key=path.read_text() if inline else None,
        key_passphrase=passphrase,
    )
    assert run(target, Command(argv=("id", "-un"))).stdout == "root\n"


@pytest.mark.parametrize(
    ("key", "passphrase", "inline", "message"),
    [
        ("encrypted", None, False, "key_file {path} is encrypted: set key_passphrase"),
        ("encrypted", None, True, "the inline private_key is encrypted: set key_passphrase"),
        (
            "encrypted",
            "wrong",
            False,
            "key_file {path} cannot be decrypted with the given key_passphrase "
            "(is it the right one?)",
        ),
        (
            "rsa_pem",
            "wrong",
            False,
            "key_file {path} cannot be decrypted with the given key_passphrase "
            "(is it the right one?)",
        ),
        (
            "ed25519.pub",
            None,
            False,
            "key_file {path} is not a private key gridflow can read (ed25519, ecdsa or rsa, "
            "in OpenSSH or PEM format; DSA is not supported)",
        ),
        ("missing", None, False, "cannot read key_file {path}: No such file or directory"),
    ],
    ids=[
        "no-passphrase",
        "no-passphrase-inline",
        "wrong-passphrase",
        "wrong-passphrase-pem",
        "public-key",
        "missing-file",
    ],
)
def test_unusable_keys_are_clear_errors(
    ssh_nodes: SshNodes,
    client_keys: Path,
    key: str,
    passphrase: str | None,
    inline: bool,
    message: str,
) -> None:
    path = client_keys / key
    target = ssh_nodes.target(
        "node1",
        key_file=None if inline else str(path),
        private_key=path.read_text() if inline else None,
        key_passphrase=passphrase,
    )
    with pytest.raises(NodeAuthFailed) as caught:
        connect(target)
    assert str(caught.value) == "ssh node node1: " + message.format(path=path)


def test_wrong_client_key_is_an_auth_error_not_retried(
    ssh_nodes: SshNodes, client_keys: Path
) -> None:
    path = client_keys / "stranger"
    target = ssh_nodes.target("node1", key_file=str(path))
    with pytest.raises(NodeAuthFailed) as caught:
        connect(target)
    assert isinstance(caught.value, ExpectedError)
    assert not isinstance(caught.value, RetryableError)
    fp = fingerprint(Path(f"{path}.pub"))
    assert str(caught.value) == (
        f"ssh node node1: root@{target.host}:{target.port} refused the login with the key_file "
        f"{path} ({fp}); check the user name, that ~root/.ssh/authorized_keys on the node lists "
        "the public key (ssh-copy-id does it), or the password"
    )


def test_password_login(ssh_nodes: SshNodes, ssh_password_user: PasswordUser) -> None:
    user = ssh_password_user
    target = ssh_nodes.target("node2", user=user.name, key_file=None, password=user.password)
    result = run(target, Command(shell="id -un; echo $0"))
    assert result.stdout == f"{user.name}\n/bin/sh\n"


def test_wrong_password_is_an_auth_error_without_the_password(
    ssh_nodes: SshNodes, ssh_password_user: PasswordUser
) -> None:
    user = ssh_password_user
    target = ssh_nodes.target("node2", user=user.name, key_file=None, password="not-" + "it")
    with pytest.raises(NodeAuthFailed) as caught:
        connect(target, "node2")
    assert str(caught.value).startswith(
        f"ssh node node2: {user.name}@{target.host}:{target.port} refused the login with the "
        "password"
    )
    assert "not-it" not in str(caught.value)
    assert user.password not in str(caught.value)
    assert "not-it" not in repr(target)


def test_root_password_login_is_refused_by_the_node(ssh_nodes: SshNodes) -> None:
    # PermitRootLogin prohibit-password: the node only offers publickey to root.
    target = ssh_nodes.target("node1", key_file=None, password="whatever")
    with pytest.raises(NodeAuthFailed, match="refused the login with the password"):
        connect(target)


# -- unreachable nodes ------------------------------------------------------


def test_nothing_listening_is_unreachable(ssh_nodes: SshNodes) -> None:
    with socket_port() as port:
        pass  # closed again: nothing listens there now
    target = SshTarget(host="127.0.0.2", port=port, connect_timeout_s=2)
    with pytest.raises(NodeUnreachable) as caught:
        connect(target)
    assert str(caught.value) == (
        f"ssh node node1: cannot connect to 127.0.0.2:{port}: connection refused (is sshd "
        "running and listening on that address and port?)"
    )


def test_silent_server_is_unreachable_after_the_connect_timeout(ssh_nodes: SshNodes) -> None:
    # Accepts TCP connections (backlog) but never says a word.
    with socket_port(listen=True) as port:
        target = SshTarget(host="127.0.0.1", port=port, connect_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(
            NodeUnreachable, match=f"^ssh node node1: cannot connect to 127.0.0.1:{port}: "
        ):
            connect(target)
        assert time.monotonic() - started < 5


def test_killed_sshd_mid_command_then_next_command_then_restart(own_ssh_node: SshNodes) -> None:
    nodes = own_ssh_node
    pattern = f"sleep {unique_sleep()}"

    async def use(session: SshSession) -> None:
        running = asyncio.create_task(session.run(Command(shell=pattern), timeout_s=30))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        nodes.kill("node1")
        with pytest.raises(NodeUnreachable) as caught:
            await running
        assert time.monotonic() - started < 3
        assert str(caught.value).startswith(
            f"ssh node node1 ({session.address}): the connection failed while running "
            f"{pattern!r}: the connection dropped while the command ran"
        )
        with pytest.raises(NodeUnreachable, match=r"^ssh node node1: cannot connect to .*refused"):
            await session.run(Command(argv=("true",)))
        await asyncio.to_thread(nodes.restart, "node1")
        result = await session.run(Command(argv=("echo", "back")))
        assert result.stdout == "back\n"

    with_session(nodes.target("node1"), use)
    assert gone(pattern)


# -- connections and parallelism -------------------------------------------


def test_one_connection_for_many_commands(ssh_nodes: SshNodes) -> None:
    before = ssh_nodes.connections("node3")

    async def use(session: SshSession) -> list[str]:
        outs = [(await session.run(Command(argv=("echo", str(i))))).stdout for i in range(15)]
        # Concurrent commands share it too (channels of one connection).
        many = await asyncio.gather(
            *(session.run(Command(argv=("echo", str(i)))) for i in range(8))
        )
        return outs + [r.stdout for r in many]

    outs = with_session(ssh_nodes.target("node3"), use, "node3")
    assert outs == [f"{i}\n" for i in range(15)] + [f"{i}\n" for i in range(8)]
    assert ssh_nodes.connections("node3") - before == 1


@pytest.mark.slow  # ~15 s: the busy threads slow everything down
def test_quick_commands_on_a_busy_worker_leave_the_connection_up(ssh_nodes: SshNodes) -> None:
    # paramiko sends a channel's EOF after releasing the channel's lock. A
    # command that ends at once lets the node close the channel first, and a
    # thread switch in that gap (likely when other threads want the GIL) put
    # the EOF after the CLOSE: OpenSSH then dropped the whole connection
    # ("packet referred to nonexistent channel") and every command of the node
    # with it (2 runs in 3 failed here before the fix). Busy threads make that
    # gap long; nothing may fail.
    before = ssh_nodes.connections("node2")
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))

    async def use(session: SshSession) -> list[int]:
        codes = []
        for _ in range(25):
            results = await asyncio.gather(
                *(session.run(Command(argv=("true",)), timeout_s=30) for _ in range(8))
            )
            codes += [r.exit_code for r in results]
        return codes

    burners = [threading.Thread(target=busy) for _ in range(3)]
    for thread in burners:
        thread.start()
    try:
        codes = with_session(ssh_nodes.target("node2"), use, "node2")
    finally:
        stop.set()
        for thread in burners:
            thread.join()
    assert codes == [0] * 200
    assert ssh_nodes.connections("node2") - before == 1  # never dropped, never reconnected
    assert "nonexistent channel" not in ssh_nodes["node2"].log.read_text()


def test_nodes_run_in_parallel(ssh_nodes: SshNodes) -> None:
    async def on_all(parallel: bool) -> float:
        sessions = [await SshSession.open(n, ssh_nodes.target(n)) for n in ssh_nodes.ids]
        try:
            started = time.monotonic()
            commands = [s.run(Command(argv=("sleep", "0.6"))) for s in sessions]
            if parallel:
                results = await asyncio.gather(*commands)
            else:
                results = [await c for c in commands]
            assert [r.exit_code for r in results] == [0, 0, 0]
            return time.monotonic() - started
        finally:
            await asyncio.gather(*(s.close() for s in sessions))

    serial = asyncio.run(on_all(parallel=False))
    parallel = asyncio.run(on_all(parallel=True))
    assert serial >= 1.8
    assert parallel < 1.2 < serial


def test_close_kills_commands_still_running(ssh_nodes: SshNodes) -> None:
    patterns = [f"sleep {unique_sleep()}" for _ in range(MAX_CHANNELS)]

    async def go() -> list[BaseException | CommandResult]:
        session = await SshSession.open("node1", ssh_nodes.target("node1"))
        # As many as the session runs at once: closing must not wait for a free thread.
        running = [asyncio.create_task(session.run(Command(shell=p))) for p in patterns]
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await session.close()
        assert time.monotonic() - started < 3
        return await asyncio.gather(*running, return_exceptions=True)

    results = asyncio.run(go())
    assert [str(r).split(": ", 1)[1] for r in results] == [
        f"the connection failed while running {p!r}: the session was closed while the command ran"
        for p in patterns
    ]
    assert all(isinstance(r, NodeUnreachable) for r in results)
    assert [p for p in patterns if not gone(p)] == []


def test_close_is_idempotent_and_a_closed_session_refuses_work(ssh_nodes: SshNodes) -> None:
    async def go() -> None:
        session = await SshSession.open("node1", ssh_nodes.target("node1"))
        await session.close()
        await session.close()
        with pytest.raises(RuntimeError, match="ssh session of node node1 is closed"):
            await session.run(Command(argv=("true",)))

    asyncio.run(go())


@pytest.mark.slow
def test_thirty_nodes(tmp_path: Path) -> None:
    with SshNodes(tmp_path / "sshd", count=30) as nodes:
        assert [n.host for n in nodes][-1] == "127.0.0.31"

        async def go() -> list[Any]:
            async def one(node_id: str) -> str:
                session = await SshSession.open(node_id, nodes.target(node_id))
                try:
                    return (await session.run(Command(shell="echo $GRIDFLOW_TEST_NODE"))).stdout
                finally:
                    await session.close()

            return await asyncio.gather(*(one(n) for n in nodes.ids))

        assert asyncio.run(go()) == [f"{n}\n" for n in nodes.ids]
