"""``gridflow run`` for jobs: a job file, the shorthand, ``--check``, exit codes.

In-process through typer's CliRunner (stdout and stderr apart), plus one real
subprocess to see what a user's shell sees. Nodes are ``connection: local``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflow.cli import app

pytestmark = pytest.mark.timeout(60)

INVENTORY = """\
nodes:
  - { id: web-01, groups: [web], connection: local }
  - { id: web-02, groups: [web], connection: local }
  - { id: db-01, groups: [db], connection: local }
"""

JOB = """\
name: deploy
target: { scope: group, value: web }
tasks:
  - tasks:
      - { backend: ping, action: echo, params: { message: hello } }
      - { backend: cmd, action: run, params: { shell: "touch {dir}/ran-$$" } }
  - backend: test
    action: succeed
    params: { message: done }
"""

FAILING = """\
target: all
tasks:
  - { backend: test, action: fail, params: { message: no luck }, concurrency: 1 }
  - { condition: on_failure, backend: ping, action: echo, params: { message: undo } }
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environ = {"GRIDFLOW_INVENTORY": ""} | (env or {})
    result = CliRunner().invoke(app, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    (tmp_path / "job.yaml").write_text(JOB.replace("{dir}", str(tmp_path)))
    (tmp_path / "failing.yml").write_text(FAILING)
    return {
        "inv": str(tmp_path / "inv.yaml"),
        "job": str(tmp_path / "job.yaml"),
        "failing": str(tmp_path / "failing.yml"),
        "dir": str(tmp_path),
    }


def test_run_a_job_file_as_json(files: dict[str, str]) -> None:
    code, out, err = invoke("run", files["job"], "-i", files["inv"], "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["name"], doc["status"], doc["expected"]) == (
        "deploy",
        "success",
        ["web-01", "web-02"],
    )
    assert list(doc["results"]) == ["0.0", "0.1", "1"]
    assert {n: e["output"] for n, e in doc["results"]["0.0"].items()} == {
        "web-01": "hello",
        "web-02": "hello",
    }
    assert len(list(Path(files["dir"]).glob("ran-*"))) == 2
    # progress: one line per event on stderr, none on stdout
    lines = err.splitlines()
    assert lines[1].endswith("phase 0 (pipeline of 2 tasks) on 2 nodes")
    assert sum("0.0 ping echo on web-0" in line and line.endswith("started") for line in lines) == 2
    assert sum("0.1 cmd run on web-0" in line and ": success in " in line for line in lines) == 2
    assert lines[-1].split("s  ", 1)[1].startswith("job deploy: success in ")


def test_a_failed_job_exits_1_with_its_document(files: dict[str, str]) -> None:
    code, out, err = invoke("run", files["failing"], "-i", files["inv"], "-o", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "failed"
    assert {n: e["status"] for n, e in doc["results"]["0"].items()} == {
        "web-01": "failed",
        "web-02": "cancelled",
        "db-01": "cancelled",
    }
    assert doc["results"]["0"]["web-01"]["error"] == "no luck"
    assert {e["status"] for e in doc["results"]["1"].values()} == {"success"}
    assert "0 test fail on web-01: failed in " in err


def test_text_output_summarises(files: dict[str, str]) -> None:
    code, out, _ = invoke("run", files["failing"], "-i", files["inv"])
    assert code == 1
    assert "job failing (" in out
    assert "): failed" in out
    assert "0 on web-01: failed: no luck" in out
    assert out.endswith(
        "error: phase 0: 1 of 3 nodes failed (web-01) and strategy fail-fast tolerates none; "
        "web-01: 0 test fail failed: no luck\n"
    )


def test_target_override_and_inventory_from_the_environment(files: dict[str, str]) -> None:
    code, out, err = invoke(
        "run",
        files["job"],
        "-t",
        "node:db-01",
        "-o",
        "json",
        env={"GRIDFLOW_INVENTORY": files["inv"]},
    )
    assert code == 0, err
    assert json.loads(out)["expected"] == ["db-01"]


def test_check_prints_what_each_node_would_run_and_runs_nothing(files: dict[str, str]) -> None:
    code, out, err = invoke("run", files["job"], "-i", files["inv"], "--check")
    assert (code, err) == (0, "")
    d = files["dir"]
    assert out == (
        "dry run of job deploy on 2 nodes (group:web), strategy fail-fast: nothing was run\n"
        "phase 0: pipeline\n"
        "  0.0 ping echo message=hello\n"
        "    web-01  printf %s hello\n"
        "    web-02  printf %s hello\n"
        f"  0.1 cmd run shell=touch {d}/ran-$$\n"
        f"    web-01  /bin/sh -c 'touch {d}/ran-$$'\n"
        f"    web-02  /bin/sh -c 'touch {d}/ran-$$'\n"
        "phase 1: barrier\n"
        "  1 test succeed message=done\n"
        "    web-01  printf %s done\n"
        "    web-02  printf %s done\n"
    )
    assert list(Path(d).glob("ran-*")) == []


def test_check_as_json(files: dict[str, str]) -> None:
    code, out, _ = invoke("run", files["failing"], "-i", files["inv"], "--check", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["dry_run"] is True
    assert doc["expected"] == ["web-01", "web-02", "db-01"]
    [undo] = doc["phases"][1]["tasks"]
    assert doc["phases"][1]["condition"] == "on_failure"
    assert undo["commands"] == {n: ["printf %s undo"] for n in ("web-01", "web-02", "db-01")}


def test_check_shows_probes_and_needs_no_secrets(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "nodes:\n"
        "  - { id: web-01, groups: [web], connection: local }\n"
        "  - id: web-02\n"
        "    groups: [web]\n"
        "    connection: { type: ssh, host: 127.0.0.3, user: ops, password_env: GF_NOT_SET }\n"
    )
    args = ["run", "-t", "group:web", "apt", "install", "package=nginx", "-i", str(inventory)]
    code, out, err = invoke(*args, "--check")
    assert (code, err) == (0, "")
    assert out == (
        "dry run of job apt-install on 2 nodes (group:web), strategy fail-fast: nothing was run\n"
        "phase 0: barrier\n"
        "  0 apt install package=nginx\n"
        "    web-01  dpkg-query -W -f '${Status}\\t${Version}\\n' nginx  "
        "# check: run apt-get only when nginx is not installed\n"
        "            DEBIAN_FRONTEND=noninteractive apt-get install -y nginx\n"
        "    web-02  dpkg-query -W -f '${Status}\\t${Version}\\n' nginx  "
        "# check: run apt-get only when nginx is not installed\n"
        "            DEBIAN_FRONTEND=noninteractive apt-get install -y nginx\n"
    )
    # a real run reads the secret, and says what is missing
    code, out, err = invoke(*args)
    assert (code, out) == (2, "")
    assert "GF_NOT_SET" in err
    assert "error:" in err


def test_shorthand_runs_a_one_task_job(files: dict[str, str]) -> None:
    code, out, err = invoke(
        "run",
        "-t",
        "group:web",
        "ping",
        "echo",
        "message=hi there",
        "-i",
        files["inv"],
        "-o",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["name"], doc["expected"]) == ("ping-echo", ["web-01", "web-02"])
    assert {n: e["output"] for n, e in doc["results"]["0"].items()} == {
        "web-01": "hi there",
        "web-02": "hi there",
    }


def test_shorthand_json_values(files: dict[str, str]) -> None:
    code, out, err = invoke(
        "run", "-t", "node:db-01", "cmd", "run", 'argv=["printf", "%s-%s", "a b", "c"]',
        "-i", files["inv"], "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["results"]["0"]["db-01"]["output"] == "a b-c"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-t", "all", "atp", "install", "package=nginx"],
            'error: unknown backend "atp"; backends: apt, cmd, ping, rke2, systemd, test '
            '(did you mean "apt"?)\n',
        ),
        (
            ["-t", "all", "apt", "instal", "package=nginx"],
            'error: apt has no action "instal"; its actions: install, remove, update, upgrade '
            '(did you mean "install"?)\n',
        ),
        (
            ["-t", "all", "apt", "install"],
            'error: apt install needs "package"\n',
        ),
        (
            ["-t", "all", "apt", "install", "pakage=nginx"],
            'error: apt install takes no parameter "pakage" (it takes: package); '
            'did you mean "package"?; apt install needs "package"\n',
        ),
        (
            ["-t", "all", "apt", "install", "package=ng inx"],
            'error: apt install: "package": String should match pattern '
            "'^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$'\n",
        ),
        (
            ["-t", "all", "apt", "install", "nginx"],
            'error: "nginx" is not a parameter: write NAME=VALUE, e.g. package=nginx\n',
        ),
        (
            ["-t", "all", "ping", "echo", "message=a", "message=b"],
            'error: the parameter "message" is given twice\n',
        ),
        (
            ["apt", "install", "package=nginx"],
            "error: the shorthand needs a target (-t all | group:NAME | node:ID): "
            "BACKEND ACTION [NAME=VALUE ...], e.g. gridflow run -t group:web apt install "
            "package=nginx\n",
        ),
        (
            ["-t", "group:wbe", "ping", "hostname"],
            'error: target group:wbe: no node of {inv} is in group "wbe" (did you mean "web"?)\n',
        ),
        (
            ["-t", "all", "ping"],
            "error: the shorthand needs a backend and an action: BACKEND ACTION [NAME=VALUE ...], "
            "e.g. gridflow run -t group:web apt install package=nginx\n",
        ),
    ],
    ids=[
        "unknown-backend",
        "unknown-action",
        "missing-param",
        "misspelt-param",
        "bad-value",
        "not-a-pair",
        "twice",
        "no-target",
        "no-such-group",
        "no-action",
    ],
)
def test_shorthand_bad_input_exits_2(files: dict[str, str], args: list[str], message: str) -> None:
    code, out, err = invoke("run", *args, "-i", files["inv"])
    assert (code, out) == (2, "")
    assert err == message.format(inv=files["inv"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--engine", "airflow"],
            'error: --engine airflow needs Apache Airflow: pip install "gridflow[airflow]" '
            "(in its own environment: docs/decisions/0002-airflow-environment.md)\n",
        ),
        (
            ["-var", "x=1"],
            "error: -var, -var-file and --profile set grid variables; jobs have none\n",
        ),
    ],
    ids=["airflow", "var"],
)
def test_job_usage_errors(files: dict[str, str], args: list[str], message: str) -> None:
    code, out, err = invoke("run", files["job"], "-i", files["inv"], *args)
    assert (code, out, err) == (2, "", message)


