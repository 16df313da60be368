"""Real ``sshd`` nodes on loopback addresses for tests and benchmarks.

:class:`SshNodes` starts one OpenSSH server (Debian ``openssh-server``,
installed on first use with ``tools/debian-packages``) per node, on
127.0.0.2, 127.0.0.3, ... (``count`` of them), each on a free port of its
own, with its own ed25519 host key and ``sshd_config`` in a private
directory. One generated client key (``client_key``, no passphrase) is
authorized on every node, and ``known_hosts`` lists every node's host key as
``[127.0.0.2]:PORT ssh-ed25519 ...``, so :meth:`SshNodes.target` gives a
ready :class:`~gridflow.nodes.base.SshTarget` that verifies host keys.

Sessions log in as **root**, with ``PermitRootLogin prohibit-password`` (key
only): the tests already run as root (sshd itself needs root to switch
users), the "real package" test needs root on the node anyway, and no user is
added to the machine. ``UsePAM no`` and ``StrictModes no`` keep sshd from
needing PAM set-up or particular modes on the temporary files. Password
logins are tested with :class:`PasswordUser`, a throw-away account created
and deleted by the fixture that needs it.

On every node, sshd's ``SetEnv`` puts a per-node stub directory first on the
PATH of SSH sessions, holding recording stand-ins for ``apt-get``,
``dpkg-query``, ``systemctl``, ``curl``, ``sudo`` and ``rke2-installer``
(:mod:`tests.support.stub_command`): each call appends its exact argv to the
node's call log, read back with :meth:`SshNodes.calls`. Failures are queued
per node and command with :meth:`SshNodes.fail_next` / :meth:`SshNodes.behave`.
Each node keeps its own package state: ``apt-get install`` marks a package
installed, ``remove`` unmarks it, and ``dpkg-query`` (the apt backend's
probe) reports it (:meth:`SshNodes.installed`).
``SetEnv`` also gives each node a HOME of its own: Debian's bash reads
``~/.bashrc`` even for ssh commands, and the machine's own (pyenv, cargo...)
would otherwise put its directories before the stubs and cost half a second
per command. (``SetEnv`` rather than a ``ForceCommand`` wrapper, which would
change how sshd runs the command.)

Nodes are stopped by process id: :meth:`SshNodes.kill` sends SIGKILL to the
listening sshd and every process below it (the per-connection sshd processes
and the commands they run), as if the machine had gone away;
:meth:`SshNodes.restart` starts it again on the same address, port and key.

Usage::

    with SshNodes(tmp_dir, count=3) as nodes:
        target = nodes.target("node1")        # SshTarget(host="127.0.0.2", ...)
        ...
        assert nodes.calls("node1", "apt-get")[0]["argv"] == ["apt-get", "update"]

The ``ssh_nodes`` session fixture in ``tests/conftest.py`` yields three
started nodes (``node1``..``node3`` on 127.0.0.2..127.0.0.4) shared by every
test: tests that count calls should call :meth:`SshNodes.clear_calls` first
(which also forgets queued behaviours and installed packages) or look only at
calls they can tell apart. Tests that kill nodes or change host
keys start their own :class:`SshNodes` instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridflow.nodes.base import SshTarget
from tests.support.servers import StartStop, free_port

SSHD = "/usr/sbin/sshd"
REPO_ROOT = Path(__file__).resolve().parents[2]
STUBBED_COMMANDS = ("apt-get", "dpkg-query", "systemctl", "curl", "sudo", "rke2-installer")
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READY_TIMEOUT_S = 10.0
MAX_NODES = 200  # 127.0.0.2 .. 127.0.0.201; loopback only, bounded


def ensure_openssh_server() -> None:
    """Install ``openssh-server`` if missing, and create sshd's privilege-separation
    directory (sshd refuses to start without ``/run/sshd``)."""
    if not os.path.exists(SSHD):
        subprocess.run([str(REPO_ROOT / "tools" / "debian-packages"), "openssh-server"], check=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "", *extra: str) -> Path:
    """Generate a key pair with ``ssh-keygen`` (``path`` and ``path.pub``)."""
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    command = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", path.name]
    subprocess.run(
        [*command, "-f", str(path), *extra],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def fingerprint(public_key_file: Path) -> str:
    """The SHA256 fingerprint of a public key file, as ``SHA256:...``."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (children before they are reparented)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclasses.dataclass
