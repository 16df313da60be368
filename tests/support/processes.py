"""Watching local processes die: the tests that a timeout or a cancellation
leaves no process behind (``cmd`` runner, ``local`` nodes) share these."""

from __future__ import annotations

import time
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pids: list[int], within: float = 5.0) -> list[int]:
    """The pids still alive after up to ``within`` seconds (none, normally)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        living = [p for p in pids if alive(p)]
        if not living:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def process_tree(tmp_path: Path) -> tuple[str, Path]:
    """A shell script that starts a grandchild and waits, and the file where
    both write their pids (read them with :func:`tree_pids`)."""
    pidfile = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pidfile}; echo $$ >> {pidfile}; wait"
    return script, pidfile


def tree_pids(pidfile: Path) -> list[int]:
    """The two pids the :func:`process_tree` script wrote (waits up to 5 s for them)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = pidfile.read_text().split() if pidfile.exists() else []
        if len(lines) == 2:
            return [int(p) for p in lines]
        time.sleep(0.02)
    raise AssertionError("the test shell did not write its pids")
