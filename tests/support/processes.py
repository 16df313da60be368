"""Watching local processes die: the tests that a timeout or a cancellation
leaves no process behind (``cmd`` runner, ``local`` nodes) share these, and
the servers the tests start (Airflow, PostgreSQL) find what to stop with them."""

from __future__ import annotations

import contextlib
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


def start_ticks(pid: int) -> int | None:
    """The process's start time (field 22 of /proc/PID/stat), None once it is gone.

    A pid and its start time name one process for good: the pair tells a
    process we started from whatever reuses its pid later.
    """
    try:
        # The command name is in parentheses and may contain spaces.
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def descendants(roots: list[int]) -> list[int]:
    """PIDs descending from ``roots`` (read from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name is in parentheses and may contain spaces.
            after_name = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(after_name[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
