"""Live progress of a run on stderr, and the text summary at the end."""

from __future__ import annotations

import io
import sys
import threading
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridflow.plan import Plan
from gridflow.runtime.state import Instance


class RunProgress:
    """One line per step: how many instances ran, succeeded, failed."""

    def __init__(self, plan: Plan, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._console = Console(file=sys.stderr)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        self._counts: dict[str, dict[str, int]] = {}
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._order = list(plan.steps)

    def __enter__(self) -> RunProgress:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def event(self, name: str, inst: Instance) -> None:
        if not self._enabled:
            return
        with self._lock:
            counts = self._counts.setdefault(
                inst.step, {"running": 0, "success": 0, "failed": 0, "skipped": 0, "cancelled": 0}
            )
            if name == "started":
                counts["running"] += 1
            elif name in counts:
                counts[name] += 1
                if counts["running"] > 0 and name != "skipped":
                    counts["running"] -= 1
            text = (
                f"{inst.step:<32} ok {counts['success']:>5}  failed {counts['failed']:>3}  "
                f"skipped {counts['skipped']:>3}  running {counts['running']:>3}"
            )
            if inst.step not in self._tasks:
                self._tasks[inst.step] = self._progress.add_task(text, total=None)
            self._progress.update(self._tasks[inst.step], description=text)


def summary_text(result: dict[str, Any]) -> str:
    """A human summary of a result document (what ``-o text`` prints)."""
    console = Console(record=True, width=110, file=io.StringIO())
    table = Table(title=f"run {result['run_id']}: {result['status']}")
    for col in ("step", "status", "instances", "ok", "failed", "skipped", "attempts", "ms"):
        table.add_column(col)
    for sid, step in result["steps"].items():
        table.add_row(
            sid,
            step["status"],
            str(step["instances"]),
            str(step["succeeded"]),
            str(step["failed"]),
            str(step["skipped"]),
            str(step["attempts"]),
            f"{step.get('duration_ms', 0):.0f}",
        )
    console.print(table)
    if "error" in result:
        console.print(f"error: {result['error']['message']}")
    return console.export_text()
