"""``gridflow validate`` on job files: exit codes, messages, inventory and target.

In-process through typer's CliRunner like test_cli.py, plus one real
subprocess to see what a user's shell sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflow.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples" / "jobs"

JOB = """\
name: deploy
target: { scope: group, value: web }
tasks:
  - tasks:
      - { backend: apt, action: install, params: { package: nginx } }
      - { backend: systemd, action: start, params: { unit: nginx } }
  - backend: ping
    action: hostname
    checks: { post: [ { backend: systemd, action: status, params: { unit: nginx } } ] }
"""

INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
  - { id: db-01, groups: [db], connection: local }
"""


def files(tmp_path: Path, **texts: str) -> dict[str, str]:
    out = {}
    for name, text in texts.items():
        path = tmp_path / name.replace("_", ".")
        path.write_text(text, encoding="utf-8")
        out[name] = str(path)
    return out


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environ = {"GRIDFLOW_INVENTORY": ""} | (env or {})
    result = CliRunner().invoke(app, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_valid_job_without_inventory(tmp_path: Path) -> None:
    paths = files(tmp_path, job_yaml=JOB)
    code, out, err = invoke("validate", paths["job_yaml"])
    assert (code, out) == (0, "")
    assert err == (
        "ok: deploy: 2 phases, 3 tasks, 1 check, "
        "target group:web (no inventory given: nodes not resolved)\n"
    )


@pytest.mark.parametrize(
    ("args", "env", "summary"),
    [
        (["--inventory", "{inv}"], {}, "3 tasks, 1 check, 2 nodes (group:web)"),
        (["-i", "{inv}", "-t", "all"], {}, "3 tasks, 1 check, 3 nodes (all)"),
        (["-t", "node:db-01"], {"GRIDFLOW_INVENTORY": "{inv}"}, "1 node (node:db-01)"),
    ],
    ids=["flag", "target-override", "inventory-from-env"],
)
def test_valid_job_with_inventory(
    tmp_path: Path, args: list[str], env: dict[str, str], summary: str
) -> None:
    paths = files(tmp_path, job_yaml=JOB, inv_yaml=INVENTORY)
    args = [a.format(inv=paths["inv_yaml"]) for a in args]
    env = {k: v.format(inv=paths["inv_yaml"]) for k, v in env.items()}
    code, _, err = invoke("validate", paths["job_yaml"], *args, env=env)
    assert code == 0, err
    assert err.startswith("ok: deploy: 2 phases, ")
    assert err.endswith(summary + "\n")


def test_problems_in_job_and_inventory_are_reported_together(tmp_path: Path) -> None:
    paths = files(
        tmp_path,
        job_yaml=JOB.replace("action: start", "action: strat"),
        inv_yaml=INVENTORY.replace("id: db-01", "id: web-01"),
    )
    code, out, err = invoke("validate", paths["job_yaml"], "-i", paths["inv_yaml"])
    assert (code, out) == (2, "")
    shown = err.replace(str(tmp_path) + "/", "")
    assert shown == (
        'inv.yaml:4:11: error: node "web-01" is listed twice (first at line 2) [duplicate-node]\n'
        "  hint: give every node its own id\n"
        'job.yaml:6:37: error: unknown action "strat" for backend "systemd" [unknown-action]\n'
        '  hint: did you mean "start"?\n'
        "2 errors found.\n"
    )


def test_unknown_group_is_refused_at_the_target_line(tmp_path: Path) -> None:
    paths = files(tmp_path, job_yaml=JOB.replace("value: web", "value: wbe"), inv_yaml=INVENTORY)
    code, _, err = invoke("validate", paths["job_yaml"], "-i", paths["inv_yaml"])
    assert code == 2
    assert err.replace(str(tmp_path) + "/", "") == (
        'job.yaml:2:9: error: target group:wbe: no node of inv.yaml is in group "wbe" '
        "[no-such-target]\n"
        '  hint: did you mean "web"?\n'
        "1 error found.\n"
    )


def test_every_job_file_is_checked(tmp_path: Path) -> None:
    paths = files(
        tmp_path,
        a_yaml=JOB,
        b_yml="target: all\ntasks: [ { backend: pign, action: hostname } ]\n",
        c_json='{"target": "all", "tasks": [{"backend": "ping", "action": "hostname"}]}',
    )
    code, _, err = invoke("validate", paths["a_yaml"], paths["b_yml"], paths["c_json"])
    assert code == 2
    assert err.replace(str(tmp_path) + "/", "") == (
        'b.yml:2:21: error: unknown backend "pign" [unknown-backend]\n'
        '  hint: did you mean "ping"?\n'
        "1 error found.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{job}", "-t", "group"], 'error: "group" is not a target: write "all", '),
        (["{job}", "{grid}"], "error: validate grids (.hcl) and jobs (.yaml) in separate commands"),
        (["{job}", "-var", "a=1"], "error: -var, -var-file and --profile set grid variables"),
        (["{grid}", "-i", "{job}"], "error: --inventory and --target go with job files (.yaml)"),
    ],
    ids=["bad-target", "mixed", "var-on-job", "inventory-on-grid"],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    paths = files(
        tmp_path, job_yaml=JOB, main_hcl='step "print" "a" {\n  arguments { input = 1 }\n}\n'
    )
    args = [a.format(job=paths["job_yaml"], grid=paths["main_hcl"]) for a in args]
    code, out, err = invoke("validate", *args)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_examples_validate_with_the_example_inventory() -> None:
    # As a shell expands `gridflow validate dags_examples/jobs/*.yaml -i
    # dags_examples/jobs/inventory.yaml`: the inventory is among the files.
    inventory = str(EXAMPLES / "inventory.yaml")
    code, _, err = invoke("validate", *sorted(map(str, EXAMPLES.glob("*.yaml"))), "-i", inventory)
    assert code == 0, err
    oks = [line for line in err.splitlines() if line.startswith("ok: ")]
    assert oks == [
        f"ok: {inventory}: the inventory, 5 nodes in groups db, local, prod, web",
        "ok: checks: 1 phase, 1 task, 6 checks, 3 nodes (group:web)",
        "ok: continue-with-budget: 4 phases, 4 tasks, 3 nodes (group:web)",
        "ok: pipeline-and-barrier: 3 phases, 5 tasks, 5 nodes (all)",
        "ok: rolling-nginx-deploy: 2 phases, 5 tasks, 2 checks, 3 nodes (group:web)",
    ]
    # The example's key files live on the machine that connects: only warnings here.
    warnings = [line for line in err.splitlines() if ": warning: " in line]
    assert all("[file-not-found]" in w for w in warnings)


