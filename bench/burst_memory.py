"""Memory of a 1,000,000-request burst: ``gridflow run``'s RSS, sampled.

Starts the same private nginx as bench/http_burst.py (bench/_support.py),
writes a grid with one ``mode = "burst"`` http_request step of
``--requests`` instances (64 in flight) and runs it with ``gridflow run
--engine local -o json``. Every 0.5 s it reads VmRSS from /proc/<pid>/status
for the gridflow process and every process under it, and prints the peak and
the curve (first, quarter, middle, three quarters, last sample).

Goals: peak under 200 MB, and flat: the median of the last quarter of the
samples no more than max(10 MB, 10 % of the peak) above the median of the
second quarter (start-up is the first quarter, so imports do not count as
growth). Until the burst engine exists the run says "not available yet"
with the CLI's first line of error, and exits 0.

Usage: ``.venv/bin/python bench/burst_memory.py [--requests N] [--json]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _support import BURST_GRID, ensure_debian_packages, first_line, machine, running_nginx

CONCURRENCY = 64
GOAL_MB = 200.0
SAMPLE_S = 0.5
BIN = Path(sys.executable).parent


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` and all its descendants in MB; None once it is gone."""
    total_kb = 0
    seen = False
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                seen = True
                break
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return total_kb / 1024 if seen else None


def sample_run(
    cmd: list[str], timeout_s: float
) -> tuple[subprocess.CompletedProcess[str], list[tuple[float, float]]]:
    """Run ``cmd``, sampling its RSS every SAMPLE_S; killed after ``timeout_s``."""
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        started = time.monotonic()
        try:
            while True:
                try:
                    proc.wait(timeout=SAMPLE_S)  # the first sample after exec, not before
                    break
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - started
                if elapsed > timeout_s:
                    proc.kill()
                    proc.wait(timeout=10)
                    raise subprocess.TimeoutExpired(cmd, timeout_s)
                mb = rss_mb(proc.pid)
                if mb is not None:
                    samples.append((elapsed, mb))
        finally:
            if proc.poll() is None:  # Ctrl-C or an error while sampling
                proc.kill()
                proc.wait(timeout=10)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return done, samples


def summary(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Peak, five points of the curve, growth over the run and the verdicts."""
    mbs = [mb for _, mb in samples]
    n = len(mbs)
    peak = max(mbs)
    points = {
        name: {"t_s": samples[i][0], "rss_mb": samples[i][1]}
        for name, i in (
            ("first", 0),
            ("quarter", n // 4),
            ("middle", n // 2),
            ("three_quarters", 3 * n // 4),
            ("last", n - 1),
        )
    }
    second_quarter = mbs[n // 4 : max(n // 4 + 1, n // 2)]
    last_quarter = mbs[3 * n // 4 :] or mbs[-1:]
    growth = statistics.median(last_quarter) - statistics.median(second_quarter)
    allowed = max(10.0, 0.1 * peak)
    return {
        "samples": n,
        "peak_mb": peak,
        "curve": points,
        "growth_mb": growth,
        "under_goal": peak < GOAL_MB,
        "flat": growth <= allowed,
        "flat_allowance_mb": allowed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1_000_000, help="burst size")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    ensure_debian_packages("nginx-light")
    # Bounded: even at 1,000 req/s the burst ends well inside this.
    timeout_s = 120 + args.requests / 1000
    doc: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "requests": args.requests,
        "concurrency": CONCURRENCY,
        "goal_mb": GOAL_MB,
    }
    with running_nginx() as nginx, tempfile.TemporaryDirectory(prefix="gridflow-bench-") as tmp:
        Path(tmp, "grid.hcl").write_text(
            BURST_GRID.format(count=args.requests, concurrency=CONCURRENCY, url=nginx.url)
        )
        cmd = [str(BIN / "gridflow"), "run", tmp, "--engine", "local", "-o", "json"]
        print(f"nginx pid {nginx.pid} on {nginx.url}; {' '.join(cmd)}", file=sys.stderr)
        started = time.monotonic()
        try:
            done, samples = sample_run(cmd, timeout_s)
        except subprocess.TimeoutExpired:
            done, samples = None, []
        doc["seconds"] = time.monotonic() - started
    metrics = None
    if done is not None:
        try:
            metrics = json.loads(done.stdout)["steps"]["http_request.load"]["metrics"]
        except (ValueError, KeyError, TypeError):
            metrics = None
    if done is None:
        doc["available"] = False
        doc["note"] = f"not available yet (timed out after {timeout_s:g} s)"
    elif metrics is None or not samples:
        doc["available"] = False
        why = first_line(done.stderr) if done.returncode else "no burst metrics in its output"
        doc["note"] = f"not available yet ({why})"
    else:
        doc["available"] = True
        doc["exit_code"] = done.returncode
        doc["rps"] = metrics.get("rps")
        doc.update(summary(samples))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{doc['date']}, {doc['machine']}")
    print(f"burst of {args.requests:,} requests, {CONCURRENCY} in flight, against local nginx")
    if not doc["available"]:
        print(f"gridflow: {doc['note']}")
        return 0
    curve = ", ".join(
        f"{name.replace('_', ' ')} {p['rss_mb']:.0f} MB @ {p['t_s']:.0f} s"
        for name, p in doc["curve"].items()
    )
    print(f"run {doc['seconds']:.1f} s (exit {doc['exit_code']}), {doc['samples']} RSS samples")
    print(f"RSS curve: {curve}")
    verdict = "ok" if doc["under_goal"] else "MISSED"
    print(f"peak RSS {doc['peak_mb']:.0f} MB (goal < {GOAL_MB:.0f} MB): {verdict}")
    flat = "ok" if doc["flat"] else "MISSED"
    print(
        f"growth over the run {doc['growth_mb']:+.1f} MB (flat if <= "
        f"{doc['flat_allowance_mb']:.0f} MB): {flat}"
    )
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted; gridflow and nginx stopped", file=sys.stderr)
        raise SystemExit(130) from None