class SshNode:
    """One sshd: its address, port and the files in its directory."""

    id: str
    host: str
    port: int
    dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def log(self) -> Path:
        """sshd's own log (``-e``: messages on stderr)."""
        return self.dir / "sshd.log"

    @property
    def calls_log(self) -> Path:
        return self.dir / "calls.jsonl"

    @property
    def control(self) -> Path:
        return self.dir / "control"

    @property
    def packages(self) -> Path:
        """The stand-ins' installed packages: one file per package, holding its version."""
        return self.dir / "packages"

    @property
    def bin(self) -> Path:
        """The stub directory, first on the PATH of this node's SSH sessions."""
        return self.dir / "bin"

    @property
    def home(self) -> Path:
        """HOME of this node's SSH sessions (so the machine's ~/.bashrc is not read)."""
        return self.dir / "home"

    @property
    def pid(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def known_hosts_name(self) -> str:
        return f"[{self.host}]:{self.port}"


class SshNodes(StartStop):
    """``count`` real sshd nodes, ``node1``.. on 127.0.0.2.. (see the module doc)."""

    def __init__(self, root: Path, count: int = 3, *, first_address: int = 2) -> None:
        if not 1 <= count <= MAX_NODES or first_address < 2 or first_address + count > 255:
            raise ValueError(f"cannot start {count} nodes from 127.0.0.{first_address}")
        self.root = root
        self.count = count
        self.first_address = first_address
        self.user = "root"
        self.client_key = root / "client_key"
        self.authorized_keys = root / "authorized_keys"
        self.known_hosts = root / "known_hosts"
        self.nodes: dict[str, SshNode] = {}

    # -- life cycle -------------------------------------------------------

    def start(self) -> SshNodes:
        ensure_openssh_server()
        self.root.mkdir(parents=True, exist_ok=True)
        keygen(self.client_key)
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        stub_source = Path(__file__).with_name("stub_command.py").read_text()
        for index in range(self.count):
            node_id = f"node{index + 1}"
            host = f"127.0.0.{self.first_address + index}"
            node = SshNode(node_id, host, free_port(host), self.root / node_id)
            node.dir.mkdir(exist_ok=True)
            node.control.mkdir(exist_ok=True)
            node.bin.mkdir(exist_ok=True)
            node.home.mkdir(exist_ok=True)
            node.home.chmod(0o777)
            node.calls_log.touch()
            keygen(node.host_key)
            self._install_stubs(node, stub_source)
            self.nodes[node_id] = node
        try:
            # Start every sshd first, then wait: 30 nodes start in about the time of one.
            for node in self.nodes.values():
                self._spawn(node)
            for node in self.nodes.values():
                self._wait_ready(node)
        except BaseException:
            self.stop()
            raise
        self.write_known_hosts()
        return self

    def stop(self) -> None:
        for node in self.nodes.values():
            self._kill(node)

    # -- access -----------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        return list(self.nodes)

    def __getitem__(self, node_id: str) -> SshNode:
        return self.nodes[node_id]

    def __iter__(self) -> Iterator[SshNode]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def target(self, node_id: str, **overrides: Any) -> SshTarget:
        """An SshTarget for the node: root, the client key, the known_hosts file."""
        node = self.nodes[node_id]
        fields: dict[str, Any] = {
            "host": node.host,
            "port": node.port,
            "user": self.user,
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "connect_timeout_s": 5.0,
        }
        fields.update(overrides)
        return SshTarget(**fields)

    def inventory(self, groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """An inventory document (SPEC §2) listing every node over ssh; ``groups``
        maps a node id to its groups."""
        return {
            "nodes": [
                {
                    "id": node.id,
                    "groups": list((groups or {}).get(node.id, [])),
                    "connection": {
                        "type": "ssh",
                        "host": node.host,
                        "port": node.port,
                        "user": self.user,
                        "key_file": str(self.client_key),
                        "known_hosts": str(self.known_hosts),
                    },
                }
                for node in self.nodes.values()
            ]
        }

    def host_key_fingerprint(self, node_id: str) -> str:
        return fingerprint(Path(f"{self.nodes[node_id].host_key}.pub"))

    def write_known_hosts(self, path: Path | None = None) -> Path:
        """Write a known_hosts file listing every node's current host key."""
        path = path or self.known_hosts
        lines = []
        for node in self.nodes.values():
            key_type, key = Path(f"{node.host_key}.pub").read_text().split()[:2]
            lines.append(f"{node.known_hosts_name} {key_type} {key}\n")
        path.write_text("".join(lines))
        return path

    def authorize(self, public_key_file: Path) -> None:
        """Authorize another client key on every node."""
        with self.authorized_keys.open("a") as file:
            file.write(public_key_file.read_text())

    # -- recorded calls and queued behaviour ------------------------------

    def calls(self, node_id: str, cmd: str | None = None) -> list[dict[str, Any]]:
        """The stand-in calls the node received, oldest first (``cmd``: only that command)."""
        text = self.nodes[node_id].calls_log.read_text()
        records = [json.loads(line) for line in text.splitlines() if line]
        return [r for r in records if cmd is None or r["cmd"] == cmd]

    def argvs(self, node_id: str, cmd: str | None = None) -> list[list[str]]:
        return [r["argv"] for r in self.calls(node_id, cmd)]

    def clear_calls(self, node_id: str | None = None) -> None:
        """Forget the node's (or every node's) calls, queued behaviours and
        installed packages."""
        for node in self.nodes.values() if node_id is None else [self.nodes[node_id]]:
            node.calls_log.write_text("")
            for queued in node.control.glob("*.json"):
                queued.unlink()
            for package in node.packages.glob("*"):
                package.unlink()

    def installed(self, node_id: str) -> dict[str, str]:
        """The packages the node's stand-ins hold installed: name -> version."""
        folder = self.nodes[node_id].packages
        # stub_command.package_file: "pkg-" + the name, URL-quoted.
        return {
            urllib.parse.unquote(p.name.removeprefix("pkg-")): p.read_text()
            for p in sorted(folder.glob("pkg-*"))
        }

    def behave(
        self,
        node_id: str,
        cmd: str,
        *,
        exit: int = 0,
        stdout: str = "",
        stderr: str = "",
        sleep: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue what the next ``times`` calls of ``cmd`` on the node do."""
        if cmd not in STUBBED_COMMANDS:
            raise ValueError(f"{cmd!r} has no stand-in; stubbed: {', '.join(STUBBED_COMMANDS)}")
        path = self.nodes[node_id].control / f"{cmd}.json"
        queue = json.loads(path.read_text()) if path.exists() else []
        queue.append(
            {"exit": exit, "stdout": stdout, "stderr": stderr, "sleep": sleep, "times": times}
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(queue))
        tmp.replace(path)

    def fail_next(
        self, node_id: str, cmd: str, code: int = 1, stderr: str = "", *, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``cmd`` on the node exit ``code`` with ``stderr``."""
        if code == 0:
            raise ValueError("fail_next needs a non-zero exit code")
        self.behave(node_id, cmd, exit=code, stderr=stderr, times=times)

    def sleep_next(self, node_id: str, cmd: str, seconds: float, *, times: int = 1) -> None:
        self.behave(node_id, cmd, sleep=seconds, times=times)

    @contextlib.contextmanager
    def real_commands(self, node_id: str, *cmds: str) -> Iterator[None]:
        """Let ``cmds`` on the node be the machine's real ones for a while (the
        stand-ins are moved aside), e.g. for a test installing a real package
        (``real_commands("node1", "apt-get", "dpkg-query")``: the apt backend's
        probe must ask the real dpkg too)."""
        node = self.nodes[node_id]
        aside = node.dir / "stubs-aside"
        aside.mkdir(exist_ok=True)
        for cmd in cmds:
            (node.bin / cmd).replace(aside / cmd)
        try:
            yield
        finally:
            for cmd in cmds:
                (aside / cmd).replace(node.bin / cmd)

    # -- sshd processes ---------------------------------------------------

    def connections(self, node_id: str) -> int:
        """How many SSH connections the node has authenticated so far."""
        text = self.nodes[node_id].log.read_text()
        return len(re.findall(r"^Accepted (?:publickey|password) for ", text, re.MULTILINE))

    def kill(self, node_id: str) -> None:
        """SIGKILL the node's sshd and every process below it, like a crashed machine."""
        self._kill(self.nodes[node_id])

    def restart(self, node_id: str) -> None:
        node = self.nodes[node_id]
        self._kill(node)
        self._spawn(node)
        self._wait_ready(node)

    def rotate_host_key(self, node_id: str) -> None:
        """Give the node a new host key (known_hosts keeps the old one) and restart it."""
        node = self.nodes[node_id]
        original = node.dir / "original_host_key"
        if not original.exists():
            shutil.copy2(node.host_key, original)
            shutil.copy2(f"{node.host_key}.pub", f"{original}.pub")
        keygen(node.host_key)
        self.restart(node_id)

    def restore_host_key(self, node_id: str) -> None:
        """Undo :meth:`rotate_host_key`: the key known_hosts lists, and a restart."""
        node = self.nodes[node_id]
        original = node.dir / "original_host_key"
        if original.exists():
            shutil.copy2(original, node.host_key)
            shutil.copy2(f"{original}.pub", f"{node.host_key}.pub")
            self.restart(node_id)

    # -- internals --------------------------------------------------------

    def _install_stubs(self, node: SshNode, source: str) -> None:
        config = {
            "id": node.id,
            "calls": str(node.calls_log),
            "control": str(node.control),
            "bin": str(node.bin),
            "packages": str(node.packages),
        }
        text = f"#!{sys.executable} -I\n" + source.replace(
            "NODE_CONFIG: dict[str, str] = {}", f"NODE_CONFIG: dict[str, str] = {config!r}", 1
        )
        for name in STUBBED_COMMANDS:
            path = node.bin / name
            path.write_text(text)
            path.chmod(0o755)
        node.config.write_text(
            "\n".join(
                [
                    f"ListenAddress {node.host}:{node.port}",
                    f"HostKey {node.host_key}",
                    f"PidFile {node.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "Subsystem sftp internal-sftp",
                    # Many nodes and benchmark clients connect at once.
                    "MaxStartups 200:30:400",
                    "LogLevel VERBOSE",
                    f'SetEnv "PATH={node.bin}:{STANDARD_PATH}" "HOME={node.home}" '
                    f"GRIDFLOW_TEST_NODE={node.id}",
                    "",
                ]
            )
        )

    def _spawn(self, node: SshNode) -> None:
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(node.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def _wait_ready(self, node: SshNode) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert node.process is not None
            if node.process.poll() is not None:
                raise RuntimeError(
                    f"sshd of {node.id} exited with {node.process.returncode}:\n"
                    + node.log.read_text()[-2000:]
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((node.host, node.port), timeout=1.0) as sock,
            ):
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd of {node.id} did not answer on {node.host}:{node.port} "
                    f"within {READY_TIMEOUT_S:g}s:\n" + node.log.read_text()[-2000:]
                )
            time.sleep(0.02)

    def _kill(self, node: SshNode) -> None:
        if node.process is None:
            return
        pid = node.process.pid
        # Collect the tree before killing: killed parents' children get reparented.
        doomed = [pid, *_descendants(pid)] if node.process.poll() is None else _descendants(pid)
        for victim in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        node.process.wait(timeout=10)
        node.process = None


@dataclasses.dataclass
class PasswordUser:
    """A throw-away local account with a password, for password-login tests.

    Created with ``useradd`` (login shell ``/bin/sh``, home in ``home``) and
    deleted with ``userdel`` by :meth:`remove`; an account left by an
    interrupted run is reused and given the new password.
    """

    name: str
    password: str
    home: Path

    def create(self) -> PasswordUser:
        exists = subprocess.run(["id", self.name], capture_output=True).returncode == 0
        if not exists:
            subprocess.run(
                ["useradd", "-M", "-d", str(self.home), "-s", "/bin/sh", self.name],
                check=True,
                capture_output=True,
            )
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.home, self.name)
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n", text=True, check=True)
        return self

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], capture_output=True)
