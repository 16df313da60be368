"""run_action for real: LocalSession subprocesses, with recording stand-ins for
apt-get, dpkg-query, systemctl and curl first on PATH (tests/support/standins.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gridflow.backends.actions import (
    ActionResult,
    parse_params,
    planned_commands,
    run_action,
)
from gridflow.backends.catalog import action_names, backend_names
from gridflow.backends.program import BuildContext
from gridflow.backends.test_backend import expected_output, flaky_fails
from gridflow.nodes.base import MAX_OUTPUT_BYTES, CommandTimedOut
from gridflow.nodes.local import LocalSession
from tests.support.standins import Standins
from tests.unit.backends.samples import sample

NI = {"DEBIAN_FRONTEND": "noninteractive"}
PROBE_NGINX = ["dpkg-query", "-W", "-f", "${Status}\\t${Version}\\n", "nginx"]


def act(
    backend: str,
    action: str,
    *,
    node: str = "n1",
    timeout_s: float | None = 30,
    attempt: int = 1,
    sudo: bool = False,
    **raw: Any,
) -> ActionResult:
    params = parse_params(backend, action, raw)

    async def main() -> ActionResult:
        async with LocalSession(node, sudo=sudo) as session:
            return await run_action(
                session, backend, action, params, timeout_s=timeout_s, attempt=attempt
            )

    return asyncio.run(main())


# --------------------------------------------------------------------- apt


def test_apt_install_absent_package(standins: Standins) -> None:
    res = act("apt", "install", package="nginx")
    assert standins.argvs() == [PROBE_NGINX, ["apt-get", "install", "-y", "nginx"]]
    assert [c["env"] for c in standins.calls()] == [{}, NI]
    assert (res.ok, res.changed, res.exit_code, res.error) == (True, True, 0, None)
    assert res.output == "Setting up nginx (1.0-standin) ...\n"
    assert res.commands == (
        "dpkg-query -W -f '${Status}\\t${Version}\\n' nginx",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx",
    )
    assert standins.is_installed("nginx")


def test_apt_install_present_package_runs_no_apt_get(standins: Standins) -> None:
    standins.installed("nginx", "1.24.0-1")
    res = act("apt", "install", package="nginx")
    assert standins.argvs() == [PROBE_NGINX]
    assert (res.ok, res.changed, res.exit_code) == (True, False, 0)
    assert res.output == "nginx 1.24.0-1 is already installed"


def test_apt_install_other_pinned_version(standins: Standins) -> None:
    standins.installed("nginx", "1.24.0-1")
    res = act("apt", "install", package="nginx=1.26.0-1")
    assert standins.argvs() == [PROBE_NGINX, ["apt-get", "install", "-y", "nginx=1.26.0-1"]]
    assert res.changed is True


def test_install_then_install_again_then_remove_twice(standins: Standins) -> None:
    changes = [
        act("apt", "install", package="nginx").changed,
        act("apt", "install", package="nginx").changed,
        act("apt", "remove", package="nginx").changed,
        act("apt", "remove", package="nginx").changed,
    ]
    assert changes == [True, False, True, False]
    assert [a for a in standins.argvs() if a[0] == "apt-get"] == [
        ["apt-get", "install", "-y", "nginx"],
        ["apt-get", "remove", "-y", "nginx"],
    ]
    assert not standins.is_installed("nginx")


@pytest.mark.parametrize(
    ("action", "argv"),
    [("update", ["apt-get", "update"]), ("upgrade", ["apt-get", "upgrade", "-y"])],
    ids=["update", "upgrade"],
)
def test_apt_update_and_upgrade(standins: Standins, action: str, argv: list[str]) -> None:
    res = act("apt", action)
    assert standins.calls() == [{"argv": argv, "env": NI, "time": standins.calls()[0]["time"]}]
    assert (res.ok, res.changed) == (True, None)


def test_apt_failure_carries_the_stderr_tail(standins: Standins) -> None:
    standins.behave(
        "apt-get", exit=100, stderr="Reading package lists...\nE: Unable to locate package nginx\n"
    )
    res = act("apt", "install", package="nginx")
    assert (res.ok, res.exit_code, res.changed) == (False, 100, None)
    assert res.error == (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx exited with 100: "
        "Reading package lists...\nE: Unable to locate package nginx"
    )


def test_sudo_node(standins: Standins) -> None:
    res = act("apt", "install", package="nginx", sudo=True)
    assert res.ok, res.error
    assert standins.argvs() == [
        ["sudo", "-n", "--", *PROBE_NGINX],
        PROBE_NGINX,
        ["sudo", "-n", "--", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
         "nginx"],
        ["apt-get", "install", "-y", "nginx"],
    ]  # fmt: skip
    assert standins.calls()[3]["env"] == NI


# ----------------------------------------------------------------- systemd


@pytest.mark.parametrize(
    ("action", "active_before", "changed", "active_after"),
    [("start", False, True, True), ("start", True, False, True),
     ("stop", True, True, False), ("stop", False, False, False)],
    ids=["start-inactive", "start-active", "stop-active", "stop-inactive"],
)  # fmt: skip
def test_systemd_start_stop_report_changes(
    standins: Standins, action: str, active_before: bool, changed: bool, active_after: bool
) -> None:
    if active_before:
        standins.active("nginx")
    res = act("systemd", action, unit="nginx")
    assert standins.argvs() == [["systemctl", "is-active", "nginx"], ["systemctl", action, "nginx"]]
    assert (res.ok, res.changed) == (True, changed)
    assert standins.is_active("nginx") is active_after


@pytest.mark.parametrize(
    ("backend", "action", "raw", "argv", "changed"),
    [
        ("systemd", "restart", {"unit": "nginx"}, ["systemctl", "restart", "nginx"], True),
        ("systemd", "enable", {"unit": "nginx"}, ["systemctl", "enable", "--now", "nginx"], None),
        ("systemd", "disable", {"unit": "nginx"}, ["systemctl", "disable", "--now", "nginx"],
         None),
        ("rke2", "start", {"mode": "agent"},
         ["systemctl", "enable", "--now", "--no-block", "rke2-agent"], None),
        ("rke2", "stop", {}, ["systemctl", "disable", "--now", "--no-block", "rke2-server"], None),
        ("rke2", "restart", {}, ["systemctl", "restart", "rke2-server"], True),
    ],
    ids=["systemd-restart", "systemd-enable", "systemd-disable", "rke2-start", "rke2-stop",
         "rke2-restart"],
)  # fmt: skip
def test_service_actions_run_exactly(
    standins: Standins,
    backend: str,
    action: str,
    raw: dict[str, Any],
    argv: list[str],
    changed: bool | None,
) -> None:
    res = act(backend, action, **raw)
    assert standins.argvs() == [argv]
    assert standins.calls()[0]["env"] == {}
    assert (res.ok, res.changed) == (True, changed)


def test_status_of_an_inactive_unit_fails(standins: Standins) -> None:
    res = act("systemd", "status", unit="nginx")
    assert (res.ok, res.exit_code) == (False, 3)
    assert res.error == (
        "systemctl status nginx exited with 3 (the unit is not active) and printed nothing on "
        "stderr"
    )
    assert "inactive (dead)" in res.output
    standins.active("nginx")
    res = act("systemd", "status", unit="nginx")
    assert (res.ok, res.changed) == (True, False)


# -------------------------------------------------------------------- rke2


def test_rke2_install_downloads_then_runs_the_installer(standins: Standins) -> None:
    res = act("rke2", "install", mode="agent", flags=["--channel", "$(reboot)"])
    assert res.ok, res.error
    curl, installer = standins.calls()
    assert curl["argv"][:4] == ["curl", "-sSfL", "https://get.rke2.io", "-o"]
    assert installer["argv"] == ["rke2-installer", "--channel", "$(reboot)"]
    assert installer["env"] == {"INSTALL_RKE2_TYPE": "agent"}
    assert not Path(curl["argv"][4]).exists(), "the downloaded installer is removed"
    assert res.output == "[INFO] stand-in rke2 installer done\n"


def test_rke2_install_stops_when_the_download_fails(standins: Standins) -> None:
    standins.behave("curl", exit=22, stderr="curl: (22) The requested URL returned error: 503\n")
    res = act("rke2", "install")
    assert [a[0] for a in standins.argvs()] == ["curl"]
    assert (res.ok, res.exit_code) == (False, 22)
    assert res.error is not None
    assert res.error.endswith(
        "rke2-install https://get.rke2.io exited with 22: "
        "curl: (22) The requested URL returned error: 503"
    )


# -------------------------------------------------------------------- ping


def test_ping_echo_prints_hostile_text_verbatim(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    message = f"$(touch {marker}) `touch {marker}`; touch {marker} %s %n \\n"
    res = act("ping", "echo", message=message)
    assert (res.ok, res.output, res.changed) == (True, message, False)
    assert not marker.exists()


def test_ping_hostname_is_the_nodes() -> None:
    res = act("ping", "hostname")
    assert (res.ok, res.output) == (True, os.uname().nodename)


def test_ping_sleep_sleeps() -> None:
    res = act("ping", "sleep", duration="300ms")
    assert res.ok
    assert 0.3 <= res.duration_s < 3


# -------------------------------------------------------------------- test


def test_test_succeed_and_fail() -> None:
    ok = act("test", "succeed", message="fine", delay="100ms")
    assert (ok.ok, ok.output, ok.error, ok.commands) == (
        True,
        "fine",
        None,
        ("sleep 0.1", "printf %s fine"),
    )
    assert ok.duration_s >= 0.1
    bad = act("test", "fail", message="boom: $(id)")
    assert (bad.ok, bad.exit_code, bad.error, bad.output) == (False, 1, "boom: $(id)", "")


@pytest.mark.parametrize(
    ("node", "attempt"), [(f"node-{i}", a) for i in range(4) for a in (1, 2)],
    ids=lambda v: str(v),
)  # fmt: skip
def test_flaky_outcome_is_the_seeded_draw(node: str, attempt: int) -> None:
    expected_fail = flaky_fails(50, BuildContext(node_id=node, attempt=attempt))
    runs = [act("test", "flaky", rate=50, node=node, attempt=attempt) for _ in range(2)]
    assert [r.ok for r in runs] == [not expected_fail] * 2
    if expected_fail:
        assert runs[0].error == f"failed this time (node {node}, attempt {attempt}, rate 50%)"


@pytest.mark.parametrize(("rate", "ok"), [(0, True), (100, False)], ids=["never", "always"])
def test_flaky_extremes(rate: float, ok: bool) -> None:
    assert {act("test", "flaky", rate=rate, node=f"n{i}").ok for i in range(5)} == {ok}


@pytest.mark.parametrize(
    ("lines", "width"), [(0, 1), (1, 1), (3, 5), (12, 2), (5, 200)], ids=lambda v: str(v)
)
def test_output_prints_lines_of_width(lines: int, width: int) -> None:
    res = act("test", "output", lines=lines, width=width)
    assert res.output == expected_output(lines, width)
    assert all(len(line) == width for line in res.output.splitlines())


def test_big_output_is_bounded() -> None:
    res = act("test", "output", lines=3000, width=1000)  # ~3 MB printed
    assert len(res.output) == MAX_OUTPUT_BYTES
    assert res.output_truncated is True
    assert res.output.startswith("1:xxx")


# --------------------------------------------------------------------- cmd


def test_cmd_run(tmp_path: Path) -> None:
    res = act("cmd", "run", shell='echo "$A" > out; cat out', env={"A": "x y"}, cwd=str(tmp_path))
    assert (res.ok, res.output, res.changed) == (True, "x y\n", None)
    assert (tmp_path / "out").read_text() == "x y\n"


def test_cmd_missing_program_fails_like_a_shell() -> None:
    res = act("cmd", "run", argv=["no-such-program-xyz", "a"])
    assert (res.ok, res.exit_code) == (False, 127)
    assert res.error == (
        "no-such-program-xyz a exited with 127: no-such-program-xyz: command not found"
    )


# ----------------------------------------------------------------- timeouts


def test_timeout_stops_the_command(standins: Standins) -> None:
    standins.behave("apt-get", sleep=30)
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        act("apt", "install", package="nginx", timeout_s=1.5)
    assert time.monotonic() - started < 5
    assert info.value.message == (
        "apt install on node n1 ran past its timeout of 1.5s; stopped while running "
        "'DEBIAN_FRONTEND=noninteractive apt-get install -y nginx'"
    )
    assert info.value.details["commands"] == [
        "dpkg-query -W -f '${Status}\\t${Version}\\n' nginx",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx",
    ]


def test_timeout_covers_the_whole_action(standins: Standins) -> None:
    """A probe and a command of 0.6 s each under a 1 s timeout: the command is stopped."""
    standins.behave("systemctl", sleep=0.6)
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as info:
        act("systemd", "start", unit="nginx", timeout_s=1.0)
    assert time.monotonic() - started < 3
    assert info.value.message == (
        "systemd start on node n1 ran past its timeout of 1s; stopped while running "
        "'systemctl start nginx'"
    )
    assert [a[:2] for a in standins.argvs()] == [["systemctl", "is-active"], ["systemctl", "start"]]


def test_no_time_left_starts_nothing(standins: Standins) -> None:
    with pytest.raises(CommandTimedOut) as info:
        act("systemd", "start", unit="nginx", timeout_s=0)
    assert info.value.message == (
        "systemd start on node n1 ran past its timeout of 0s before "
        "'systemctl is-active nginx' could start"
    )
    assert standins.calls() == []


# ---------------------------------------------------------------- dry runs


@pytest.mark.parametrize("backend", backend_names())
def test_planning_runs_nothing(standins: Standins, backend: str) -> None:
    for action in action_names(backend):
        raw = sample(backend, action)
        lines = planned_commands(backend, action, parse_params(backend, action, raw))
        assert lines
    assert standins.calls() == []
    assert not Path("should-not-exist").exists()