def test_the_inventory_alone_is_checked_as_an_inventory(tmp_path: Path) -> None:
    paths = files(
        tmp_path, inv_yaml=INVENTORY.replace("db-01, groups: [db]", "web-01, groups: [db]")
    )
    code, _, err = invoke("validate", paths["inv_yaml"], "-i", paths["inv_yaml"])
    assert code == 2
    assert err.replace(str(tmp_path) + "/", "") == (
        'inv.yaml:4:11: error: node "web-01" is listed twice (first at line 2) [duplicate-node]\n'
        "  hint: give every node its own id\n"
        "1 error found.\n"
    )
    fine = files(tmp_path, inv_yaml=INVENTORY)
    code, _, err = invoke("validate", fine["inv_yaml"], "-i", fine["inv_yaml"])
    assert (code, err) == (0, f"ok: {fine['inv_yaml']}: the inventory, 3 nodes in groups db, web\n")


def test_a_real_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    paths = files(tmp_path, job_yaml="target: all\ntasks:\n  - backend: apt\n   action: update\n")
    env = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_INVENTORY"}
    proc = subprocess.run(
        [sys.executable, "-m", "gridflow", "validate", paths["job_yaml"]],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.endswith(
        "job.yaml:4:4: error: YAML syntax error: this line does not fit the block above it "
        "(it starts at line 3) [syntax]\n"
        "  hint: indent it like the other entries of that block, and put ':' after each key\n"
        "1 error found.\n"
    )
