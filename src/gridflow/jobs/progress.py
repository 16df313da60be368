"""A job run as people follow it: one line per event on stderr, and a summary.

:class:`JobProgress` prints each :class:`~gridflow.jobs.state.JobEvent` as
one line, prefixed with the seconds since the job started::

      0.00s  phase 0 (pipeline of 2 tasks) on 3 nodes
      0.01s  0.0 apt update on web-01: started
      0.43s  0.0 apt update on web-01: success in 420ms
      1.02s  1 systemd start on web-02: attempt 1 of 3 failed: ...; retrying in 1s

Plain lines rather than a live display: a fleet job's events are a log
people scroll back through (and CI keeps), one line per node and task.
:func:`job_summary_text` renders the result document for ``-o text``.
"""

from __future__ import annotations

import collections
import io
import sys
import threading
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from gridflow.jobs.state import JobEvent

#: Summary columns: a timeout is counted with the failures.
_COLUMN = {"timeout": "failed"}


class JobProgress:
    """Writes one line per job event to ``stream`` (default: the current stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._t0: float | None = None
        self._lock = threading.Lock()

    def event(self, event: JobEvent) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = event.time
            # Looked up at each line so a test runner's captured stderr gets it.
            stream = self._stream if self._stream is not None else sys.stderr
            stream.write(f"{event.time - self._t0:7.2f}s  {event.message}\n")
            stream.flush()


def job_summary_text(result: dict[str, Any]) -> str:
    """A human summary of a job document: one row per task, then every node
    that did not succeed, with why."""
    console = Console(record=True, width=120, file=io.StringIO())
    table = Table(title=f"job {result['name']} ({result['id']}): {result['status']}")
    for column in ("task", "ok", "failed", "skipped", "cancelled", "attempts", "longest"):
        table.add_column(column)
    problems: list[str] = []
    for key, by_node in result["results"].items():
        counts = collections.Counter(
            _COLUMN.get(e["status"], e["status"]) for e in by_node.values()
        )
        longest = max(by_node.values(), key=lambda e: e["duration_s"])
        table.add_row(
            key,
            *(str(counts[c]) for c in ("success", "failed", "skipped", "cancelled")),
            str(sum(e["attempts"] for e in by_node.values())),
            longest["duration"],
        )
        problems += [
            f"{key} on {node}: {e['status']}: {e['error']}"
            for node, e in by_node.items()
            if e["status"] in ("failed", "timeout")
        ]
    console.print(table)
    for check in result.get("checks", []):
        if check["status"] in ("failed", "timeout"):
            where = "job" if check["scope"] == "job" else f"phase {check['scope']}"
            on = f" on {check['node']}" if check["node"] else ""
            problems.append(f"{where} {check['stage']}-check {check['name']}{on}: {check['error']}")
    for line in problems:
        console.print(line, markup=False, highlight=False)
    if "error" in result:
        console.print(f"error: {result['error']['message']}", markup=False, highlight=False)
    return console.export_text()