def test_no_inventory_exits_2(files: dict[str, str]) -> None:
    code, _, err = invoke("run", files["job"])
    assert code == 2
    assert err == (
        "error: no inventory: pass --inventory FILE or set GRIDFLOW_INVENTORY to an inventory "
        "file (docs/jobs.md#inventory)\n"
    )


def test_two_job_files_exit_2(files: dict[str, str]) -> None:
    code, _, err = invoke("run", files["job"], files["failing"], "-i", files["inv"])
    assert code == 2
    assert (
        err
        == "error: run one job file at a time; grids (.hcl files or directories) run separately\n"
    )


def test_job_options_with_a_grid_exit_2(tmp_path: Path) -> None:
    grid = tmp_path / "g.hcl"
    grid.write_text('step "print" "hello" {\n  arguments {\n    input = "hi"\n  }\n}\n')
    code, _, err = invoke("run", str(grid), "--check")
    assert code == 2
    assert err == (
        "error: --inventory, --target and --check go with a job file (.yaml) or the "
        "BACKEND ACTION shorthand\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "target: all\ntasks:\n  - backend: apt\n    action: install\n",
            'job.yaml:3:5: error: action "apt.install" needs the parameter "package" '
            "[missing-param]\n  hint: add it under params, e.g. params: { package: ... }\n"
            "1 error found.\n",
        ),
        (
            "target: all\ntasks:\n  - { backend: test, action: succeed, timeout: 30 seconds }\n",
            'job.yaml:3:48: error: timeout: invalid duration "30 seconds": use seconds as a '
            'number or a string such as "500ms", "2s" or "1m30s" [bad-duration]\n'
            "1 error found.\n",
        ),
        (
            "target: { scope: group, value: wbe }\n"
            "tasks:\n  - { backend: test, action: succeed }\n",
            'job.yaml:1:9: error: target group:wbe: no node of inv.yaml is in group "wbe" '
            '[no-such-target]\n  hint: did you mean "web"?\n1 error found.\n',
        ),
        (
            'target: all\ntasks:\n  - { backend: cmd, action: run, params: { argv: ["a\\0b"] } }\n',
            "job.yaml:3:5: error: cmd run: a parameter contains a NUL character, which no "
            "command can receive [bad-param]\n1 error found.\n",
        ),
    ],
    ids=["missing-param", "bad-duration", "no-such-group", "nul-byte"],
)
def test_bad_job_files_exit_2_with_file_and_line(
    tmp_path: Path, files: dict[str, str], text: str, expected: str
) -> None:
    (tmp_path / "job.yaml").write_text(text)
    for extra in ([], ["--check"]):
        code, out, err = invoke("run", str(tmp_path / "job.yaml"), "-i", files["inv"], *extra)
        assert (code, out) == (2, ""), extra
        assert err.replace(str(tmp_path) + "/", "") == expected


def test_a_real_process_keeps_stdout_for_the_document(files: dict[str, str]) -> None:
    env = {**os.environ, "GRIDFLOW_INVENTORY": files["inv"]}
    proc = subprocess.run(
        [sys.executable, "-m", "gridflow", "run", files["failing"], "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["status"] == "failed"
    assert "Traceback" not in proc.stderr
    assert "job failing: failed in " in proc.stderr
