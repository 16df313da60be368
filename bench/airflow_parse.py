"""How long Airflow takes to parse 300 grids dropped next to the loader.

Run with the Airflow venv: ``.venv-airflow/bin/python bench/airflow_parse.py``.

Side by side, in fresh interpreters, each timed around ``DagBag(folder)``
(imports excluded, they are paid once per parsing process either way):

* gridflow: 300 ``.hcl`` grids + the one-line loader, first with an empty
  plan cache (HCL compiled) and then with a warm one (what the dag-processor
  sees on every later parse);
* reference: 300 hand-written Python DAG files of the same shape (TaskFlow
  tasks, a mapped task, a mapped task group of two tasks, a summary).

The number that matters is the loader's cold time against Airflow's default
DAG file import timeout (30 s): all 300 grids are one file for Airflow.

Then one large DAG: bench/compile.py's 1,000-step chain grid (every 10th
step fans out to 5 instances) written by ``gridflow compile --to airflow``,
against a hand-written TaskFlow file with the same tasks and dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

N = int(os.environ.get("BENCH_GRIDS", "300"))

GRID = """
variable "who" {{
  type    = string
  default = "world"
}}
step "print" "start" {{
  arguments {{ input = "hi ${{var.who}} {i}" }}
}}
step "print" "fan" {{
  count = 3
  arguments {{ input = "${{print.start.output}}-${{count.index}}" }}
}}
step "print" "per" {{
  arguments {{ input = upper(print.fan[each].output) }}
}}
step "print" "twice" {{
  arguments {{ input = "${{print.per[each].output}}!" }}
}}
step "print" "sum" {{
  arguments {{ input = join(",", print.twice.output) }}
}}
"""

HAND = '''
"""Hand-written airflow dag {i}."""
from airflow.sdk import DAG, Param, task, task_group

with DAG(
    dag_id="hand_{i}",
    schedule=None,
    catchup=False,
    params={{"who": Param("world", type="string")}},
):
    @task(task_id="print.start")
    def start(): return "hi"
    @task(task_id="print.fan.instances")
    def instances(_): return [0, 1, 2]
    @task_group(group_id="print__fan")
    def chain(position):
        @task(task_id="print.fan")
        def fan(p): return p
        @task(task_id="print.per")
        def per(p): return p
        @task(task_id="print.twice")
        def twice(p): return p
        twice(per(fan(position)))
    @task(task_id="print.sum")
    def total(): return "sum"
    s = start()
    g = chain.expand(position=instances(s))
    g >> total()
'''

LOADER = (
    '"""Airflow DAGs from gridflow grids."""\n'
    "from gridflow.provider import load_dags\n\nload_dags(globals())\n"
)

PARSE = textwrap.dedent(
    """
    import json, sys, time
    from airflow.dag_processing.dagbag import DagBag
    t = time.perf_counter()
    bag = DagBag(sys.argv[1])
    print(json.dumps({"s": time.perf_counter() - t, "dags": len(bag.dags),
                      "errors": len(bag.import_errors)}))
    """
)


def parse(folder: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def hand_written_chain(steps: int, count_every: int = 10) -> str:
    """The 1,000-step chain grid's DAG as someone would write it with TaskFlow."""
    lines = [
        '"""Hand-written airflow dag: the 1,000-step chain."""',
        "from airflow.sdk import DAG, task",
        "",
        'with DAG(dag_id="hand_chain", schedule=None, catchup=False):',
        "",
        "    @task",
        "    def step(x=None):",
        "        return x",
        "",
        "    @task",
        "    def instances(x=None):",
        "        return [0, 1, 2, 3, 4]",
        "",
    ]
    for i in range(steps):
        up = f"s{i - 1}" if i else ""
        if i % count_every == count_every - 1:
            lines.append(f'    c{i} = instances.override(task_id="print.s{i}.instances")({up})')
            lines.append(f'    s{i} = step.override(task_id="print.s{i}").expand(x=c{i})')
        else:
            lines.append(f'    s{i} = step.override(task_id="print.s{i}")({up})')
    return "\n".join(lines) + "\n"


def big_dag(root: Path, env: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from compile import chain_grid  # bench/compile.py

    from gridflow.engines.airflow.codegen import render_dag_module
    from gridflow.translators.hcl import load_grid

    grid = root / "chain.hcl"
    grid.write_text(chain_grid(1000))
    compiled, hand = root / "compiled", root / "hand_chain"
    compiled.mkdir()
    hand.mkdir()
    plan = load_grid([grid], environ={}).plan
    (compiled / "chain_dag.py").write_text(render_dag_module(plan))
    (hand / "hand_chain.py").write_text(hand_written_chain(1000))
    return parse(compiled, env), parse(hand, env)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="gridflow-bench-parse-"))
    grids, hand = root / "grids", root / "hand"
    grids.mkdir()
    hand.mkdir()
    for i in range(N):
        (grids / f"grid_{i:03d}.hcl").write_text(GRID.format(i=i))
        (hand / f"hand_{i:03d}.py").write_text(HAND.format(i=i))
    (grids / "gridflow_dags.py").write_text(LOADER)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GRIDFLOW_CACHE_DIR": str(root / "cache"),
    }
    cold = parse(grids, env)
    warm = parse(grids, env)
    ref = parse(hand, env)
    print(f"{N} grids, 5 steps each ({N * 6} tasks: 5 steps + 1 instances task per grid)")
    print(f"gridflow loader, cold cache : {cold['s']:6.2f} s  dags={cold['dags']:.0f}")
    print(f"gridflow loader, warm cache : {warm['s']:6.2f} s  dags={warm['dags']:.0f}")
    print(f"hand-written DAG files      : {ref['s']:6.2f} s  dags={ref['dags']:.0f}")
    print(f"ratio warm / hand-written   : {warm['s'] / ref['s']:6.2f}")
    print(f"ratio cold / hand-written   : {cold['s'] / ref['s']:6.2f}")
    print("default DAG file import timeout: 30 s (all grids are one file for Airflow)")
    ours, theirs = big_dag(root, env)
    print(f"1,000-step grid, compiled DAG file   : {ours['s']:6.2f} s  dags={ours['dags']:.0f}")
    print(f"1,000-step chain, hand-written DAG   : {theirs['s']:6.2f} s  dags={theirs['dags']:.0f}")
    print(f"ratio compiled / hand-written        : {ours['s'] / theirs['s']:6.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
