"""bench/fleet.py compares like with like: Ansible is given the commands gridflow sends.

The benchmark's Ansible playbook and ad-hoc steps are written by hand; these
tests hold them to what ``gridflow run --check`` says the job sends each
node, so a change to a backend's commands cannot silently make the
benchmark compare different work. The benchmark itself also checks, on the
nodes, that both tools left the same stand-in calls.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from gridflow.cli import app

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def fleet() -> ModuleType:
    # bench/fleet.py imports its sibling _support as a top-level module.
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_fleet", BENCH / "fleet.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def ansible_line(task: dict[str, Any]) -> str:
    """An Ansible task's command as gridflow's dry run writes one (``K=V argv``)."""
    env = [f"{k}={v}" for k, v in task.get("environment", {}).items()]
    return shlex.join([*env, *task["ansible.builtin.command"]["argv"]])


def gridflow_commands(fleet: ModuleType, tmp_path: Path) -> list[tuple[str, list[str]]]:
    """(phase kind, command lines of node n1) per phase, from ``gridflow run --check``."""
    (tmp_path / "job.yaml").write_text(fleet.JOB)
    (tmp_path / "inventory.yaml").write_text("nodes:\n  - { id: n1, connection: local }\n")
    result = CliRunner().invoke(
        app,
        [
            *("run", str(tmp_path / "job.yaml"), "-i", str(tmp_path / "inventory.yaml")),
            *("--check", "-o", "json"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    phases = json.loads(result.stdout)["phases"]
    return [
        (
            phase["kind"],
            # A probe is shown with a "  # check: why" comment after it.
            [
                line.split("  # check:")[0]
                for task in phase["tasks"]
                for line in task["commands"]["n1"]
            ],
        )
        for phase in phases
    ]


def test_ansible_tasks_are_the_commands_gridflow_sends(fleet: ModuleType, tmp_path: Path) -> None:
    ours = gridflow_commands(fleet, tmp_path)
    assert [kind for kind, _ in ours] == ["barrier", "pipeline", "barrier", "barrier", "barrier"]
    theirs = [ansible_line(t) for _, tasks in fleet.ANSIBLE_PHASES for t in tasks]
    assert theirs == [line for _, lines in ours for line in lines]
    # The phase Ansible may run under strategy free is gridflow's pipeline.
    pipeline = next(tasks for kind, tasks in fleet.ANSIBLE_PHASES if kind == "pipeline")
    assert [ansible_line(t) for t in pipeline] == ours[1][1]


@pytest.mark.parametrize(
    ("strategy", "plays"),
    [("linear", [("linear", 7)]), ("free", [("linear", 1), ("free", 3), ("linear", 3)])],
    ids=["linear-one-play", "free-pipeline-play"],
)
def test_playbook_plays(fleet: ModuleType, strategy: str, plays: list[tuple[str, int]]) -> None:
    book = fleet.playbook(strategy)
    assert [(p["strategy"], len(p["tasks"])) for p in book] == plays
    assert all(p["hosts"] == "all" and p["gather_facts"] is False for p in book)


def test_adhoc_steps_run_the_same_commands(fleet: ModuleType) -> None:
    steps = fleet.adhoc_steps()
    tasks = [t for _, ts in fleet.ANSIBLE_PHASES for t in ts]
    assert len(steps) == len(tasks)
    for (module, args), task in zip(steps, tasks, strict=True):
        words = shlex.split(args.removesuffix(" || test $? -eq 1"))
        env = [f"{k}={v}" for k, v in task.get("environment", {}).items()]
        assert words == (["env", *env] if env else []) + task["ansible.builtin.command"]["argv"]
        expected = "ansible.builtin.shell" if "register" in task else "ansible.builtin.command"
        assert module == expected


def test_dpkg_query_standin_records_and_says_not_installed(
    fleet: ModuleType, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    standin = bin_dir / "dpkg-query"
    standin.write_text(
        fleet.DPKG_QUERY_STANDIN.format(python=sys.executable, node="n1", calls=str(calls))
    )
    standin.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    argv = ["dpkg-query", "-W", "-f", fleet.STATUS_FORMAT, "nginx"]
    alone = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert alone.returncode == 1
    assert alone.stderr == "dpkg-query: no packages found matching nginx\n"
    # The ad-hoc probe line accepts exactly that "not installed".
    module, line = fleet.adhoc_steps()[1]
    assert module == "ansible.builtin.shell"
    through_shell = subprocess.run(["/bin/sh", "-c", line], env=env, timeout=30)
    assert through_shell.returncode == 0
    records = [json.loads(x) for x in calls.read_text().splitlines()]
    assert [r["argv"] for r in records] == [argv, argv]
    assert {r["cmd"] for r in records} == {"dpkg-query"}
