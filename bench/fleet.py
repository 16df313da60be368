"""Fleet job benchmark: ``gridflow run`` against Ansible on real sshd nodes.

One 5-phase job, run side by side by gridflow and by Ansible over the same
SSH, on 3 and on 30 nodes (``--nodes``). The nodes are real OpenSSH servers
started by this script on 127.0.0.101, 127.0.0.102, ... (``SshNodes`` from
tests/support/sshd.py: own host keys, one client key, a known_hosts file,
logins as root), where ``apt-get``, ``systemctl`` and ``dpkg-query`` are
recording stand-ins: nothing on the machine is installed or restarted.

The job (gridflow's YAML, :data:`JOB`)::

    0  barrier   apt update
    1  pipeline  apt install nginx; systemd enable nginx
    2  barrier   systemd restart nginx
    3  barrier   ping echo
    4  barrier   systemd status nginx

which sends each node these commands, in this order (``apt install`` asks
dpkg first and installs only what is missing; ``systemd enable`` is
``enable --now``)::

    DEBIAN_FRONTEND=noninteractive apt-get update
    dpkg-query -W -f '${Status}\\t${Version}\\n' nginx
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx
    systemctl enable --now nginx
    systemctl restart nginx
    printf %s 'hello from the fleet benchmark'
    systemctl status nginx

The nodes' ``dpkg-query`` stand-in answers as for a package never installed,
so both tools install nginx on every node every run whatever this machine
has installed.

**Ansible** (``ansible-core`` from the ``bench`` extra) runs the same
commands as ``ansible.builtin.command`` tasks with argv lists, one task per
command: the probe is registered and the install task has the matching
``when:``. Not the ``apt``/``systemd_service`` modules: they would query the
machine's real package database and systemd instead of the stand-ins, so the
two tools would no longer do the same thing. Ansible gets its best settings
(:data:`ANSIBLE_CFG`): ``forks`` = number of nodes, ``pipelining = True``
(the module goes to the node's Python on the stdin of one SSH exec: no
temporary files, no sftp), OpenSSH ControlMaster/ControlPersist (one
connection per node for the whole play), no ``-C`` compression (it only
costs CPU on loopback), ``gathering = explicit`` (no fact gathering),
the node's Python given (no interpreter discovery), host key checking on
against the nodes' known_hosts. Every Ansible run gets a fresh ControlPath
directory, and its master connections are closed afterwards (``ssh -O
exit``, then SIGTERM by pid): like gridflow, every run starts cold.
``--ansible-strategy linear`` (default) runs one play; ``free`` runs the
pipeline phase as a play of its own under ``strategy: free`` (each host runs
ahead, as gridflow's pipeline does) between two linear plays. ``--adhoc``
adds Ansible's ad-hoc form: one ``ansible all -m command`` process per
command (the probe through ``-m shell`` accepting dpkg's "not found";
ad-hoc has no ``when:``, and the probe says "not installed" anyway).

**Timed**: the wall time of each process (``gridflow run JOB -i INV --engine
local -o json``; ``ansible-playbook PLAY``), which is what the goal judges,
and each tool's own time for the job: gridflow's ``duration_s`` from its
JSON result, Ansible's from a small callback plugin (first play start to the
stats at the end). ``--repeat N`` runs each tool N times, interleaved (the
first tool alternates), on the same nodes; the table shows the best and the
median, the ratio gridflow / Ansible is taken on the medians of the process
wall times; goal <= 0.5. Where the time goes: "CPU here" is the CPU time of
the tool's processes on this side (its waited-for children: for Ansible its
workers and ssh clients, not the ControlPersist masters, which detach),
"CPU nodes" that of the nodes (each listening sshd with every process it
reaped: connections, sessions, shells, stand-ins, Ansible's module
processes), read from /proc before and after each run. The load average at
the start of each run is recorded: the machine is shared.

**Checked**: every run must succeed on every node (gridflow: exit 0 and
every result ``success``; Ansible: exit 0 and no failed or unreachable host
in its stats), and every run of every tool must leave the same stand-in
calls on every node (the exact argv, in order); a run that does not is
reported as failed, not timed.

Installs what it needs: Debian ``openssh-server`` (tools/debian-packages,
through ``SshNodes``), the ``bench`` extra with uv. Every subprocess has a
timeout; sshd processes and Ansible's SSH masters are stopped by pid at the
end, on Ctrl-C and SIGTERM too. The harness comes from tests/support (the
repository root is put on ``sys.path``): it is the one the fleet tests use,
so the benchmark's nodes are the tested ones.

Usage: ``.venv/bin/python bench/fleet.py [--nodes 3,30] [--repeat N]
[--ansible-strategy linear|free] [--adhoc] [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from _support import ensure_bench_extra, first_line, machine, print_table
from tests.support.sshd import SshNodes  # the fleet tests' sshd harness (via _support)

GOAL = 0.5  # gridflow wall time / Ansible wall time, at most
FIRST_ADDRESS = 101  # nodes on 127.0.0.101.. (the test suite's own use 127.0.0.2..)
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MESSAGE = "hello from the fleet benchmark"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
STATUS_FORMAT = r"${Status}\t${Version}\n"  # dpkg-query expands \t and \n itself

JOB = f"""\
name: fleet-bench
target: all
strategy: fail-fast
tasks:
  - {{ backend: apt, action: update }}
  - tasks:
      - {{ backend: apt, action: install, params: {{ package: nginx }} }}
      - {{ backend: systemd, action: enable, params: {{ unit: nginx }} }}
  - {{ backend: systemd, action: restart, params: {{ unit: nginx }} }}
  - {{ backend: ping, action: echo, params: {{ message: "{MESSAGE}" }} }}
  - {{ backend: systemd, action: status, params: {{ unit: nginx }} }}
