"""Where a fan-out should stop being one engine task per instance.

Runs the same fan-out of ``N`` cheap instances (``print``) as tasks
(``mode = "tasks"``) and as one burst (``mode = "burst"``) on the local and
Prefect engines, in this process, and prints the wall time of each and the
per-instance cost of a task. The default burst threshold
(``gridflow.runtime.scheduler.DEFAULT_BURST_THRESHOLD``) is chosen from
these numbers; docs/decisions/0006-bursts.md explains the choice.

Usage: ``.venv/bin/python bench/burst_threshold.py [--sizes 100,1000] [--engines local,prefect]``
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from gridflow.translators.hcl import load_grid

GRID = """
step "print" "fan" {{
  count = {n}
  mode  = "{mode}"
  arguments {{ input = "instance ${{count.index}}" }}
}}
"""


def _run(engine: str, n: int, mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "g.hcl").write_text(GRID.format(n=n, mode=mode))
        plan = load_grid([tmp]).plan
        if engine == "prefect":
            from gridflow.engines.prefect import run_grid
        else:
            from gridflow.engines.local import run_grid
        start = time.perf_counter()
        run = run_grid(plan, {})
        elapsed = time.perf_counter() - start
        assert run.result()["status"] == "success", run.result()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--engines", default="local,prefect")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    engines = args.engines.split(",")
    if "prefect" in engines:
        from gridflow.engines.prefect import configure_prefect_environment

        configure_prefect_environment(Path(tempfile.mkdtemp(prefix="gridflow-bench-")))
        _run("prefect", 1, "tasks")  # start the embedded API once, outside the timings
    header = ("engine", "instances", "tasks s", "burst s", "ms/task", "ratio")
    print("{:8} {:>9} {:>9} {:>9} {:>8} {:>7}".format(*header))
    for engine in engines:
        for n in (int(s) for s in args.sizes.split(",")):
            tasks = _run(engine, n, "tasks")
            burst = _run(engine, n, "burst")
            print(
                f"{engine:8} {n:9d} {tasks:9.2f} {burst:9.2f} {tasks / n * 1000:8.2f} "
                f"{tasks / burst:7.1f}x"
            )


if __name__ == "__main__":
    main()
