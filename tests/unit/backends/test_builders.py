"""Backends as pure functions: exact commands per action, probes and what their
results mean, dry-run listings, and hostile parameters. Nothing runs here."""

from __future__ import annotations

from typing import Any

import pytest

from gridflow.backends import catalog
from gridflow.backends.actions import (
    BUILDERS,
    InvalidParams,
    UnknownAction,
    build_program,
    parse_params,
    planned_commands,
)
from gridflow.backends.apt import STATUS_FORMAT
from gridflow.backends.program import BuildContext, Program, seconds_arg
from gridflow.backends.rke2 import INSTALL_SCRIPT
from gridflow.backends.test_backend import (
    FAIL_SCRIPT,
    OUTPUT_PROGRAM,
    flaky_draw,
    flaky_fails,
)
from gridflow.nodes.base import CommandResult
from tests.unit.backends.samples import sample

NI = {"DEBIAN_FRONTEND": "noninteractive"}


def program(backend: str, action: str, ctx: BuildContext | None = None, **raw: Any) -> Program:
    return build_program(backend, action, parse_params(backend, action, raw), ctx)


def commands(prog: Program) -> list[tuple[tuple[str, ...] | None, dict[str, str]]]:
    return [(c.argv, dict(c.env)) for c in prog.commands]


def table_ids(rows: list[tuple[Any, ...]]) -> list[str]:
    """``backend-action`` per row, numbered from the second row of a kind."""
    seen: dict[str, int] = {}
    ids = []
    for row in rows:
        base = f"{row[0]}-{row[1]}"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return ids


