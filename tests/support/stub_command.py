"""The recording stand-in installed on test ssh nodes (see tests/support/sshd.py).

:mod:`tests.support.sshd` copies this file into each node's stub directory
under the names of the commands it stands in for (``apt-get``, ``dpkg-query``,
``systemctl``, ``curl``, ``sudo``, ``rke2-installer``), with a first line pointing at the
test interpreter and ``NODE_CONFIG`` filled in. That directory comes first on
the PATH of every SSH session of the node, so a backend's ``apt-get install -y
nginx`` runs this script instead of the real command.

Each call appends one JSON line to the node's call log::

    {"node": "node1", "cmd": "apt-get", "argv": ["apt-get", "install", "-y", "nginx"],
     "env": {"DEBIAN_FRONTEND": "noninteractive"}, "cwd": "/root", "uid": 0,
     "time": 1700000000.123, "pid": 4242}

then does what the next queued behaviour of this command says (a JSON list in
``control/<cmd>.json``, written by ``SshNodes.fail_next`` / ``behave``):
sleep, print stdout/stderr, exit with a non-zero code. Otherwise (no
behaviour queued, or one with exit code 0) it exits 0, except commands
that act: ``sudo`` drops its options and runs
the rest of its arguments (so ``sudo -n -- apt-get ...`` reaches the apt-get
stand-in), ``curl`` prints a tiny installer script (or writes it to ``-o
FILE``) that runs ``rke2-installer`` with the installer's arguments, and
``rke2-installer`` records its call like the rest.

Packages are the node's own state (``NODE_CONFIG["packages"]``, one file per
installed package holding its version), so the apt backend's read-only probe
and its effects agree per node: ``apt-get install P`` marks ``P`` installed,
``apt-get remove P`` unmarks it (a call made to fail by a queued behaviour
changes nothing), and ``dpkg-query -W -f FORMAT P`` answers as dpkg does:
the format with ``${Status}`` and ``${Version}`` filled in for an installed
package, exit 1 and "no packages found matching P" otherwise. Without it the
probe would ask this machine's real dpkg, whatever happens to be installed
here.

Only the standard library: it runs with ``-I`` (isolated), once per call.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time

NODE_CONFIG: dict[str, str] = {}  # filled in on install: id, calls, control, bin, packages
STANDIN_VERSION = "1.0-standin"

#: Environment variables copied into the call record (names, and name prefixes).
RECORDED_ENV = (
    "DEBIAN_FRONTEND",
    "NEEDRESTART_MODE",
    "APT_LISTCHANGES_FRONTEND",
    "SYSTEMD_PAGER",
    "PAGER",
    "LANG",
    "LC_ALL",
    "USER",
    "HOME",
    "SUDO_USER",
)
RECORDED_ENV_PREFIXES = ("INSTALL_RKE2_", "GRIDFLOW_")


def main() -> int:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    record = {
        "node": NODE_CONFIG["id"],
        "cmd": name,
        "argv": [name, *args],
        "env": {
            key: value
            for key, value in os.environ.items()
            if key in RECORDED_ENV or key.startswith(RECORDED_ENV_PREFIXES)
        },
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "time": time.time(),
        "pid": os.getpid(),
    }
    append_line(NODE_CONFIG["calls"], json.dumps(record))
    behaviour = next_behaviour(os.path.join(NODE_CONFIG["control"], name + ".json"))
    if behaviour is not None:
        time.sleep(float(behaviour.get("sleep", 0)))
        sys.stdout.write(str(behaviour.get("stdout", "")))
        sys.stderr.write(str(behaviour.get("stderr", "")))
        code = int(behaviour.get("exit", 0))
        if code != 0:
            return code
    if name == "sudo":
        return run_as_sudo(args)
    if name == "curl":
        return print_installer(args)
    if name == "apt-get":
        return apt_get(args)
    if name == "dpkg-query":
        return dpkg_query(args)
    return 0


def package_file(name: str) -> str:
    # Hex: any name (tests send hostile ones) is a safe file name.
    return os.path.join(NODE_CONFIG["packages"], name.encode("utf-8").hex()[:250])


def apt_get(args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    if len(words) < 2 or words[0] not in ("install", "remove"):
        return 0
    for package in words[1:]:
        name, _, version = package.partition("=")
        if not name:
            continue  # apt-get would refuse it; the stand-in only records it
        if words[0] == "install":
            os.makedirs(NODE_CONFIG["packages"], exist_ok=True)
            with open(package_file(name), "w", encoding="utf-8") as file:
                file.write(version or STANDIN_VERSION)
            sys.stdout.write(f"Setting up {name} ({version or STANDIN_VERSION}) ...\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(package_file(name))
                sys.stdout.write(f"Removing {name} ...\n")
    return 0


def dpkg_query(args: list[str]) -> int:
    fmt = args[args.index("-f") + 1] if "-f" in args[:-1] else "${Status}\\t${Version}\\n"
    names = [a for a in args if not a.startswith("-") and a != fmt]
    missing = False
    for name in names:
        try:
            with open(package_file(name), encoding="utf-8") as file:
                version = file.read()
        except FileNotFoundError:
            sys.stderr.write(f"dpkg-query: no packages found matching {name}\n")
            missing = True
            continue
        text = fmt.replace("${Status}", "install ok installed").replace("${Version}", version)
        sys.stdout.write(text.replace("\\t", "\t").replace("\\n", "\n"))
    return 1 if missing else 0


def append_line(path: str, line: str) -> None:
    # One write to an O_APPEND file: concurrent calls never interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def next_behaviour(path: str) -> dict[str, object] | None:
    """Pop the first queued behaviour of this command, under a file lock."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "r+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        queue = json.loads(file.read() or "[]")
        if not queue:
            return None
        first = queue[0]
        times = int(first.get("times", 1))
        if times > 1:
            first["times"] = times - 1
        else:
            queue.pop(0)
        file.seek(0)
        file.truncate()
        file.write(json.dumps(queue))
        return dict(first)


def run_as_sudo(args: list[str]) -> int:
    # sudo [-n] [other flags] [--] command args...: we are already the user the
    # tests need (root), so run the command as is.
    rest = list(args)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "--":
            break
    if not rest:
        sys.stderr.write("sudo (test stand-in): no command given\n")
        return 1
    os.execvp(rest[0], rest)
    return 127  # not reached


def print_installer(args: list[str]) -> int:
    script = f'#!/bin/sh\nexec {NODE_CONFIG["bin"]}/rke2-installer "$@"\n'
    out = None
    for flag in ("-o", "--output"):
        if flag in args[:-1]:
            out = args[args.index(flag) + 1]
    if out is None:
        sys.stdout.write(script)
        return 0
    with open(out, "w", encoding="utf-8") as file:
        file.write(script)
    with contextlib.suppress(OSError):
        os.chmod(out, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
