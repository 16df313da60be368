"""Building blocks of test jobs: tasks as dicts, dumped to YAML by the fleet.

Node-specific behaviour comes from ``$GF_NODE`` (see tests/support/job_nodes.py);
``@DIR@`` is the test's directory, where commands leave marker lines.
"""

from __future__ import annotations

from typing import Any

from gridflow.jobs.model import Backoff

#: Retries wait 0.1 s, 0.2 s, then 0.25 s at most: the real policy, scaled down.
FAST_BACKOFF = Backoff(initial_s=0.1, factor=2.0, max_s=0.25)
NODES = ("n1", "n2", "n3")
DIR = "@DIR@"  # replaced in job files by the test's own directory


def cmd(script: str, **keys: Any) -> dict[str, Any]:
    """A ``cmd run`` task (or phase) running ``script`` with /bin/sh."""
    return {"backend": "cmd", "action": "run", "params": {"shell": script}, **keys}


def fails_on(*nodes: str, after: float = 0.0, then: str = "") -> str:
    """Fails (exit 1, "boom on NODE" on stderr) on ``nodes`` after ``after``
    seconds; elsewhere runs ``then`` and prints "ok on NODE"."""
    wait = f"sleep {after}; " if after else ""
    return (
        f'case "$GF_NODE" in {"|".join(nodes)}) {wait}echo "boom on $GF_NODE" >&2; exit 1;; '
        f'esac; {then}echo "ok on $GF_NODE"'
    )


def mark(name: str, **keys: Any) -> dict[str, Any]:
    """A task that appends ``NODE TIME`` to ``@DIR@/name``: who ran it, and when."""
    return cmd(f'echo "$GF_NODE $(date +%s.%N)" >> {DIR}/{name}', **keys)


def sleep_on(seconds: dict[str, float], default: float = 0.0, **keys: Any) -> dict[str, Any]:
    """Sleeps a node-specific time: ``{"n1": 0.4}``; others ``default``."""
    cases = " ".join(f"{node}) sleep {s};;" for node, s in seconds.items())
    return cmd(f'case "$GF_NODE" in {cases} *) sleep {default};; esac', **keys)


def job(*phases: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"target": "all", **top, "tasks": list(phases)}


def pipeline(*tasks: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {**keys, "tasks": list(tasks)}