def result(code: int, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(exit_code=code, stdout=stdout, stderr=stderr, duration_s=0.01)


# ---------------------------------------------------------------- the table


EXACT: list[tuple[Any, ...]] = [
        ("apt", "update", {}, [(("apt-get", "update"), NI)]),
        ("apt", "install", {"package": "nginx"}, [(("apt-get", "install", "-y", "nginx"), NI)]),
        ("apt", "install", {"package": "nginx=1.24.0-1"},
         [(("apt-get", "install", "-y", "nginx=1.24.0-1"), NI)]),
        ("apt", "remove", {"package": "nginx"}, [(("apt-get", "remove", "-y", "nginx"), NI)]),
        ("apt", "upgrade", {}, [(("apt-get", "upgrade", "-y"), NI)]),
        ("systemd", "start", {"unit": "nginx"}, [(("systemctl", "start", "nginx"), {})]),
        ("systemd", "stop", {"unit": "nginx.service"},
         [(("systemctl", "stop", "nginx.service"), {})]),
        ("systemd", "restart", {"unit": "getty@tty1"},
         [(("systemctl", "restart", "getty@tty1"), {})]),
        ("systemd", "enable", {"unit": "nginx"}, [(("systemctl", "enable", "--now", "nginx"), {})]),
        ("systemd", "disable", {"unit": "nginx"},
         [(("systemctl", "disable", "--now", "nginx"), {})]),
        ("systemd", "status", {"unit": "nginx"}, [(("systemctl", "status", "nginx"), {})]),
        ("rke2", "start", {},
         [(("systemctl", "enable", "--now", "--no-block", "rke2-server"), {})]),
        ("rke2", "start", {"mode": "agent"},
         [(("systemctl", "enable", "--now", "--no-block", "rke2-agent"), {})]),
        ("rke2", "stop", {"mode": "agent"},
         [(("systemctl", "disable", "--now", "--no-block", "rke2-agent"), {})]),
        ("rke2", "restart", {}, [(("systemctl", "restart", "rke2-server"), {})]),
        ("rke2", "status", {"mode": "agent"}, [(("systemctl", "status", "rke2-agent"), {})]),
        ("rke2", "install", {"mode": "agent", "flags": ["--version", "v1.30.1+rke2r1"]},
         [(("sh", "-c", INSTALL_SCRIPT, "rke2-install", "https://get.rke2.io", "--version",
            "v1.30.1+rke2r1"), {"INSTALL_RKE2_TYPE": "agent"})]),
        ("rke2", "install", {}, [(("sh", "-c", INSTALL_SCRIPT, "rke2-install",
                                   "https://get.rke2.io"), {"INSTALL_RKE2_TYPE": "server"})]),
        ("ping", "echo", {"message": "hi there"}, [(("printf", "%s", "hi there"), {})]),
        ("ping", "echo", {}, [(("printf", "%s", ""), {})]),
        ("ping", "hostname", {}, [(("uname", "-n"), {})]),
        ("ping", "sleep", {"duration": "1500ms"}, [(("sleep", "1.5"), {})]),
        ("test", "succeed", {"message": "ok"}, [(("printf", "%s", "ok"), {})]),
        ("test", "succeed", {"message": "ok", "delay": "2s"},
         [(("sleep", "2"), {}), (("printf", "%s", "ok"), {})]),
        ("test", "fail", {"message": "boom"},
         [(("sh", "-c", FAIL_SCRIPT, "test-fail", "boom"), {})]),
        ("test", "fail", {"delay": 0.25},
         [(("sleep", "0.25"), {}),
          (("sh", "-c", FAIL_SCRIPT, "test-fail", "failed on purpose (test.fail)"), {})]),
        ("test", "sleep", {"duration": 3}, [(("sleep", "3"), {})]),
        ("test", "output", {"lines": 3, "width": 5},
         [(("awk", "-v", "lines=3", "-v", "width=5", OUTPUT_PROGRAM), {})]),
        ("test", "output", {}, [(("awk", "-v", "lines=10", "-v", "width=80", OUTPUT_PROGRAM), {})]),
        ("cmd", "run", {"argv": ["ls", "-l", "/tmp dir"]}, [(("ls", "-l", "/tmp dir"), {})]),
        ("cmd", "run", {"argv": ["env"], "env": {"A": 1}}, [(("env",), {"A": "1"})]),
    ]  # fmt: skip


@pytest.mark.parametrize(("backend", "action", "raw", "expected"), EXACT, ids=table_ids(EXACT))
def test_exact_commands(
    backend: str, action: str, raw: dict[str, Any], expected: list[Any]
) -> None:
    assert commands(program(backend, action, **raw)) == expected


def test_cmd_shell_and_cwd() -> None:
    prog = program("cmd", "run", shell="echo $HOME | wc -c", cwd="/srv")
    (command,) = prog.commands
    assert (command.argv, command.shell, command.cwd) == (None, "echo $HOME | wc -c", "/srv")


def test_no_builder_asks_for_sudo() -> None:
    """Whether a node runs commands through sudo is the node's setting."""
    for backend, actions in BUILDERS.items():
        for action in actions:
            spec = catalog.get_action(backend, action)
            assert spec is not None
            raw = sample(backend, action)
            prog = program(backend, action, **raw)
            assert not any(c.sudo for c in prog.all_commands()), (backend, action)


# ------------------------------------------------------- catalog <-> builders


def test_every_catalog_action_has_a_builder_and_back() -> None:
    assert sorted(BUILDERS) == catalog.backend_names()
    for backend, actions in BUILDERS.items():
        assert sorted(actions) == catalog.action_names(backend), backend


@pytest.mark.parametrize(
    ("backend", "action"),
    [(b, a) for b in catalog.backend_names() for a in catalog.action_names(b)],
)
def test_read_only_actions_never_report_changes(backend: str, action: str) -> None:
    spec = catalog.get_action(backend, action)
    assert spec is not None
    prog = program(backend, action, **sample(backend, action))
    if spec.read_only and backend != "cmd":
        assert prog.changed is False
        assert prog.probe is None


# ------------------------------------------------------------ probes (apt)


@pytest.mark.parametrize(
    ("package", "probe", "run", "changed", "note"),
    [
        ("nginx", result(1, stderr="dpkg-query: no packages found matching nginx"),
         True, True, ""),
        ("nginx", result(0, "install ok installed\t1.24.0-1\n"),
         False, False, "nginx 1.24.0-1 is already installed"),
        ("nginx", result(0, "hold ok installed\t1.24.0-1\n"),
         False, False, "nginx 1.24.0-1 is already installed"),
        ("nginx", result(0, "deinstall ok config-files\t1.24.0-1\n"), True, True, ""),
        ("nginx", result(0, "unknown ok not-installed\t\n"), True, True, ""),
        ("nginx", result(0, "install ok half-configured\t1.24.0-1\n"), True, True, ""),
        ("libc6", result(0, "install ok installed\t2.36-9\ninstall ok installed\t2.36-9\n"),
         False, False, "libc6 2.36-9, 2.36-9 is already installed"),
        ("nginx=1.24.0-1", result(0, "install ok installed\t1.24.0-1\n"),
         False, False, "nginx 1.24.0-1 is already installed"),
        ("nginx=1.26.0-1", result(0, "install ok installed\t1.24.0-1\n"), True, True, ""),
        ("nginx", result(2, stderr="dpkg-query: error: database locked"), True, None, ""),
    ],
    ids=["absent", "installed", "held", "config-files-only", "not-installed", "half-configured",
         "multi-arch", "pinned-match", "pinned-other-version", "query-failed"],
)  # fmt: skip
def test_apt_install_probe(
    package: str, probe: CommandResult, run: bool, changed: bool | None, note: str
) -> None:
    prog = program("apt", "install", package=package)
    assert prog.probe is not None
    assert prog.probe.command.argv == (
        "dpkg-query",
        "-W",
        "-f",
        STATUS_FORMAT,
        package.split("=")[0],
    )
    decision = prog.probe.decide(probe)
    assert (decision.run, decision.changed, decision.note) == (run, changed, note)


@pytest.mark.parametrize(
    ("probe", "run", "changed"),
    [
        (result(1, stderr="dpkg-query: no packages found matching nginx"), False, False),
        (result(0, "deinstall ok config-files\t1.24.0-1\n"), False, False),
        (result(0, "install ok installed\t1.24.0-1\n"), True, True),
        (result(0, "install ok half-installed\t1.24.0-1\n"), True, True),
        (result(2), True, None),
    ],
    ids=["absent", "config-files-only", "installed", "half-installed", "query-failed"],
)  # fmt: skip
def test_apt_remove_probe(probe: CommandResult, run: bool, changed: bool | None) -> None:
    prog = program("apt", "remove", package="nginx")
    assert prog.probe is not None
    decision = prog.probe.decide(probe)
    assert (decision.run, decision.changed) == (run, changed)
    if not run:
        assert decision.note == "nginx is not installed"


@pytest.mark.parametrize(
    ("action", "is_active_exit", "changed"),
    [("start", 3, True), ("start", 0, False), ("stop", 0, True), ("stop", 3, False)],
    ids=["start-inactive", "start-active", "stop-active", "stop-inactive"],
)
def test_systemd_start_stop_probe(action: str, is_active_exit: int, changed: bool) -> None:
    prog = program("systemd", action, unit="nginx")
    assert prog.probe is not None
    assert prog.probe.command.argv == ("systemctl", "is-active", "nginx")
    decision = prog.probe.decide(result(is_active_exit))
    assert (decision.run, decision.changed) == (True, changed)  # the command runs either way


NO_PROBE: list[tuple[Any, ...]] = [
    ("apt", "update", None), ("apt", "upgrade", None), ("systemd", "restart", True),
    ("systemd", "enable", None), ("systemd", "disable", None), ("systemd", "status", False),
    ("rke2", "start", None), ("rke2", "restart", True), ("rke2", "status", False),
    ("rke2", "install", None), ("ping", "hostname", False), ("cmd", "run", None),
]  # fmt: skip


@pytest.mark.parametrize(("backend", "action", "changed"), NO_PROBE, ids=table_ids(NO_PROBE))
def test_changed_without_probe(backend: str, action: str, changed: bool | None) -> None:
    prog = program(backend, action, **sample(backend, action))
    assert prog.probe is None
    assert prog.changed is changed


# ------------------------------------------------------- results into errors


@pytest.mark.parametrize(
    ("backend", "action", "raw", "res", "error"),
    [
        ("apt", "update", {}, result(100, stderr="E: Could not get lock\n"),
         "DEBIAN_FRONTEND=noninteractive apt-get update exited with 100: E: Could not get lock"),
        ("systemd", "status", {"unit": "nginx"}, result(3, "inactive"),
         "systemctl status nginx exited with 3 (the unit is not active) and printed nothing on "
         "stderr"),
        ("rke2", "status", {}, result(4, stderr="Unit rke2-server.service could not be found."),
         "systemctl status rke2-server exited with 4 (no such unit): Unit rke2-server.service "
         "could not be found."),
        ("cmd", "run", {"argv": ["x"]}, result(-9), "x killed by signal 9 and printed nothing on "
         "stderr"),
        ("test", "fail", {"message": "boom"}, result(1, stderr="boom\n"), "boom"),
    ],
    ids=["apt-stderr-tail", "status-inactive", "status-no-unit", "signal", "test-fail-message"],
)  # fmt: skip
def test_failure_messages(
    backend: str, action: str, raw: dict[str, Any], res: CommandResult, error: str
) -> None:
    from gridflow.nodes.local import describe_command

    prog = program(backend, action, **raw)
    assert prog.explain(describe_command(prog.commands[-1]), res) == error


def test_error_quotes_only_the_end_of_stderr() -> None:
    prog = program("apt", "update")
    stderr = "".join(f"line{i}\n" for i in range(400))
    error = prog.explain("apt-get update", result(1, stderr=stderr))
    assert error.endswith("line398\nline399")
    assert "line1\n" not in error
    assert len(error) < 600


def test_hostname_output_loses_its_newline() -> None:
    assert program("ping", "hostname").output("web-01\n") == "web-01"


# ---------------------------------------------------------------- dry runs


@pytest.mark.parametrize(
    ("backend", "action", "raw", "lines"),
    [
        ("apt", "install", {"package": "nginx"},
         ["dpkg-query -W -f '${Status}\\t${Version}\\n' nginx"
          "  # check: run apt-get only when nginx is not installed",
          "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx"]),
        ("systemd", "enable", {"unit": "nginx"}, ["systemctl enable --now nginx"]),
        ("ping", "echo", {"message": "it's $(id)"}, ["printf %s 'it'\"'\"'s $(id)'"]),
        ("test", "succeed", {"delay": "1s", "message": "done"}, ["sleep 1", "printf %s done"]),
        ("cmd", "run", {"shell": "echo $A > out", "env": {"A": "x y"}, "cwd": "/srv/my app"},
         ["cd '/srv/my app' && A='x y' /bin/sh -c 'echo $A > out'"]),
        ("rke2", "install", {"flags": ["--channel", "stable"]},
         ["INSTALL_RKE2_TYPE=server sh -c 'installer=$(mktemp) || exit; curl -sSfL \"$1\" -o "
          "\"$installer\" && shift && sh \"$installer\" \"$@\"; status=$?; rm -f \"$installer\"; "
          "exit $status' rke2-install https://get.rke2.io --channel stable"]),
    ],
    ids=["apt-probe-first", "enable", "quoted", "two-commands", "cmd-shell-env-cwd",
         "rke2-install"],
)  # fmt: skip
def test_planned_commands(backend: str, action: str, raw: dict[str, Any], lines: list[str]) -> None:
    assert planned_commands(backend, action, parse_params(backend, action, raw)) == lines


def test_planned_flaky_shows_this_nodes_outcome() -> None:
    params = parse_params("test", "flaky", {"rate": 50})
    plans = {
        node: planned_commands("test", "flaky", params, node_id=node) for node in ("a", "b", "c")
    }
    for node, lines in plans.items():
        fails = flaky_fails(50, BuildContext(node_id=node))
        assert ("failed this time" in lines[0]) is fails, lines


# ------------------------------------------------------------- flaky draws


def test_flaky_draw_is_a_pure_function_of_seed_node_and_attempt() -> None:
    assert flaky_draw("web-01", 1) == flaky_draw("web-01", 1)
    assert flaky_draw("web-01", 1) != flaky_draw("web-01", 2)
    assert flaky_draw("web-01", 1) != flaky_draw("web-02", 1)
    assert flaky_draw("web-01", 1, "s") != flaky_draw("web-01", 1)
    assert all(0 <= flaky_draw(f"n{i}", 1) < 100 for i in range(100))


@pytest.mark.parametrize("rate", [0, 10, 50, 90, 100])
def test_flaky_fails_about_rate_percent(rate: float) -> None:
    n = 2000
    failures = sum(flaky_fails(rate, BuildContext(node_id=f"n{i}")) for i in range(n))
    if rate in (0, 100):
        assert failures == n * rate // 100
    else:
        assert abs(failures / n * 100 - rate) < 4, failures


def test_flaky_message_says_where() -> None:
    ctx = next(
        BuildContext(node_id=f"n{i}", attempt=2)
        for i in range(100)
        if flaky_fails(50, BuildContext(node_id=f"n{i}", attempt=2))
    )
    prog = program("test", "flaky", ctx, rate=50)
    assert prog.commands[-1].argv == (
        "sh", "-c", FAIL_SCRIPT, "test-fail",
        f"failed this time (node {ctx.node_id}, attempt 2, rate 50%)",
    )  # fmt: skip


# ------------------------------------------------------------------ inputs


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0"), (2, "2"), (0.5, "0.5"), (1.25, "1.25"), (0.0004, "0"), (90.1234, "90.123")],
)
def test_seconds_arg(seconds: float, text: str) -> None:
    assert seconds_arg(seconds) == text


