"""Recording stand-ins for the programs fleet backends run as root.

:func:`write_standins` writes small executable scripts named ``apt-get``,
``dpkg-query``, ``systemctl``, ``curl`` and ``sudo`` into ``ROOT/bin``. Put
that directory first on a node's ``PATH`` (a local session's environment,
or an sshd user's) and the backends run them instead of the real programs.
Each call appends one JSON line to ``ROOT/calls.jsonl``::

    {"argv": ["apt-get", "install", "-y", "nginx"],
     "env": {"DEBIAN_FRONTEND": "noninteractive"}, "time": 1718000000.123}

``argv[0]`` is the program's name; ``env`` holds those of :data:`WATCHED_ENV`
that are set; ``time`` is the Unix time of the call. Appends are single
``write`` calls on an ``O_APPEND`` file, so concurrent calls do not mix.

They keep a little state under ``ROOT/state`` so that probes and effects
agree: ``apt-get install`` marks a package installed (``dpkg-query`` then
reports it), ``remove`` unmarks it; ``systemctl start|restart|enable --now``
marks a unit active (``is-active``/``status`` then say so), ``stop|disable
--now`` inactive. ``curl ... -o FILE`` writes an "installer" that records
its own call as ``rke2-installer``. ``sudo`` records its call and runs the
rest of its command line.

A test makes a program misbehave with :meth:`Standins.behave`: print given
text, sleep, then exit with a given code (before doing anything else).

The scripts are Python run by this interpreter (``#!sys.executable -IS``,
flags joined: a shebang passes one argument): no shell quoting to get wrong
when writing JSON, and nothing to install on a node beyond what runs the tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

WATCHED_ENV = ("DEBIAN_FRONTEND", "INSTALL_RKE2_TYPE")
PROGRAMS = ("apt-get", "dpkg-query", "systemctl", "curl", "sudo", "rke2-installer")

_COMMON = r"""
import json, os, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = os.path.basename(sys.argv[0])
STATE = os.path.join(ROOT, "state")
WATCHED = {watched!r}


