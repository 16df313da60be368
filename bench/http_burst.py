"""HTTP burst benchmark: gridflow's burst against wrk, bare Python and Locust.

Side by side in one run, against one private nginx on 127.0.0.1 (one worker,
``return 200 "ok"``; see bench/_support.py), 64 requests in flight:

(a) ``wrk -t 1 -c 64 --latency`` for ``--seconds``: the ceiling (wrk is
    time-based; its latency distribution gives p99). One thread, as every
    other row is one process.
(b) bare Python loops (bench/_loops.py), a fresh interpreter each:
    pyreqwest and aiohttp on uvloop and on asyncio's loop, httpx on uvloop
    (httpx runs a twentieth of the requests: it is ~40x slower). Latency
    per request with ``perf_counter_ns``.
(c) Locust, headless, one process, 64 FastHttpUsers with no wait, for
    ``--seconds`` (this Locust has no ``--iterations``); p99 from its CSV
    stats, req/s from its request count over the time between its
    test_start and test_stop events (its CSV Requests/s divides by whole
    seconds, off by up to 20 % in a 5 s run).
(d) ``gridflow run`` of a grid with one ``mode = "burst"`` http_request step
    of ``--requests`` instances, on the local engine; req/s and p99 from the
    step's metrics in ``-o json``. Until the burst engine exists this row
    says "not available yet" with the CLI's first line of error.
(e) gridflow's own transport (``open_transport("auto")``) in the bare loop
    of (b): what the burst engine can reach at best.

Then the ratios of (d) and (e) to the fastest bare Python loop, to Locust and
to wrk, beside the goals (>= 0.9, >= 4, >= 0.25).

Installs what it needs: Debian ``nginx-light`` and ``wrk`` through
tools/debian-packages, the ``bench`` extra (Locust) with uv. Every
subprocess has a timeout; nginx is stopped by pid at the end, on Ctrl-C too.

The machine is shared (2 cores): ``--repeat N`` runs every row N times,
interleaved, and keeps each row's best. The CPU % column is the client's
CPU time over wall time (100 = one core; pyreqwest's Rust thread counts).

Usage: ``.venv/bin/python bench/http_burst.py [--requests N | --quick] [--seconds S]
[--repeat N] [--json]``
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import functools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _support import (
    BURST_GRID,
    Nginx,
    ensure_bench_extra,
    ensure_debian_packages,
    first_line,
    machine,
    print_table,
    running_nginx,
)

CONCURRENCY = 64
GOALS = {"python": 0.9, "locust": 4.0, "wrk": 0.25}
BIN = Path(sys.executable).parent
LOOPS = Path(__file__).with_name("_loops.py")
# Bare loops: client, event loop, label, group, share of --requests (1 = all;
# httpx runs a twentieth: at ~400 req/s the full count would take minutes).
LOOP_ROWS = [
    ("pyreqwest", "uvloop", "pyreqwest + uvloop", "python", 1),
    ("pyreqwest", "asyncio", "pyreqwest + asyncio", "python", 1),
    ("aiohttp", "uvloop", "aiohttp + uvloop", "python", 1),
    ("aiohttp", "asyncio", "aiohttp + asyncio", "python", 1),
    ("httpx", "uvloop", "httpx + uvloop", "python", 20),
    ("transport", "uvloop", "gridflow transport (auto)", "transport", 1),
]


@dataclasses.dataclass
class Row:
    """One tool's result; ``rps`` None when it could not run (``note`` says why)."""

    tool: str
    group: str  # wrk | python | locust | gridflow | transport
    requests: int | None = None
    seconds: float | None = None
    rps: float | None = None
    p99_ms: float | None = None
    cpu_pct: float | None = None  # the client's CPU time over wall time (100 = one core)
    note: str = ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def children_cpu_s() -> float:
    """CPU seconds (user + system) of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- (a) wrk ------------------------------------------------------------------

_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_ms(text: str) -> float:
    """``"1.23ms"`` -> 1.23 (wrk prints us, ms, s or m)."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def run_wrk(url: str, seconds: int) -> Row:
    cmd = ["wrk", "-t", "1", "-c", str(CONCURRENCY), "-d", f"{seconds}s", "--latency", url]
    before = children_cpu_s()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    cpu_s = children_cpu_s() - before
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", out.stdout)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    p99 = re.search(r"^\s+99%\s+(\S+)$", out.stdout, re.MULTILINE)
    if not (done and rps and p99):
        raise RuntimeError(f"wrk printed something unexpected:\n{out.stdout}")
    row = Row("wrk (-t 1)", "wrk", int(done.group(1)), wrk_ms(done.group(2) + done.group(3)) / 1000)
    row.rps, row.p99_ms = float(rps.group(1)), wrk_ms(p99.group(1))
    row.cpu_pct = 100 * cpu_s / row.seconds if row.seconds else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out.stdout)
    if errors:
        row.note = errors.group(0)
    return row


