"""The test nodes themselves (tests/support/sshd.py): stand-ins that record,
queued behaviours, the curl/rke2 installer pair, real commands on demand."""

from __future__ import annotations

import asyncio
import time

import pytest

from gridflow.nodes.base import Command, CommandResult
from gridflow.nodes.ssh import SshSession
from tests.support.sshd import SshNodes

pytestmark = pytest.mark.integration


def run_all(nodes: SshNodes, node_id: str, *commands: Command) -> list[CommandResult]:
    async def go() -> list[CommandResult]:
        session = await SshSession.open(node_id, nodes.target(node_id))
        try:
            return [await session.run(c, timeout_s=30) for c in commands]
        finally:
            await session.close()

    return asyncio.run(go())


def test_queued_behaviours_apply_in_order_then_run_out(ssh_nodes: SshNodes) -> None:
    ssh_nodes.clear_calls("node2")
    ssh_nodes.behave("node2", "systemctl", stdout="active\n", exit=3, times=2)
    ssh_nodes.sleep_next("node2", "systemctl", 0.4)
    status = Command(argv=("systemctl", "status", "nginx"))
    results = run_all(ssh_nodes, "node2", status, status, status, status)
    assert [(r.exit_code, r.stdout) for r in results] == [
        (3, "active\n"),
        (3, "active\n"),
        (0, ""),
        (0, ""),
    ]
    assert results[2].duration_s >= 0.4
    calls = ssh_nodes.calls("node2", "systemctl")
    assert [c["argv"] for c in calls] == [["systemctl", "status", "nginx"]] * 4
    assert all(c["uid"] == 0 and c["node"] == "node2" for c in calls)
    assert [c["time"] for c in calls] == sorted(c["time"] for c in calls)


def test_curl_stand_in_serves_an_installer_that_records_itself(ssh_nodes: SshNodes) -> None:
    ssh_nodes.clear_calls("node3")
    piped = Command(
        shell="curl -sfL https://get.rke2.io | INSTALL_RKE2_TYPE=agent sh -s -- --debug"
    )
    saved = Command(
        shell="curl -sfL https://get.rke2.io -o /tmp/gridflow-rke2.sh && sh /tmp/gridflow-rke2.sh x"
    )
    assert [r.exit_code for r in run_all(ssh_nodes, "node3", piped, saved)] == [0, 0]
    calls = ssh_nodes.calls("node3")
    assert [c["argv"] for c in calls] == [
        ["curl", "-sfL", "https://get.rke2.io"],
        ["rke2-installer", "--debug"],
        ["curl", "-sfL", "https://get.rke2.io", "-o", "/tmp/gridflow-rke2.sh"],
        ["rke2-installer", "x"],
    ]
    assert calls[1]["env"]["INSTALL_RKE2_TYPE"] == "agent"


def test_fail_next_needs_a_failure_and_only_stubbed_commands(ssh_nodes: SshNodes) -> None:
    with pytest.raises(ValueError, match="non-zero"):
        ssh_nodes.fail_next("node1", "apt-get", 0)
    with pytest.raises(ValueError, match="'yum' has no stand-in"):
        ssh_nodes.fail_next("node1", "yum", 1)


def test_real_commands_put_the_machine_s_own_back_for_a_while(ssh_nodes: SshNodes) -> None:
    # dash's `command -v` answers for its first name only: one each.
    which = Command(shell="command -v systemctl; command -v apt-get")
    with ssh_nodes.real_commands("node1", "apt-get"):
        [inside] = run_all(ssh_nodes, "node1", which)
    [after] = run_all(ssh_nodes, "node1", which)
    bin_dir = ssh_nodes["node1"].bin
    assert inside.stdout == f"{bin_dir}/systemctl\n/usr/bin/apt-get\n"
    assert after.stdout == f"{bin_dir}/systemctl\n{bin_dir}/apt-get\n"


def test_kill_stops_the_whole_tree_and_restart_brings_it_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with SshNodes(tmp_path_factory.mktemp("sshd"), count=2, first_address=6) as nodes:
        pid = nodes["node1"].pid
        assert pid is not None
        nodes.kill("node1")
        assert nodes["node1"].pid is None
        assert nodes["node2"].pid is not None
        started = time.monotonic()
        nodes.restart("node1")
        assert time.monotonic() - started < 5
        [result] = run_all(nodes, "node1", Command(argv=("echo", "up")))
        assert result.stdout == "up\n"