"""

# The same commands as Ansible tasks, per phase: (kind, tasks). "pipeline"
# is the phase gridflow runs per node without barriers.
PROBE = "nginx_status"
ANSIBLE_PHASES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "barrier",
        [
            {
                "name": "apt update",
                "ansible.builtin.command": {"argv": ["apt-get", "update"]},
                "environment": APT_ENV,
            }
        ],
    ),
    (
        "pipeline",
        [
            {
                "name": "is nginx installed",
                "ansible.builtin.command": {
                    "argv": ["dpkg-query", "-W", "-f", STATUS_FORMAT, "nginx"]
                },
                "register": PROBE,
                "failed_when": f"{PROBE}.rc > 1",  # 1 = dpkg-query's "no packages found"
                "changed_when": False,
            },
            {
                "name": "apt install nginx",
                "ansible.builtin.command": {"argv": ["apt-get", "install", "-y", "nginx"]},
                "environment": APT_ENV,
                "when": f"{PROBE}.rc != 0 or 'ok installed' not in {PROBE}.stdout",
            },
            {
                "name": "systemd enable nginx",
                "ansible.builtin.command": {"argv": ["systemctl", "enable", "--now", "nginx"]},
            },
        ],
    ),
    (
        "barrier",
        [
            {
                "name": "systemd restart nginx",
                "ansible.builtin.command": {"argv": ["systemctl", "restart", "nginx"]},
            },
            {
                "name": "ping echo",
                "ansible.builtin.command": {"argv": ["printf", "%s", MESSAGE]},
                "changed_when": False,
            },
            {
                "name": "systemd status nginx",
                "ansible.builtin.command": {"argv": ["systemctl", "status", "nginx"]},
                "changed_when": False,
            },
        ],
    ),
]

ANSIBLE_CFG = """\
# Written by bench/fleet.py: Ansible's fastest settings for this job.
[defaults]
inventory = {dir}/hosts.ini
forks = {forks}
strategy = linear
host_key_checking = True
gathering = explicit
interpreter_python = {python}
retry_files_enabled = False
nocolor = True
local_tmp = {dir}/local_tmp
callback_plugins = {dir}/callback_plugins
callbacks_enabled = bench_times

[ssh_connection]
pipelining = True
# Ansible's default ssh_args minus -C (see SSH_ARGS)
ssh_args = {ssh_args}
control_path_dir = {control_dir}
"""

# Ansible's default (-C -o ControlMaster=auto -o ControlPersist=60s) minus -C;
# -F /dev/null: no ~/.ssh/config; the nodes' known_hosts, checked strictly.
SSH_ARGS = (
    "-F /dev/null -o ControlMaster=auto -o ControlPersist=60s "
    "-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
)

# Ansible's own time for the job, and each host's stats, in a JSON file.
CALLBACK = """\
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_times"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        self._started = time.monotonic()

    def v2_playbook_on_stats(self, stats):
        if not hasattr(self, "_started"):
            return  # not a playbook run
        hosts = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(os.environ["BENCH_ANSIBLE_TIMES"], "w") as file:
            json.dump({"seconds": time.monotonic() - self._started, "hosts": hosts}, file)
