"""``gridflow run`` on real sshd nodes: what each node received, over SSH.

The nodes are real OpenSSH servers on 127.0.0.2.. (tests/support/sshd.py)
with recording stand-ins for apt-get, dpkg-query and systemctl, so every
test asserts the exact argv each node ran, in order. Runs go through the
CLI in-process (typer's CliRunner: stdout holds the JSON document, stderr
the progress). Tests that kill a node or change its host key start their
own ``SshNodes`` (never the shared ``ssh_nodes``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from typer.testing import CliRunner

from gridflow.cli import app
from tests.support.sshd import SshNodes, keygen

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PROBE = ["dpkg-query", "-W", "-f", "${Status}\\t${Version}\\n", "nginx"]
INSTALL = ["apt-get", "install", "-y", "nginx"]
REMOVE = ["apt-get", "remove", "-y", "nginx"]
IS_ACTIVE = ["systemctl", "is-active", "nginx"]
START = ["systemctl", "start", "nginx"]
WEB = {"node1": ["web"], "node2": ["web"], "node3": ["web"]}

ROLLING = """\
name: rolling-nginx
target: group:web
tasks:
  - name: install and start nginx
    concurrency: 1
    tasks:
      - { backend: apt, action: install, params: { package: nginx } }
      - { backend: systemd, action: start, params: { unit: nginx } }
  - name: rollback
    condition: on_failure
    tasks:
      - { backend: apt, action: remove, params: { package: nginx } }
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environ = {"GRIDFLOW_INVENTORY": ""} | (env or {})
    result = CliRunner().invoke(app, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke("run", *args, "-o", "json", env=env)
    assert out.startswith("{"), err
    return code, json.loads(out), err


def write(tmp_path: Path, name: str, doc: str | dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def statuses(doc: dict[str, Any], key: str) -> dict[str, str]:
    return {node: entry["status"] for node, entry in doc["results"][key].items()}


@pytest.fixture
def fresh(ssh_nodes: SshNodes) -> Iterator[SshNodes]:
    """The shared nodes with no calls, queued behaviours or packages, before and after."""
    ssh_nodes.clear_calls()
    yield ssh_nodes
    ssh_nodes.clear_calls()


# ------------------------------------------------------------ rolling deploy


def test_rolling_nginx_deploy_one_node_at_a_time(tmp_path: Path, fresh: SshNodes) -> None:
    inventory = write(tmp_path, "inventory.yaml", fresh.inventory(WEB))
    code, doc, err = run_json(write(tmp_path, "deploy.yaml", ROLLING), "-i", inventory)
    assert code == 0, err
    assert doc["status"] == "success"
    assert statuses(doc, "0.0") == dict.fromkeys(fresh.ids, "success")
    assert statuses(doc, "1.0") == dict.fromkeys(fresh.ids, "skipped")
    for node in fresh.ids:
        assert fresh.argvs(node) == [PROBE, INSTALL, IS_ACTIVE, START], node
        [apt] = fresh.calls(node, "apt-get")
        assert apt["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        assert apt["uid"] == 0
        assert fresh.installed(node) == {"nginx": "1.0-standin"}
        assert doc["results"]["0.0"][node]["changed"] is True
    # concurrency 1: a node starts only once the one before it has finished
    for before, after in (("node1", "node2"), ("node2", "node3")):
        last = max(c["time"] for c in fresh.calls(before))
        first = min(c["time"] for c in fresh.calls(after))
        assert last < first, (before, after)


def test_on_failure_rollback_when_node2_cannot_install(tmp_path: Path, fresh: SshNodes) -> None:
    fresh.fail_next("node2", "apt-get", 100, "E: Unable to locate package nginx\n")
    inventory = write(tmp_path, "inventory.yaml", fresh.inventory(WEB))
    code, doc, err = run_json(write(tmp_path, "deploy.yaml", ROLLING), "-i", inventory)
    assert code == 1, err
    assert doc["status"] == "failed"
    assert statuses(doc, "0.0") == {"node1": "success", "node2": "failed", "node3": "cancelled"}
    assert statuses(doc, "0.1") == {"node1": "success", "node2": "skipped", "node3": "cancelled"}
    assert statuses(doc, "1.0") == dict.fromkeys(fresh.ids, "success")
    assert doc["results"]["0.0"]["node2"]["error"] == (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx exited with 100: "
        "E: Unable to locate package nginx"
    )
    # node1 installed and started, then was rolled back; node2 tried and
    # failed, so its rollback found nothing to remove; node3 never started.
    assert fresh.argvs("node1") == [PROBE, INSTALL, IS_ACTIVE, START, PROBE, REMOVE]
    assert fresh.argvs("node2") == [PROBE, INSTALL, PROBE]
    assert fresh.argvs("node3") == [PROBE]
    assert [doc["results"]["1.0"][n]["changed"] for n in fresh.ids] == [True, False, False]
    assert all(fresh.installed(n) == {} for n in fresh.ids)


def test_check_over_ssh_contacts_no_node(tmp_path: Path, fresh: SshNodes) -> None:
    logins = {n: fresh.connections(n) for n in fresh.ids}
    inventory = write(tmp_path, "inventory.yaml", fresh.inventory(WEB))
    code, out, err = invoke(
        "run", write(tmp_path, "deploy.yaml", ROLLING), "-i", inventory, "--check"
    )
    assert code == 0, err
    probe = "dpkg-query -W -f '${Status}\\t${Version}\\n' nginx  # check: run apt-get only when"

    def each(first: str, then: str) -> str:
        return "".join(f"    {n}  {first}\n           {then}\n" for n in fresh.ids)

    assert out == (
        "dry run of job rolling-nginx on 3 nodes (group:web), strategy fail-fast: nothing was run\n"
        "phase 0: pipeline 'install and start nginx' (concurrency 1)\n"
        "  0.0 apt install package=nginx\n"
        + each(
            f"{probe} nginx is not installed", "DEBIAN_FRONTEND=noninteractive " + " ".join(INSTALL)
        )
        + "  0.1 systemd start unit=nginx\n"
        + each(
            "systemctl is-active nginx  # check: report changed unless nginx is already active",
            "systemctl start nginx",
        )
        + "phase 1: pipeline 'rollback' (condition on_failure)\n"
        "  1.0 apt remove package=nginx\n"
        + each(f"{probe} nginx is installed", "DEBIAN_FRONTEND=noninteractive " + " ".join(REMOVE))
    )
    assert all(fresh.calls(n) == [] for n in fresh.ids)
    assert {n: fresh.connections(n) for n in fresh.ids} == logins  # not even a login


def test_shorthand_installs_on_the_target_group_only(tmp_path: Path, fresh: SshNodes) -> None:
    groups = {"node1": ["web"], "node2": ["web"], "node3": ["db"]}
    inventory = write(tmp_path, "inventory.yaml", fresh.inventory(groups))
    code, doc, err = run_json("-i", inventory, "-t", "group:web", "apt", "install", "package=nginx")
    assert code == 0, err
    assert doc["expected"] == ["node1", "node2"]
    assert statuses(doc, "0") == {"node1": "success", "node2": "success"}
    assert fresh.argvs("node1") == [PROBE, INSTALL]
    assert fresh.argvs("node2") == [PROBE, INSTALL]
    assert fresh.argvs("node3") == []


# ------------------------------------------------------------ broken nodes


@pytest.fixture
def own_nodes(tmp_path: Path) -> Iterator[SshNodes]:
    """Three sshd nodes of this test alone (127.0.0.6..8), to kill or re-key."""
    with SshNodes(tmp_path / "sshd", count=3, first_address=6) as nodes:
        yield nodes


@pytest.mark.timeout(150)
def test_node_whose_sshd_dies_mid_job_fails_alone(tmp_path: Path, own_nodes: SshNodes) -> None:
    job = """\
name: restart-app
target: all
strategy: continue
tasks:
  - { backend: systemd, action: restart, params: { unit: app }, max_retries: 1 }
  - { backend: ping, action: hostname }
"""
    own_nodes.sleep_next("node2", "systemctl", 300)  # node2's restart hangs ...

    def kill_when_node2_restarts() -> None:  # ... and its machine goes away
        deadline = time.monotonic() + 60
        while not own_nodes.calls("node2", "systemctl") and time.monotonic() < deadline:
            time.sleep(0.02)
        own_nodes.kill("node2")

    killer = threading.Thread(target=kill_when_node2_restarts)
    killer.start()
    inventory = write(tmp_path, "inventory.yaml", own_nodes.inventory())
    try:
        code, doc, err = run_json(write(tmp_path, "job.yaml", job), "-i", inventory)
    finally:
        killer.join()
    node2 = own_nodes["node2"]
    assert statuses(doc, "0") == {"node1": "success", "node2": "failed", "node3": "success"}
    assert statuses(doc, "1") == {"node1": "success", "node2": "skipped", "node3": "success"}
    entry = doc["results"]["0"]["node2"]
    assert entry["attempts"] == 2  # a lost connection is retried; the retry finds no sshd
    assert entry["error"] == (
        f"ssh node node2: cannot connect to {node2.host}:{node2.port}: connection refused "
        "(is sshd running and listening on that address and port?)"
    )
    assert entry["duration_s"] < 60  # not the 300 s the hung command would have taken
    assert list(doc["dropped"]) == ["node2"]
    assert (doc["status"], code) == ("success", 0)  # continue: the others went on
    # the first attempt's failure was the dropped connection, shown as it happened
    assert (
        f"  0 systemd restart on node2: attempt 1 of 2 failed, retrying in 1s: ssh node node2 "
        f"({node2.host}:{node2.port}): the connection failed while running "
        "'systemctl restart app': the connection dropped while the command ran\n"
    ) in err
    for node in ("node1", "node3"):
        assert own_nodes.argvs(node, "systemctl") == [["systemctl", "restart", "app"]]
        assert doc["results"]["1"][node]["output"].strip()  # the host name


def test_changed_host_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    with SshNodes(tmp_path / "sshd", count=1, first_address=9) as nodes:
        node = nodes["node1"]
        old = nodes.host_key_fingerprint("node1")
        nodes.rotate_host_key("node1")
        new = nodes.host_key_fingerprint("node1")
        assert old != new
        inventory = write(tmp_path, "inventory.yaml", nodes.inventory())
        job = "target: all\ntasks: [ { backend: ping, action: hostname, max_retries: 3 } ]\n"
        code, doc, _ = run_json(write(tmp_path, "job.yaml", job), "-i", inventory)
        calls = nodes.calls("node1")
    kh = nodes.known_hosts
    entry = doc["results"]["0"]["node1"]
    assert (code, entry["status"], entry["attempts"]) == (1, "failed", 1)  # never retried
    assert entry["error"] == (
        f"ssh node node1: the host key of {node.host}:{node.port} has CHANGED: {kh} lists "
        f"ssh-ed25519 {old}, the node offered ssh-ed25519 {new}. Someone may be intercepting "
        "the connection, or the node was reinstalled. If the new key is right (check it on the "
        f"node), replace the old one: `ssh-keygen -R '[{node.host}]:{node.port}' -f {kh}` then "
        f"`ssh-keyscan -p {node.port} -t ed25519 {node.host} >> {kh}`; or set "
        "insecure_skip_host_key_check: true on this node to skip the check"
    )
    assert calls == []


def test_unknown_host_refused_unless_insecure(tmp_path: Path, fresh: SshNodes) -> None:
    node = fresh["node1"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    node_id = f"new-{uuid.uuid4().hex[:8]}"  # the warning is once per node and process
    connection = {
        "type": "ssh",
        "host": node.host,
        "port": node.port,
        "user": "root",
        "key_file": str(fresh.client_key),
        "known_hosts": str(empty),
    }
    job = write(
        tmp_path,
        "job.yaml",
        "target: all\ntasks:\n  - { backend: ping, action: hostname }\n"
        "  - { backend: systemd, action: status, params: { unit: nginx } }\n",
    )

    def inventory(**extra: Any) -> str:
        entry = {"id": node_id, "connection": {**connection, **extra}}
        return write(tmp_path, "inventory.yaml", {"nodes": [entry]})

    code, doc, _ = run_json(job, "-i", inventory())
    fp = fresh.host_key_fingerprint("node1")
    entry = doc["results"]["0"][node_id]
    assert (code, entry["status"], entry["attempts"]) == (1, "failed", 1)
    assert entry["error"] == (
        f"ssh node {node_id}: the host key of {node.host}:{node.port} is not in {empty}; the "
        f"node offered ssh-ed25519 {fp}. If that is the node's key (compare with `ssh-keygen "
        "-lf /etc/ssh/ssh_host_ed25519_key.pub` on the node), trust it with `ssh-keyscan -p "
        f"{node.port} -t ed25519 {node.host} >> {empty}`, or set insecure_skip_host_key_check: "
        "true on this node to skip the check (anyone on the network path could then "
        "impersonate it)"
    )
    assert fresh.calls("node1") == []

    code, doc, err = run_json(job, "-i", inventory(insecure_skip_host_key_check=True))
    assert code == 0, err
    assert fresh.argvs("node1") == [["systemctl", "status", "nginx"]]
    warning = (
        f"ssh node {node_id}: host key of {node.host}:{node.port} NOT checked "
        f"(insecure_skip_host_key_check is set); accepting ssh-ed25519 {fp}. "
        "Anyone on the network path can impersonate this node."
    )
    assert err.count(warning) == 1  # once, although two tasks ran
    assert empty.read_text() == ""  # nothing is learned: the next run is insecure too


# ------------------------------------------------------------ conn_id


def conn_id_job(tmp_path: Path, node_id: str, conn_id: str, script: str) -> tuple[str, str]:
    job = {
        "target": "all",
        "tasks": [{"backend": "cmd", "action": "run", "params": {"shell": script}}],
    }
    inventory = {"nodes": [{"id": node_id, "connection": {"type": "ssh", "conn_id": conn_id}}]}
    return write(tmp_path, "job.yaml", job), write(tmp_path, "inventory.yaml", inventory)


def test_conn_id_node_runs_through_an_airflow_json_connection(
    tmp_path: Path, fresh: SshNodes
) -> None:
    # An encrypted client key given inline, its passphrase, and the node's
    # host key: everything a user keeps in an Airflow connection.
    passphrase = f"phrase-{uuid.uuid4().hex}"
    key = keygen(tmp_path / "conn_key", "ed25519", passphrase)
    fresh.authorize(Path(f"{key}.pub"))
    node = fresh["node2"]
    connection = {
        "conn_type": "ssh",
        "host": node.host,
        "port": node.port,
        "login": "root",
        "extra": {
            "private_key": key.read_text(),
            "private_key_passphrase": passphrase,
            "host_key": Path(f"{node.host_key}.pub").read_text().strip(),
            "conn_timeout": "5",
        },
    }
    script = f'echo "on $GRIDFLOW_TEST_NODE"; echo "the phrase is {passphrase}"'
    job, inventory = conn_id_job(tmp_path, "db-01", "db01_ssh", script)
    env = {"AIRFLOW_CONN_DB01_SSH": json.dumps(connection)}
    code, out, err = invoke("run", job, "-i", inventory, "-o", "json", env=env)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["results"]["0"]["db-01"]["output"] == "on node2\nthe phrase is ***\n"
    key_body = key.read_text().splitlines()[1]
    for text in (out, err):
        assert passphrase not in text
        assert key_body not in text


def test_conn_id_host_key_is_the_only_key_trusted(tmp_path: Path, fresh: SshNodes) -> None:
    node = fresh["node2"]
    other = Path(f"{fresh['node1'].host_key}.pub").read_text().strip()  # not node2's
    uri = (
        f"ssh://root@{node.host}:{node.port}?key_file={quote(str(fresh.client_key), safe='')}"
        f"&host_key={quote(other, safe='')}"
    )
    job, inventory = conn_id_job(tmp_path, "db-01", "db01_ssh", "true")
    code, doc, _ = run_json(job, "-i", inventory, env={"GRIDFLOW_CONN_DB01_SSH": uri})
    entry = doc["results"]["0"]["db-01"]
    assert (code, entry["status"], entry["attempts"]) == (1, "failed", 1)
    assert entry["error"].startswith(
        f"ssh node db-01: the host key of {node.host}:{node.port} has CHANGED: "
    )
    assert f"lists ssh-ed25519 {fresh.host_key_fingerprint('node1')}" in entry["error"]
    assert f"offered ssh-ed25519 {fresh.host_key_fingerprint('node2')}" in entry["error"]


def test_undefined_connection_fails_the_node_without_retries(tmp_path: Path) -> None:
    job = {
        "target": "all",
        "strategy": "continue",
        "tasks": [{"backend": "ping", "action": "hostname", "max_retries": 3}],
    }
    inventory = {
        "nodes": [
            {"id": "here", "connection": "local"},
            {"id": "db-01", "connection": {"type": "ssh", "conn_id": "db01_ssh"}},
        ]
    }
    code, doc, _ = run_json(
        write(tmp_path, "job.yaml", job), "-i", write(tmp_path, "inventory.yaml", inventory)
    )
    assert statuses(doc, "0") == {"here": "success", "db-01": "failed"}
    entry = doc["results"]["0"]["db-01"]
    assert entry["attempts"] == 1
    assert entry["error"].startswith(
        "ssh node db-01: connection 'db01_ssh' is not defined (looked in: "
        "$GRIDFLOW_CONN_DB01_SSH, $AIRFLOW_CONN_DB01_SSH); define it where the job runs, e.g. "
        "export AIRFLOW_CONN_DB01_SSH='ssh://USER@HOST:22?key_file="
    )
    assert list(doc["dropped"]) == ["db-01"]
    assert (doc["status"], code) == ("success", 0)  # continue: the local node went on