# -- (b), (e) bare loops ----------------------------------------------------------


def run_loop(client: str, loop: str, url: str, requests: int, label: str, group: str) -> Row:
    cmd = [sys.executable, str(LOOPS), client, loop, url, str(requests), str(CONCURRENCY)]
    # Slowest row (httpx) runs ~400 req/s; anything slower than 100 is broken.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + requests / 100)
    if out.returncode != 0:
        return Row(label, group, note=f"failed: {first_line(out.stderr)}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    row = Row(label, group, result["requests"], result["seconds"])
    row.rps = result["requests"] / result["seconds"]
    row.p99_ms = result["p99_ms"]
    row.cpu_pct = 100 * result["cpu_s"] / result["seconds"]
    notes = []
    if result.get("picked"):
        notes.append(f"auto = {result['picked']}")
    if result["errors"]:
        notes.append(f"{result['errors']} errors")
    row.note = ", ".join(notes)
    return row


# -- (c) Locust -------------------------------------------------------------------

LOCUSTFILE = """\
import json
import os
import time

from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser

started = []


@events.test_start.add_listener
def on_start(environment, **kwargs):
    started.append(time.perf_counter())


@events.test_stop.add_listener
def on_stop(environment, **kwargs):
    # Locust's own Requests/s divides by whole seconds; this is exact.
    with open(os.environ["BENCH_LOCUST_RESULT"], "w") as f:
        json.dump(
            {
                "seconds": time.perf_counter() - started[0],
                "requests": environment.stats.total.num_requests,
            },
            f,
        )


class Get(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""


def locust_number(text: str) -> float | None:
    return None if text in ("", "N/A") else float(text)


def run_locust(url: str, seconds: int) -> Row:
    label = "Locust FastHttpUser"
    with tempfile.TemporaryDirectory(prefix="gridflow-bench-locust-") as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        csv_prefix = Path(tmp) / "run"
        result = Path(tmp) / "result.json"
        cmd = [
            str(BIN / "locust"), "-f", str(locustfile), "--headless",
            "-u", str(CONCURRENCY), "-r", str(CONCURRENCY), "-t", f"{seconds}s",
            "-H", url.rstrip("/"), "--csv", str(csv_prefix), "--only-summary",
            "--loglevel", "WARNING", "--stop-timeout", "5",
        ]  # fmt: skip
        env = {**os.environ, "BENCH_LOCUST_RESULT": str(result)}
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=tmp, env=env
        )
        stats = Path(f"{csv_prefix}_stats.csv")
        if not (stats.exists() and result.exists()):
            return Row(label, "locust", note=f"failed: {first_line(out.stderr)}")
        with stats.open(newline="") as f:
            total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
        counted = json.loads(result.read_text())
    row = Row(label, "locust", int(counted["requests"]), float(counted["seconds"]))
    row.rps = row.requests / row.seconds if row.requests and row.seconds else None
    row.p99_ms = locust_number(total["99%"])  # Locust rounds to its histogram buckets
    failures = int(total["Failure Count"])
    row.note = f"{failures} failures" if failures else ""
    return row


# -- (d) gridflow -------------------------------------------------------------------


def run_gridflow(url: str, requests: int) -> Row:
    label = "gridflow run (burst)"
    with tempfile.TemporaryDirectory(prefix="gridflow-bench-grid-") as tmp:
        (Path(tmp) / "grid.hcl").write_text(
            BURST_GRID.format(count=requests, concurrency=CONCURRENCY, url=url)
        )
        cmd = [str(BIN / "gridflow"), "run", tmp, "--engine", "local", "-o", "json"]
        started = time.perf_counter()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + requests / 500)
        except subprocess.TimeoutExpired as exc:
            return Row(
                label, "gridflow", note=f"not available yet (timed out after {exc.timeout:g} s)"
            )
        wall = time.perf_counter() - started
    try:
        metrics = json.loads(out.stdout)["steps"]["http_request.load"]["metrics"]
        row = Row(label, "gridflow", int(metrics.get("requests", requests)))
        row.rps = float(metrics["rps"])
        row.p99_ms = float(metrics["latency_ms"]["p99"])
        row.seconds = row.requests / row.rps if row.rps else None
    except (ValueError, KeyError, TypeError):
        why = first_line(out.stderr) if out.returncode else "no burst metrics in its JSON output"
        return Row(label, "gridflow", note=f"not available yet ({why})")
    row.note = f"process {wall:.1f} s" + ("" if out.returncode == 0 else f", exit {out.returncode}")
    return row


# -- report ---------------------------------------------------------------------


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Each gridflow-side row's req/s over each reference's, with its goal."""

    def best(group: str) -> Row | None:
        ran = [r for r in rows if r.group == group and r.rps]
        return max(ran, key=lambda r: r.rps or 0.0) if ran else None

    refs = {"python": best("python"), "locust": best("locust"), "wrk": best("wrk")}
    names = {"python": "fastest bare Python", "locust": "Locust", "wrk": "wrk"}
    out = []
    for ours in (r for r in rows if r.group in ("gridflow", "transport")):
        for key, ref in refs.items():
            value = ours.rps / ref.rps if ours.rps and ref and ref.rps else None
            out.append(
                {
                    "ratio": f"{ours.tool} / {names[key]}",
                    "reference": ref.tool if ref else None,
                    "value": value,
                    "goal": GOALS[key],
                    "met": None if value is None else value >= GOALS[key],
                }
            )
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(doc: dict[str, Any]) -> None:
    load = doc["load_average_1m"]
    print(f"\n{doc['date']}, {doc['machine']}")
    print(f"load average (1 min) {load['before']:.2f} before, {load['after']:.2f} after")
    print(
        f"nginx {doc['nginx_url']} (1 worker), {doc['requests']:,} requests or "
        f"{doc['seconds']} s (time-based tools), {CONCURRENCY} in flight, "
        f"best of {doc['repeat']} interleaved runs per row\n"
    )
    print_table(
        ["tool", "requests", "seconds", "req/s", "p99 ms", "CPU %", "note"],
        [
            [
                r["tool"],
                fmt(r["requests"], ","),
                fmt(r["seconds"], ".2f"),
                fmt(r["rps"], ",.0f"),
                fmt(r["p99_ms"], ".2f"),
                fmt(r["cpu_pct"], ".0f"),
                r["note"],
            ]
            for r in doc["rows"]
        ],
    )
    print()
    print_table(
        ["ratio (req/s)", "measured", "goal", ""],
        [
            [
                r["ratio"],
                fmt(r["value"], ".2f"),
                f">= {r['goal']:g}",
                {None: "n/a", True: "ok", False: "MISSED"}[r["met"]],
            ]
            for r in doc["ratios"]
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=200_000, help="requests per count-based row"
    )
    parser.add_argument("--quick", action="store_true", help="20,000 requests, 5 s time-based rows")
    parser.add_argument(
        "--seconds", type=int, help="duration of wrk and Locust (default 20, quick 5)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every row N times, interleaved; keep the best"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document, no table")
    args = parser.parse_args()
    requests = 20_000 if args.quick else args.requests
    seconds = args.seconds or (5 if args.quick else 20)
    if requests < CONCURRENCY or seconds < 2 or args.repeat < 1:
        parser.error(
            f"--requests must be at least {CONCURRENCY}, --seconds at least 2, --repeat at least 1"
        )

    ensure_debian_packages("nginx-light", "wrk")
    ensure_bench_extra("locust")
    load_before = os.getloadavg()[0]
    nginx: Nginx
    with running_nginx() as nginx:
        url = nginx.url
        log(f"nginx pid {nginx.pid} on {url}")
        steps: list[tuple[str, Callable[[], Row]]] = [("wrk", lambda: run_wrk(url, seconds))]
        for client, loop, label, group, share in LOOP_ROWS:
            n = max(CONCURRENCY, requests // share)
            steps.append((label, functools.partial(run_loop, client, loop, url, n, label, group)))
            if client == "httpx":  # Locust between the Python loops and gridflow's rows
                steps.append(("Locust", lambda: run_locust(url, seconds)))
        steps.append(("gridflow", lambda: run_gridflow(url, requests)))
        # Interleaved repeats: a neighbour's load on this shared machine then
        # falls on every row alike, and the best run of each is kept.
        runs: dict[str, list[Row]] = {name: [] for name, _ in steps}
        for repeat in range(args.repeat):
            for name, step in steps:
                if repeat and not any(r.rps for r in runs[name]):
                    continue  # failed or not available: once is enough
                log(f"[{repeat + 1}/{args.repeat}] running {name} ...")
                try:
                    row = step()
                except (subprocess.SubprocessError, RuntimeError, OSError, ValueError) as exc:
                    row = Row(name, name, note=f"failed: {first_line(str(exc))}")
                if row.group == "gridflow" and row.rps is None:
                    log(f"gridflow: {row.note}")
                runs[name].append(row)
        rows = [max(rs, key=lambda r: r.rps or 0.0) for rs in runs.values()]
    doc = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        # Other work on the machine skews every row: say how busy it was.
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "nginx_url": url,
        "requests": requests,
        "seconds": seconds,
        "repeat": args.repeat,
        "concurrency": CONCURRENCY,
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": ratios(rows),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_report(doc)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted; nginx stopped")
        raise SystemExit(130) from None
