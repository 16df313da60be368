"""Compile-time benchmark: HCL grid -> Plan, in process.

Two generated grids (written to a temporary directory):

* ``steps_1000``: a chain of 1,000 ``print`` steps; every 10th step has
  ``count = 5`` and the next step reads all of its outputs.
* ``fanout_10000``: 100 chained ``print`` steps; the first has ``count = 100``
  and each following step is cloned per instance with ``[each]``, so the grid
  holds 100 x 100 = 10,000 step instances.

For each grid it prints the median of 3 runs of ``load_grid`` (HCL -> Plan)
and of ``Plan.to_json()``, against the goal (under 1 s each). It then runs the
fan-out grid once on the local engine (``gridflow.engines.local.run_grid``)
and reports that time separately: a run is not a compile.

Usage: ``.venv/bin/python bench/compile.py [--runs N] [--no-run] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import platform
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gridflow.engines.local import run_grid
from gridflow.plan import Plan
from gridflow.translators.hcl import load_grid

GOAL_S = 1.0
T = TypeVar("T")


def chain_grid(steps: int, count_every: int = 10, count: int = 5) -> str:
    """A chain of ``print`` steps; every ``count_every``-th one fans out."""
    parts: list[str] = []
    for i in range(steps):
        meta = f"  count = {count}\n" if i % count_every == count_every - 1 else ""
        if i == 0:
            value = '"start"'
        elif (i - 1) % count_every == count_every - 1:
            value = f'"after ${{length(print.s{i - 1}.output)}} instances"'
        else:
            value = f'"s{i} <- ${{print.s{i - 1}.output}}"'
        parts.append(f'step "print" "s{i}" {{\n{meta}  arguments {{ input = {value} }}\n}}\n')
    return "\n".join(parts)


def each_chain_grid(steps: int, count: int) -> str:
    """``steps`` chained steps, the first with ``count``, the rest cloned by ``[each]``."""
    parts = [
        f'step "print" "f0" {{\n  count = {count}\n  arguments {{ input = count.index }}\n}}\n'
    ]
    for i in range(1, steps):
        parts.append(
            f'step "print" "f{i}" {{\n'
            f"  arguments {{ input = print.f{i - 1}[each].output + 1 }}\n"
            "}\n"
        )
    return "\n".join(parts)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_time(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times: list[float] = []
    value: T | None = None
    for _ in range(runs):
        elapsed, value = timed(fn)
        times.append(elapsed)
    assert value is not None
    return statistics.median(times), value


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--no-run", action="store_true", help="skip the local-engine run")
    parser.add_argument("--profile", action="store_true", help="cProfile one load of each grid")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the print runner logs every instance

    print(f"machine: {machine()}")
    print(f"median of {args.runs} runs, in process\n")
    rows: list[tuple[str, str, float]] = []
    plans: dict[str, tuple[Plan, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="gridflow-bench-") as tmp:
        grids = {
            "steps_1000": chain_grid(1000),
            "fanout_10000": each_chain_grid(100, 100),
        }
        for name, text in grids.items():
            path = Path(tmp) / name / "grid.hcl"
            path.parent.mkdir()
            path.write_text(text)

            def load(p: Path = path) -> tuple[Plan, dict[str, object]]:
                loaded = load_grid([p])
                return loaded.plan, loaded.values

            load_s, (plan, values) = median_time(load, args.runs)
            json_s, plan_json = median_time(plan.to_json, args.runs)
            plans[name] = (plan, values)
            rows.append((name, f"load_grid ({len(plan.steps)} steps)", load_s))
            rows.append((name, f"Plan.to_json ({len(plan_json) // 1024} KiB)", json_s))
            rows.append((name, "total", load_s + json_s))
            if args.profile:
                prof = cProfile.Profile()
                prof.runcall(load)
                print(f"--- cProfile of load_grid({name}), top 12 by cumulative time")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(12)

    print(f"{'grid':<14} {'measure':<30} {'seconds':>8}  goal < {GOAL_S:.0f} s")
    for grid, measure, seconds in rows:
        verdict = ("ok" if seconds < GOAL_S else "MISSED") if measure == "total" else ""
        print(f"{grid:<14} {measure:<30} {seconds:>8.3f}  {verdict}")

    if not args.no_run:
        plan, values = plans["fanout_10000"]
        run_s, run = timed(lambda: run_grid(plan, values))
        result = run.result()
        instances = sum(int(s["instances"]) for s in result["steps"].values())
        print(
            f"\nlocal engine run of fanout_10000: {run_s:.2f} s, status {result['status']}, "
            f"{instances} instances ({instances / run_s:,.0f} instances/s)"
        )
        if result["status"] != "success":
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
