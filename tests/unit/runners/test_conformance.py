"""One contract every built-in runner and resource passes.

A new built-in adds a sample call to ``SAMPLES`` (the coverage test fails
until it does); the rest of the suite then applies to it unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from gridflow.runners import registry
from gridflow.runners.base import Resource, RunContext, Runner
from gridflow.runtime.execute import to_json_value
from tests.support.http_server import LocalHTTPServer
from tests.support.standins import write_standins

RUNNERS = sorted(registry._BUILTIN_RUNNERS)
RESOURCES = sorted(registry._BUILTIN_RESOURCES)

# name -> sample arguments (given the test server's base URL) for one successful run
SAMPLES: dict[str, Callable[[str], dict[str, Any]]] = {
    "print": lambda url: {"input": {"a": [1, 2]}},
    "env_vars": lambda url: {"include": ["PATH"], "defaults": {"GRIDFLOW_CONF_TOKEN": "xyzzy"},
                             "required": ["GRIDFLOW_CONF_TOKEN"]},
    "http_request": lambda url: {"url": f"{url}/json", "expect_status": "2xx"},
    "socketio": lambda url: {"url": url, "emit_event": "echo", "emit_data": {"a": 1},
                             "on_event": "echo_reply", "timeout": "5s"},
    "cmd": lambda url: {"argv": ["echo", "hi"], "timeout": "10s"},
    "assert": lambda url: {"value": {"status_code": 200}, "status": 200},
    "wait": lambda url: {"url": f"{url}/status/200", "timeout": "5s"},
    "apt": lambda url: {"action": "install", "package": "nginx"},
    "systemd": lambda url: {"action": "restart", "unit": "nginx"},
    "rke2": lambda url: {"action": "start", "mode": "agent"},
    "ping": lambda url: {"action": "echo", "message": "hi"},
    "test": lambda url: {"action": "output", "lines": 2, "width": 3},
    # A presigned-URL upload is a plain PUT: the test server takes it.
    "s3": lambda url: {"action": "upload", "source_path": __file__, "upload_url": f"{url}/echo"},
}  # fmt: skip
# Samples that talk to the Socket.IO test server: given its URL instead.
SOCKETIO_SAMPLES = frozenset({"socketio"})

# These would change this machine: their samples run against recording
# stand-ins first on PATH (tests/support/standins.py).
CHANGE_THE_MACHINE = {"apt", "systemd", "rke2"}


def runner(name: str) -> type[Runner[Any, Any]]:
    cls = registry.get_runner(name)
    assert cls is not None, name
    return cls


def resource(name: str) -> type[Resource[Any]]:
    cls = registry.get_resource(name)
    assert cls is not None, name
    return cls


def field_names(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_builtin_has_a_sample() -> None:
    assert sorted(SAMPLES) == RUNNERS


@pytest.mark.parametrize("name", RUNNERS)
def test_declares_name_inputs_outputs(name: str) -> None:
    cls = runner(name)
    assert cls.name == name
    assert isinstance(cls.Inputs, type)
    assert issubclass(cls.Inputs, BaseModel)
    assert cls.Outputs is object or (
        isinstance(cls.Outputs, type) and issubclass(cls.Outputs, BaseModel)
    )
    assert cls.description.strip(), "a one-line description for listings"


@pytest.mark.parametrize("name", RUNNERS)
def test_inputs_forbid_unknown_fields(name: str) -> None:
    cls = runner(name)
    assert cls.Inputs.model_config.get("extra") == "forbid"
    args = {**SAMPLES[name]("http://127.0.0.1:9"), "surely_not_an_argument": 1}
    with pytest.raises(ValidationError) as info:
        cls.Inputs.model_validate(args)
    assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]


@pytest.mark.parametrize("name", RUNNERS)
def test_field_names_are_the_grid_names(name: str) -> None:
    """The loader and engines address arguments by field name: no aliases."""
    cls = runner(name)
    models = [cls.Inputs]
    if isinstance(cls.Outputs, type) and issubclass(cls.Outputs, BaseModel):
        models.append(cls.Outputs)
    for model in models:
        aliased = {n: f.alias for n, f in model.model_fields.items() if f.alias not in (None, n)}
        assert aliased == {}, model.__name__


@pytest.mark.parametrize("name", RUNNERS)
def test_run_is_a_coroutine_function(name: str) -> None:
    assert inspect.iscoroutinefunction(runner(name).run)


@pytest.mark.parametrize("name", RUNNERS)
def test_sensitive_fields_exist(name: str) -> None:
    cls = runner(name)
    assert cls.sensitive_inputs <= field_names(cls.Inputs)
    if cls.sensitive_outputs:
        assert isinstance(cls.Outputs, type)
        assert issubclass(cls.Outputs, BaseModel)
        assert cls.sensitive_outputs <= field_names(cls.Outputs)


@pytest.mark.parametrize("name", RUNNERS)
def test_uses_slots_name_known_resources(name: str) -> None:
    for slot, type_name in runner(name).uses.items():
        assert slot.isidentifier()
        assert registry.get_resource(type_name) is not None, type_name


@pytest.mark.parametrize("name", RUNNERS)
def test_sample_output_is_json(
    name: str,
    http_server: LocalHTTPServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if name in CHANGE_THE_MACHINE:
        monkeypatch.setenv("PATH", write_standins(tmp_path / "standins").path_env())
    cls = runner(name)
    url = (
        request.getfixturevalue("socketio_server").url
        if name in SOCKETIO_SAMPLES
        else http_server.url
    )
    inputs = cls.Inputs.model_validate(SAMPLES[name](url))
    result = asyncio.run(cls().run(inputs, RunContext(step_id=f"{name}.conformance")))
    if isinstance(cls.Outputs, type) and issubclass(cls.Outputs, BaseModel):
        assert isinstance(result, cls.Outputs)
    output = to_json_value(result)
    assert json.loads(json.dumps(output)) == output
    secret_values = getattr(cls, "secret_values", None)
    if secret_values is not None:
        values = secret_values(output)
        assert isinstance(values, list)
        assert all(isinstance(v, str) for v in values)


def test_env_vars_sample_reports_its_secret() -> None:
    cls = runner("env_vars")
    inputs = cls.Inputs.model_validate(SAMPLES["env_vars"](""))
    output = to_json_value(asyncio.run(cls().run(inputs, RunContext(step_id="e.c"))))
    assert cls.secret_values(output) == ["xyzzy"]  # type: ignore[attr-defined]


def test_no_runner_imports_an_engine() -> None:
    paths = [*registry._BUILTIN_RUNNERS.values(), *registry._BUILTIN_RESOURCES.values()]
    modules = [path.partition(":")[0] for path in paths]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'prefect'))\n"
        + "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("name", RESOURCES)
def test_resources_conform(name: str) -> None:
    cls = resource(name)
    assert cls.name == name
    assert cls.description.strip()
    assert cls.Arguments.model_config.get("extra") == "forbid"
    assert cls.sensitive_inputs <= field_names(cls.Arguments)
    assert inspect.iscoroutinefunction(cls.open)
    assert inspect.iscoroutinefunction(cls.close)

    async def lifecycle() -> None:
        instance = cls(cls.Arguments())
        await instance.close()  # safe before open (a failed open is followed by close)
        await instance.open()
        await instance.close()

    asyncio.run(lifecycle())