@pytest.mark.parametrize(
    ("backend", "action", "raw", "cls", "message"),
    [
        ("apk", "add", {}, UnknownAction,
         'unknown backend "apk"; backends: apt, cmd, ping, rke2, systemd, test '
         '(did you mean "apt"?)'),
        ("apt", "instal", {}, UnknownAction,
         'apt has no action "instal"; its actions: install, remove, update, upgrade '
         '(did you mean "install"?)'),
        ("apt", "install", {}, InvalidParams, 'apt install needs "package"'),
        ("apt", "update", {"package": "x"}, InvalidParams,
         'apt update takes no parameter "package" (it takes none)'),
        ("systemd", "start", {"unti": "nginx"}, InvalidParams,
         'systemd start takes no parameter "unti" (it takes: unit); did you mean "unit"?; '
         'systemd start needs "unit"'),
        ("rke2", "start", {"mode": "master"}, InvalidParams,
         "rke2 start: \"mode\": Input should be 'server' or 'agent'"),
        ("test", "flaky", {"rate": 150}, InvalidParams,
         'test flaky: "rate": Input should be less than or equal to 100'),
        ("cmd", "run", {}, InvalidParams,
         "cmd run: set exactly one of argv (a list, run without a shell) and shell "
         "(a string for /bin/sh -c)"),
        ("rke2", "install", {"flags": ["--a", {"b": 1}]}, InvalidParams,
         'rke2 install: "flags"[1]: Input should be a valid string'),
    ],
    ids=["unknown-backend", "unknown-action", "missing", "extra", "typo", "bad-literal",
         "out-of-range", "model-rule", "nested-location"],
)  # fmt: skip
def test_parse_params_errors(
    backend: str, action: str, raw: dict[str, Any], cls: type[Exception], message: str
) -> None:
    with pytest.raises(cls) as info:
        parse_params(backend, action, raw)
    assert str(info.value) == message