def record(argv):
    env = {{k: os.environ[k] for k in WATCHED if k in os.environ}}
    line = json.dumps({{"argv": argv, "env": env, "time": time.time()}}) + "\n"
    fd = os.open(os.path.join(ROOT, "calls.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def marker(kind, name):
    return os.path.join(STATE, kind, name.replace("/", "_"))


def mark(kind, name, value="1"):
    os.makedirs(os.path.join(STATE, kind), exist_ok=True)
    with open(marker(kind, name), "w") as f:
        f.write(value)


def unmark(kind, name):
    try:
        os.remove(marker(kind, name))
    except FileNotFoundError:
        pass


def marked(kind, name):
    try:
        with open(marker(kind, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def misbehave():
    path = os.path.join(ROOT, "behave", NAME + ".json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        how = json.load(f)
    if how.get("sleep"):
        time.sleep(how["sleep"])
    sys.stdout.write(how.get("stdout", ""))
    sys.stderr.write(how.get("stderr", ""))
    if "exit" in how:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(how["exit"])


record([NAME] + sys.argv[1:])
misbehave()
args = sys.argv[1:]
"""

_BODIES: dict[str, str] = {
    "apt-get": r"""
words = [a for a in args if not a.startswith("-")]
if not words:
    sys.exit("E: no command given")
command, packages = words[0], words[1:]
if command == "update":
    print("Reading package lists... Done")
elif command == "install":
    for p in packages:
        name, _, version = p.partition("=")
        mark("installed", name, version or "1.0-standin")
        print(f"Setting up {name} ({version or '1.0-standin'}) ...")
elif command == "remove":
    for p in packages:
        name = p.partition("=")[0]
        if marked("installed", name) is None:
            print(f"Package '{name}' is not installed, so not removed")
        else:
            unmark("installed", name)
            print(f"Removing {name} ...")
elif command == "upgrade":
    print("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.")
else:
    sys.exit(f"E: Invalid operation {command}")
""",
    "dpkg-query": r"""
fmt = args[args.index("-f") + 1] if "-f" in args else "${Status}\\t${Version}\\n"
names = [a for a in args if not a.startswith("-") and a != fmt]
missing = False
for name in names:
    version = marked("installed", name)
    if version is None:
        sys.stderr.write(f"dpkg-query: no packages found matching {name}\n")
        missing = True
        continue
    text = fmt.replace("${Status}", "install ok installed").replace("${Version}", version)
    sys.stdout.write(text.replace("\\t", "\t").replace("\\n", "\n"))
sys.exit(1 if missing else 0)
""",
    "systemctl": r"""
flags = [a for a in args if a.startswith("-")]
words = [a for a in args if not a.startswith("-")]
if not words:
    sys.exit("systemctl stand-in: no verb")
verb, units = words[0], words[1:]
now = "--now" in flags
for unit in units:
    if verb in ("start", "restart") or (verb == "enable" and now):
        mark("active", unit)
    if verb == "stop" or (verb == "disable" and now):
        unmark("active", unit)
    if verb == "enable":
        mark("enabled", unit)
    if verb == "disable":
        unmark("enabled", unit)
if verb == "is-active":
    active = all(marked("active", u) is not None for u in units)
    print("active" if active else "inactive")
    sys.exit(0 if active else 3)
if verb == "status":
    active = all(marked("active", u) is not None for u in units)
    for u in units:
        state = "active (running)" if active else "inactive (dead)"
        print(f"* {u} - stand-in unit\n     Active: {state}")
    sys.exit(0 if active else 3)
""",
    "curl": r"""
out = args[args.index("-o") + 1] if "-o" in args else None
installer = os.path.join(ROOT, "bin", "rke2-installer")
if out is not None:
    with open(out, "w") as f:
        f.write(f'#!/bin/sh\nexec "{installer}" "$@"\n')
""",
    "sudo": r"""
rest = [a for a in args if a not in ("-n", "--")]
os.execvp(rest[0], rest)
""",
    "rke2-installer": r"""
print("[INFO] stand-in rke2 installer done")
""",
}


@dataclasses.dataclass(frozen=True)
class Standins:
    """The stand-ins written under ``root``; ``bin`` goes first on PATH."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.jsonl"

    def path_env(self, path: str | None = None) -> str:
        """A PATH with the stand-ins first (then ``path``, default the current one)."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '') if path is None else path}"

    def calls(self, program: str | None = None) -> list[dict[str, Any]]:
        """Every recorded call, in order (only ``program``'s when given)."""
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [c for c in calls if program is None or c["argv"][0] == program]

    def argvs(self, program: str | None = None) -> list[list[str]]:
        return [c["argv"] for c in self.calls(program)]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def installed(self, package: str, version: str = "1.0-standin") -> None:
        self._mark("installed", package, version)

    def is_installed(self, package: str) -> bool:
        return (self.root / "state" / "installed" / package).exists()

    def active(self, unit: str) -> None:
        self._mark("active", unit, "1")

    def is_active(self, unit: str) -> bool:
        return (self.root / "state" / "active" / unit).exists()

    def behave(
        self,
        program: str,
        *,
        exit: int | None = None,
        stdout: str = "",
        stderr: str = "",
        sleep: float = 0.0,
    ) -> None:
        """Make ``program`` print, sleep and (when ``exit`` is given) exit with
        that code, after recording its call and before doing its own work."""
        how: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "sleep": sleep}
        if exit is not None:
            how["exit"] = exit
        folder = self.root / "behave"
        folder.mkdir(exist_ok=True)
        (folder / f"{program}.json").write_text(json.dumps(how))

    def _mark(self, kind: str, name: str, value: str) -> None:
        folder = self.root / "state" / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(value)


def write_standins(root: Path, *, python: str = sys.executable) -> Standins:
    """Write every stand-in into ``root/bin`` (created) and return a handle."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    common = _COMMON.format(watched=WATCHED_ENV)
    for name in PROGRAMS:
        path = bin_dir / name
        path.write_text(f"#!{python} -IS\n{common}{_BODIES[name]}")
        path.chmod(0o755)
    return Standins(root)