"""

# A node's dpkg-query: records its call as the other stand-ins do
# (tests/support/stub_command.py) and answers "never installed" (exit 1).
DPKG_QUERY_STANDIN = """\
#!{python} -I
import json, os, sys, time

record = {{"node": {node!r}, "cmd": "dpkg-query", "argv": ["dpkg-query", *sys.argv[1:]],
          "env": {{}}, "uid": os.getuid(), "time": time.time(), "pid": os.getpid()}}
fd = os.open({calls!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
try:
    os.write(fd, (json.dumps(record) + "\\n").encode())
finally:
    os.close(fd)
args = sys.argv[1:]
skip = {{args.index("-f") + 1}} if "-f" in args[:-1] else set()
for i, name in enumerate(args):
    if not name.startswith("-") and i not in skip:
        sys.stderr.write(f"dpkg-query: no packages found matching {{name}}\\n")
sys.exit(1)
"""


@dataclasses.dataclass
class Run:
    """One timed run of one tool; ``ok`` False when it failed (``note`` says why)."""

    tool: str
    nodes: int
    wall_s: float
    own_s: float | None = None  # the tool's own time for the job (None: not known)
    ok: bool = True
    calls_per_node: int | None = None
    # CPU seconds spent for the run: by the tool's processes on this side
    # (its waited-for children), and by the nodes (sshd and what it ran).
    controller_cpu_s: float | None = None
    node_cpu_s: float | None = None
    load_1m: float | None = None  # the machine's load average when the run started
    note: str = ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def node_python() -> str:
    """The Python Ansible's modules run with on the nodes (this machine)."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def playbook(strategy: str) -> list[dict[str, Any]]:
    """The Ansible playbook: one linear play, or the pipeline phase as a free play."""
    plays: list[tuple[str, list[dict[str, Any]]]] = []
    for kind, tasks in ANSIBLE_PHASES:
        play_strategy = "free" if strategy == "free" and kind == "pipeline" else "linear"
        if plays and plays[-1][0] == play_strategy:
            plays[-1][1].extend(tasks)
        else:
            plays.append((play_strategy, list(tasks)))
    return [
        {"hosts": "all", "gather_facts": False, "strategy": play_strategy, "tasks": tasks}
        for play_strategy, tasks in plays
    ]


def adhoc_steps() -> list[tuple[str, str]]:
    """The playbook's commands as ad-hoc (module, args) pairs, in order."""
    steps = []
    for _, tasks in ANSIBLE_PHASES:
        for task in tasks:
            argv = task["ansible.builtin.command"]["argv"]
            words = [*(f"{k}={v}" for k, v in task.get("environment", {}).items()), *argv]
            line = shlex.join(["env", *words] if "environment" in task else words)
            if task.get("register") == PROBE:  # exit 1 is dpkg's "not installed"
                steps.append(("ansible.builtin.shell", f"{line} || test $? -eq 1"))
            else:
                steps.append(("ansible.builtin.command", line))
    return steps


class Fleet:
    """``count`` started sshd nodes and the files both tools need to use them."""

    def __init__(self, root: Path, count: int, strategy: str) -> None:
        self.root = root
        self.count = count
        self.nodes = SshNodes(root / "nodes", count, first_address=FIRST_ADDRESS)
        self.job = root / "job.yaml"
        self.inventory = root / "inventory.yaml"
        self.ansible = root / "ansible"
        self.strategy = strategy
        self.reference: dict[str, list[list[str]]] | None = None
        self._control: Path | None = None  # this Ansible run's ControlPath directory
        self._masters: set[int] = set()

    def start(self) -> Fleet:
        self.nodes.start()
        for node in self.nodes:
            standin = node.bin / "dpkg-query"
            standin.write_text(
                DPKG_QUERY_STANDIN.format(
                    python=sys.executable, node=node.id, calls=str(node.calls_log)
                )
            )
            standin.chmod(0o755)
        self.job.write_text(JOB)
        self.inventory.write_text(yaml.safe_dump(self.nodes.inventory(), sort_keys=False))
        (self.ansible / "callback_plugins").mkdir(parents=True)
        (self.ansible / "callback_plugins" / "bench_times.py").write_text(CALLBACK)
        (self.ansible / "hosts.ini").write_text(
            "[fleet]\n"
            + "".join(
                f"{n.id} ansible_host={n.host} ansible_port={n.port} ansible_user="
                f"{self.nodes.user} ansible_ssh_private_key_file={self.nodes.client_key}\n"
                for n in self.nodes
            )
        )
        (self.ansible / "play.yaml").write_text(
            yaml.safe_dump(playbook(self.strategy), sort_keys=False, width=200)
        )
        return self

    def stop(self) -> None:
        self._close_masters()
        self.nodes.stop()

    def node_cpu_s(self) -> float:
        """CPU seconds used so far by the nodes: each listening sshd and every
        process it has reaped (connections, sessions, the commands they ran)."""
        ticks = 0
        for node in self.nodes:
            if node.pid is None:
                continue
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{node.pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return ticks / CLOCK_TICKS

    # -- gridflow -------------------------------------------------------------

    def run_gridflow(self) -> Run:
        cmd = [
            str(BIN / "gridflow"), "run", str(self.job), "-i", str(self.inventory),
            "--engine", "local", "-o", "json",
        ]  # fmt: skip
        self.nodes.clear_calls()
        started = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 2 * self.count)
        run = Run("gridflow run", self.count, time.perf_counter() - started)
        try:
            doc = json.loads(out.stdout)
            run.own_s = float(doc["duration_s"])
            bad = sorted(
                f"{key} on {node}: {result['status']}"
                for key, per_node in doc["results"].items()
                for node, result in per_node.items()
                if result["status"] != "success"
            )
        except (ValueError, KeyError, TypeError):
            return self._failed(run, f"exit {out.returncode}: {first_line(out.stderr)}")
        if out.returncode != 0 or doc["status"] != "success" or bad:
            return self._failed(run, f"status {doc['status']}: {', '.join(bad[:3])}")
        return self._check_calls(run)

    # -- Ansible --------------------------------------------------------------

    def run_playbook(self) -> Run:
        with self._ansible_env() as (env, times):
            cmd = [str(BIN / "ansible-playbook"), str(self.ansible / "play.yaml")]
            started = time.perf_counter()
            out = subprocess.run(
                cmd, capture_output=True, text=True, env=env, timeout=120 + 10 * self.count
            )
            run = Run(f"ansible-playbook ({self.strategy})", self.count, 0.0)
            run.wall_s = time.perf_counter() - started
            if out.returncode != 0 or not times.exists():
                return self._failed(run, f"exit {out.returncode}: {ansible_error(out)}")
            stats = json.loads(times.read_text())
        run.own_s = float(stats["seconds"])
        bad = sorted(
            host for host, s in stats["hosts"].items() if s["failures"] or s["unreachable"]
        )
        if bad or len(stats["hosts"]) != self.count:
            return self._failed(run, f"failed or unreachable: {', '.join(bad) or 'hosts missing'}")
        return self._check_calls(run)

    def run_adhoc(self) -> Run:
        run = Run("ansible ad-hoc (1 process per command)", self.count, 0.0)
        with self._ansible_env() as (env, _):
            started = time.perf_counter()
            for module, args in adhoc_steps():
                cmd = [str(BIN / "ansible"), "all", "-m", module, "-a", args]
                out = subprocess.run(
                    cmd, capture_output=True, text=True, env=env, timeout=60 + 5 * self.count
                )
                if out.returncode != 0:
                    run.wall_s = time.perf_counter() - started
                    return self._failed(run, f"{args}: exit {out.returncode}: {ansible_error(out)}")
            run.wall_s = time.perf_counter() - started
        return self._check_calls(run)

    @contextlib.contextmanager
    def _ansible_env(self) -> Iterator[tuple[dict[str, str], Path]]:
        """A fresh ControlPath directory and config per run; masters closed after."""
        self.nodes.clear_calls()
        control = Path(tempfile.mkdtemp(prefix="cp-", dir=self.ansible))
        config = self.ansible / "ansible.cfg"
        config.write_text(
            ANSIBLE_CFG.format(
                dir=self.ansible,
                forks=self.count,
                python=node_python(),
                ssh_args=SSH_ARGS.format(known_hosts=self.nodes.known_hosts),
                control_dir=control,
            )
        )
        times = self.ansible / "times.json"
        times.unlink(missing_ok=True)
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(config),
            "ANSIBLE_HOME": str(self.ansible / "home"),  # nothing read from ~/.ansible
            "BENCH_ANSIBLE_TIMES": str(times),
        }
        self._control = control
        try:
            yield env, times
        finally:
            self._close_masters()

    def _close_masters(self) -> None:
        """Stop the run's ControlPersist masters: ``-O exit``, then SIGTERM by pid."""
        control = self._control
        if control is None or not control.exists():
            return
        for socket_path in control.iterdir():
            base = ["ssh", "-F", "/dev/null", "-o", f"ControlPath={socket_path}"]
            with contextlib.suppress(subprocess.SubprocessError):
                check = subprocess.run(
                    [*base, "-O", "check", "node"], capture_output=True, text=True, timeout=10
                )
                found = re.search(r"pid=(\d+)", check.stderr)
                if found:
                    self._masters.add(int(found.group(1)))
                subprocess.run([*base, "-O", "exit", "node"], capture_output=True, timeout=10)
        deadline = time.monotonic() + 5
        for pid in sorted(self._masters):
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        self._masters.clear()
        shutil.rmtree(control, ignore_errors=True)
        self._control = None

    # -- checks ---------------------------------------------------------------

    def _check_calls(self, run: Run) -> Run:
        """Every node got the same stand-in calls, and the same as every earlier run."""
        calls = {node: self.nodes.argvs(node) for node in self.nodes.ids}
        first = calls[self.nodes.ids[0]]
        odd = [node for node, argvs in calls.items() if argvs != first]
        if not first or odd:
            return self._failed(run, f"stand-in calls differ between nodes: {', '.join(odd)}")
        if self.reference is None:
            self.reference = calls
        elif calls != self.reference:
            return self._failed(
                run,
                f"stand-in calls differ from the first run: {first} vs "
                f"{self.reference[self.nodes.ids[0]]}",
            )
        run.calls_per_node = len(first)
        return run

    def _failed(self, run: Run, note: str) -> Run:
        run.ok = False
        run.note = note
        log(f"{run.tool} on {run.nodes} nodes FAILED: {note}")
        return run


def children_cpu_s() -> float:
    """CPU seconds (user + system) of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        # A zombie (exited, not yet reaped by its parent) is gone for our purpose.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def ansible_error(out: subprocess.CompletedProcess[str]) -> str:
    """The first line of Ansible's complaint (it writes failures on stdout)."""
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        if re.search(r"fatal:|FAILED|UNREACHABLE|ERROR", line):
            return line.strip()[:300]
    return first_line(out.stderr or out.stdout)


# -- measuring and reporting ---------------------------------------------------


def measure(count: int, repeat: int, strategy: str, adhoc: bool) -> dict[str, Any]:
    """Start ``count`` nodes, run every tool ``repeat`` times, interleaved."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gridflow-bench-fleet-") as tmp:
        fleet = Fleet(Path(tmp), count, strategy)
        try:
            log(f"starting {count} sshd nodes on 127.0.0.{FIRST_ADDRESS}..")
            fleet.start()
            tools = [fleet.run_gridflow, fleet.run_playbook]
            if adhoc:
                tools.append(fleet.run_adhoc)
            runs: list[Run] = []
            for i in range(repeat):
                # The first tool alternates: neither always runs right after the other.
                for tool in tools if i % 2 == 0 else tools[::-1]:
                    load = os.getloadavg()[0]
                    cpu_before = children_cpu_s(), fleet.node_cpu_s()
                    run = tool()
                    run.load_1m = load
                    # After the tool returned: Ansible's SSH masters are closed by
                    # then, so the nodes have reaped its connections.
                    run.controller_cpu_s = children_cpu_s() - cpu_before[0]
                    run.node_cpu_s = fleet.node_cpu_s() - cpu_before[1]
                    log(
                        f"[{count} nodes, {i + 1}/{repeat}] {run.tool}: {run.wall_s:.2f} s"
                        + ("" if run.ok else " (failed)")
                    )
                    runs.append(run)
        finally:
            fleet.stop()
    return {
        "nodes": count,
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "runs": [dataclasses.asdict(r) for r in runs],
        "rows": summarize(runs),
    }


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for tool in dict.fromkeys(r.tool for r in runs):
        mine = [r for r in runs if r.tool == tool]
        good = [r for r in mine if r.ok]
        walls = sorted(r.wall_s for r in good)
        owns = sorted(r.own_s for r in good if r.own_s is not None)

        def median(values: list[float | None]) -> float | None:
            known = [v for v in values if v is not None]
            return statistics.median(known) if known else None

        rows.append(
            {
                "tool": tool,
                "runs": len(mine),
                "failed": len(mine) - len(good),
                "wall_best_s": walls[0] if walls else None,
                "wall_median_s": statistics.median(walls) if walls else None,
                "own_median_s": statistics.median(owns) if owns else None,
                "controller_cpu_median_s": median([r.controller_cpu_s for r in good]),
                "node_cpu_median_s": median([r.node_cpu_s for r in good]),
                "load_1m_median": median([r.load_1m for r in mine]),
                "calls_per_node": good[0].calls_per_node if good else None,
                "note": next((r.note for r in mine if not r.ok), ""),
            }
        )
    return rows


def ratios(block: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {r["tool"]: r for r in block["rows"]}
    ours = rows.get("gridflow run")
    out = []
    for tool, ref in rows.items():
        if not tool.startswith("ansible"):
            continue
        value = best = None
        if ours and ours["wall_median_s"] and ref["wall_median_s"]:
            value = ours["wall_median_s"] / ref["wall_median_s"]
            best = ours["wall_best_s"] / ref["wall_best_s"]
        out.append(
            {
                "nodes": block["nodes"],
                "ratio": f"gridflow / {tool}",
                "value": value,
                "best_over_best": best,
                "goal": GOAL,
                "met": None if value is None else value <= GOAL,
            }
        )
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(doc: dict[str, Any]) -> None:
    print(f"\n{doc['date']}, {doc['machine']}")
    print(
        f"{doc['repeat']} interleaved runs per tool; Ansible {doc['ansible_version']}, "
        f"play strategy {doc['ansible_strategy']}, forks = nodes, pipelining, ControlPersist"
    )
    for block in doc["blocks"]:
        loads = [r["load_1m"] for r in block["runs"] if r["load_1m"] is not None]
        before = block["load_average_1m"]["before"]
        print(
            f"\n{block['nodes']} nodes: load average (1 min) {before:.2f} before the nodes "
            f"started, {min(loads):.2f} to {max(loads):.2f} as runs started"
        )
        print_table(
            [
                "tool",
                "runs",
                "wall best s",
                "wall median s",
                "own median s",
                "CPU here s",
                "CPU nodes s",
                "calls/node",
                "note",
            ],
            [
                [
                    r["tool"],
                    f"{r['runs']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                    fmt(r["wall_best_s"], ".2f"),
                    fmt(r["wall_median_s"], ".2f"),
                    fmt(r["own_median_s"], ".2f"),
                    fmt(r["controller_cpu_median_s"], ".1f"),
                    fmt(r["node_cpu_median_s"], ".1f"),
                    fmt(r["calls_per_node"], "d"),
                    r["note"],
                ]
                for r in block["rows"]
            ],
        )
    print()
    print_table(
        ["ratio (wall time, medians)", "nodes", "measured", "best/best", "goal", ""],
        [
            [
                r["ratio"],
                str(r["nodes"]),
                fmt(r["value"], ".2f"),
                fmt(r["best_over_best"], ".2f"),
                f"<= {r['goal']:g}",
                {None: "n/a", True: "ok", False: "MISSED"}[r["met"]],
            ]
            for r in doc["ratios"]
        ],
    )


def ansible_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ansible-core")
    except PackageNotFoundError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", default="3,30", help="node counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and node count")
    parser.add_argument(
        "--ansible-strategy",
        choices=("linear", "free"),
        default="linear",
        help="linear: one play; free: the pipeline phase as a play of its own under free",
    )
    parser.add_argument("--adhoc", action="store_true", help="also time Ansible's ad-hoc form")
    parser.add_argument("--quick", action="store_true", help="3 nodes, one run each")
    parser.add_argument("--json", action="store_true", help="print one JSON document, no table")
    args = parser.parse_args()
    try:
        counts = [3] if args.quick else [int(n) for n in args.nodes.split(",")]
    except ValueError:
        parser.error(f"--nodes takes counts separated by commas, not {args.nodes!r}")
    repeat = 1 if args.quick else args.repeat
    if repeat < 1 or any(not 1 <= n <= 150 for n in counts):
        parser.error("--repeat must be at least 1, and each node count between 1 and 150")

    ensure_bench_extra("ansible")
    blocks = [measure(n, repeat, args.ansible_strategy, args.adhoc) for n in counts]
    doc = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "ansible_version": ansible_version(),
        "ansible_strategy": args.ansible_strategy,
        "repeat": repeat,
        "goal": f"gridflow wall time <= {GOAL} x Ansible's",
        "blocks": blocks,
        "ratios": [r for block in blocks for r in ratios(block)],
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_report(doc)
    # A missed goal is a result; a failed run (or tools that did different
    # things) means the numbers are not comparable.
    return 0 if all(row["failed"] == 0 for b in blocks for row in b["rows"]) else 1


def _on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through Fleet.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted; nodes stopped")
        raise SystemExit(130) from None