# ----------------------------------------------------------------- hostile


HOSTILE: list[tuple[Any, ...]] = [
        ("apt", "install", {"package": "nginx; rm -rf /"}),
        ("apt", "install", {"package": "$(touch /tmp/x)"}),
        ("apt", "install", {"package": "-o APT::Get::Assume-Yes=false"}),
        ("apt", "install", {"package": "--allow-unauthenticated"}),
        ("apt", "remove", {"package": "nginx\nrm"}),
        ("apt", "install", {"package": "nginx=1.0 evil"}),
        ("systemd", "start", {"unit": "nginx; reboot"}),
        ("systemd", "stop", {"unit": "-Hattacker.example"}),
        ("systemd", "stop", {"unit": "--now"}),
        ("systemd", "restart", {"unit": "a b"}),
        ("systemd", "status", {"unit": "`id`"}),
        ("rke2", "start", {"mode": "server; reboot"}),
    ]  # fmt: skip


@pytest.mark.parametrize(("backend", "action", "raw"), HOSTILE, ids=table_ids(HOSTILE))
def test_hostile_names_are_refused(backend: str, action: str, raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidParams):
        parse_params(backend, action, raw)


@pytest.mark.parametrize(
    ("backend", "action", "raw", "item"),
    [
        ("ping", "echo", {"message": "$(touch /tmp/x)"}, "$(touch /tmp/x)"),
        ("ping", "echo", {"message": "%s%n -n"}, "%s%n -n"),
        ("test", "succeed", {"message": "; reboot"}, "; reboot"),
        ("test", "fail", {"message": "`id` && $HOME"}, "`id` && $HOME"),
        ("rke2", "install", {"flags": ["--x", "$(reboot)"]}, "$(reboot)"),
        ("cmd", "run", {"argv": ["echo", "a; b"]}, "a; b"),
    ],
    ids=["echo-subst", "echo-format", "succeed", "fail", "rke2-flag", "cmd-argv"],
)
def test_free_text_is_one_argv_item(
    backend: str, action: str, raw: dict[str, Any], item: str
) -> None:
    prog = program(backend, action, **raw)
    assert item in (prog.commands[-1].argv or ())
    assert all(c.shell is None for c in prog.commands)


@pytest.mark.parametrize(
    ("backend", "action", "raw", "message"),
    [
        ("ping", "echo", {"message": "a\x00b"},
         "ping echo: a parameter contains a NUL character, which no command can receive"),
        ("cmd", "run", {"argv": ["true"], "env": {"A=B": "x"}},
         "cmd run: environment name 'A=B' is not valid: it must be non-empty, without '=' or NUL "
         "(e.g. MY_VAR)"),
        ("cmd", "run", {"argv": ["true"], "env": {"A": "x\x00"}},
         "cmd run: environment variable A contains a NUL character"),
    ],
    ids=["nul-in-message", "equals-in-env-name", "nul-in-env-value"],
)  # fmt: skip
def test_values_no_process_can_take_are_refused(
    backend: str, action: str, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParams) as info:
        program(backend, action, **raw)
    assert str(info.value) == message


def test_params_of_another_action_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="apt install takes PackageParams, not UnitParams"):
        build_program("apt", "install", catalog.UnitParams(unit="nginx"))
