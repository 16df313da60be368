"""The apt/systemd/rke2/ping/test grid runners: inputs built from the catalog,
clear refusals, and real runs on the worker (stand-ins for what needs root)."""

from __future__ import annotations

import asyncio
import os
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.backends import catalog
from gridflow.backends.program import BuildContext
from gridflow.backends.test_backend import flaky_fails
from gridflow.errors import ExpectedError
from gridflow.runners import registry
from gridflow.runners.base import RunContext, Runner
from gridflow.runners.node_actions import NodeActionInputs
from tests.support.standins import Standins

BACKENDS = ["apt", "systemd", "rke2", "ping", "test"]


def runner(name: str) -> type[Runner[Any, Any]]:
    cls = registry.get_runner(name)
    assert cls is not None
    return cls


def run(name: str, ctx: RunContext | None = None, **args: Any) -> dict[str, Any]:
    cls = runner(name)
    inputs = cls.Inputs.model_validate(args)
    out = asyncio.run(cls().run(inputs, ctx or RunContext(step_id=f"{name}.t")))
    return out.model_dump(mode="json")  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_action_plus_every_catalog_parameter(backend: str) -> None:
    inputs = runner(backend).Inputs
    assert issubclass(inputs, NodeActionInputs)
    expected = {"action"}
    for action in catalog.action_names(backend):
        spec = catalog.get_action(backend, action)
        assert spec is not None
        expected |= set(spec.params.model_fields)
    assert set(inputs.model_fields) == expected
    assert all(not f.is_required() for n, f in inputs.model_fields.items() if n != "action")


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_runner_is_a_class_of_its_own_where_the_registry_points(backend: str) -> None:
    # The classes are made from one table: each keeps its name, import path and docs.
    cls = runner(backend)
    assert f"{cls.__module__}:{cls.__qualname__}" == registry._BUILTIN_RUNNERS[backend]
    assert cls.__name__ == f"{backend.capitalize()}Runner"
    assert cls.__doc__ == cls.description
    assert pickle.loads(pickle.dumps(cls)) is cls  # found again by its path


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("apt", {"action": "install"}, 'apt install needs "package"'),
        ("apt", {"action": "update", "package": "nginx"},
         'apt update takes no parameter "package" (it takes none)'),
        ("apt", {"action": "install", "package": "nginx; reboot"},
         "String should match pattern"),
        ("systemd", {"action": "enable"}, 'systemd enable needs "unit"'),
        ("ping", {"action": "echo", "duration": "1s"},
         'ping echo takes no parameter "duration" (it takes: message)'),
        ("test", {"action": "sleep"}, 'test sleep needs "duration"'),
        ("test", {"action": "output", "lines": "many"}, "Input should be a valid integer"),
        ("test", {"action": "flaky", "rate": 101}, "less than or equal to 100"),
        ("test", {"action": "explode"}, "Input should be 'fail', 'flaky', 'output', 'sleep'"),
        ("rke2", {"action": "start", "mode": "master"}, "Input should be 'server' or 'agent'"),
        ("ping", {}, "Field required"),
    ],
    ids=["missing-param", "param-of-no-action", "hostile-package", "systemd-missing",
         "param-of-another-action", "test-missing", "wrong-type", "out-of-range",
         "unknown-action", "bad-mode", "no-action"],
)  # fmt: skip
def test_bad_arguments(name: str, args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        runner(name).Inputs.model_validate(args)
    assert message in str(info.value)


def test_apt_install_output(standins: Standins) -> None:
    out = run("apt", action="install", package="nginx")
    assert out["changed"] is True
    assert out["exit_code"] == 0
    assert out["commands"] == [
        "dpkg-query -W -f '${Status}\\t${Version}\\n' nginx",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx",
    ]
    assert out["duration_ms"] > 0
    assert standins.calls("apt-get")[0]["env"] == {"DEBIAN_FRONTEND": "noninteractive"}
    assert run("apt", action="install", package="nginx")["changed"] is False


def test_failure_is_an_expected_error_with_the_stderr_tail(standins: Standins) -> None:
    standins.behave("systemctl", exit=5, stderr="Failed to start nginx.service: Unit not found.\n")
    with pytest.raises(ExpectedError) as info:
        run("systemd", action="restart", unit="nginx")
    assert info.value.message == (
        "systemd restart: systemctl restart nginx exited with 5: "
        "Failed to start nginx.service: Unit not found."
    )
    output = info.value.details["output"]
    assert isinstance(output, dict)
    assert output["exit_code"] == 5


def test_test_fail_message() -> None:
    with pytest.raises(ExpectedError) as info:
        run("test", action="fail", message="as planned")
    assert info.value.message == "test fail: as planned"


def test_ping_runs_on_the_worker() -> None:
    assert run("ping", action="hostname")["output"] == os.uname().nodename
    assert run("ping", action="echo", message="${x} $(y)")["output"] == "${x} $(y)"


@pytest.mark.parametrize("instance", [0, 1, 2, 3, "a", "b"], ids=lambda v: repr(v))
def test_flaky_draw_is_seeded_per_step_instance_and_attempt(instance: int | str) -> None:
    for attempt in (1, 2):
        ctx = RunContext(step_id="test.flaky", instance=instance, attempt=attempt)
        seed = f"test.flaky[{instance!r}]"
        fails = flaky_fails(50, BuildContext(node_id="local", attempt=attempt, seed=seed))
        if fails:
            with pytest.raises(ExpectedError, match=r"^test flaky: failed this time"):
                run("test", ctx, action="flaky", rate=50)
        else:
            assert run("test", ctx, action="flaky", rate=50)["output"].startswith(
                "passed this time"
            )
