"""A real Debian package installed and removed through a real sshd node.

Every other SSH test talks to recording stand-ins; this one moves node1's
``apt-get`` and ``dpkg-query`` stand-ins aside (``real_commands``), so the
apt backend runs the machine's own apt over SSH: ``apt-get update``,
``apt-get install -y hello`` (GNU hello: 53 kB, needing only libc), then
``hello`` itself, then ``apt-get remove -y hello``. dpkg's status is checked
before and after. The node is this machine, as root.

It needs the Debian mirror. When the mirror cannot be reached the test
fails, saying so: it does not skip, since a skipped test would hide an
install path that was never exercised.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gridflow.cli import app
from tests.support.sshd import SshNodes

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]

PACKAGE = "hello"

JOB = f"""\
name: real-package
target: all
timeout: 200s
tasks:
  - {{ backend: apt, action: update, timeout: 60s, max_retries: 2 }}
  - backend: apt
    action: install
    params: {{ package: {PACKAGE} }}
    timeout: 60s
    max_retries: 3                   # another apt may hold the dpkg lock for a moment
  - {{ backend: cmd, action: run, params: {{ argv: [{PACKAGE}] }} }}
  - condition: always                # leave the machine as it was, whatever failed
    backend: apt
    action: remove
    params: {{ package: {PACKAGE} }}
    timeout: 60s
    max_retries: 3
"""


def dpkg_status(package: str) -> str:
    """dpkg's status of ``package`` on this machine ("" when dpkg never knew it)."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}", package], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def test_install_and_remove_a_real_package(tmp_path: Path, ssh_nodes: SshNodes) -> None:
    assert dpkg_status(PACKAGE) != "install ok installed", (
        f"{PACKAGE} is already installed on this machine; this test installs and removes it. "
        f"Remove it first: apt-get remove -y {PACKAGE}"
    )
    ssh_nodes.clear_calls("node1")
    node1 = {**ssh_nodes.inventory()["nodes"][0], "groups": []}
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({"nodes": [node1]}))
    (tmp_path / "job.yaml").write_text(JOB)
    with ssh_nodes.real_commands("node1", "apt-get", "dpkg-query"):
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(tmp_path / "job.yaml"),
                "-i",
                str(tmp_path / "inventory.yaml"),
                "-o",
                "json",
            ],
            env={"GRIDFLOW_INVENTORY": ""},
            catch_exceptions=False,
        )
    doc = json.loads(result.stdout)
    update, install, ran, remove = (doc["results"][k]["node1"] for k in ("0", "1", "2", "3"))
    assert update["status"] == "success", (
        f"apt-get update through node1 did not succeed ({update['status']}: {update['error']}): "
        "is the Debian mirror in /etc/apt/sources.list.d reachable from this machine?"
    )
    assert install["status"] == "success", f"apt-get install -y {PACKAGE}: {install['error']}"
    assert install["changed"] is True
    assert (ran["status"], ran["output"]) == ("success", "Hello, world!\n")
    assert remove["status"] == "success", f"apt-get remove -y {PACKAGE}: {remove['error']}"
    assert remove["changed"] is True
    assert (doc["status"], result.exit_code) == ("success", 0)
    assert dpkg_status(PACKAGE) != "install ok installed"
    # the machine's own apt did the work: no stand-in was called
    assert ssh_nodes.calls("node1") == []
