"""The runner registry: built-ins by name, third parties through entry points."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridflow.runners import registry
from gridflow.runners.base import Resource, Runner

BUILTIN_RUNNERS = [
    "apt", "assert", "cmd", "env_vars", "http_request", "ping", "print", "rke2", "socketio",
    "systemd", "test", "wait",
]  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """The registry caches look-ups; every test starts and ends without them."""

    def clear() -> None:
        registry._third_party.cache_clear()
        registry.get_runner.cache_clear()
        registry.get_resource.cache_clear()

    clear()
    yield
    clear()


@pytest.mark.parametrize("name", BUILTIN_RUNNERS)
def test_every_builtin_runner_resolves(name: str) -> None:
    cls = registry.get_runner(name)
    assert cls is not None
    assert issubclass(cls, Runner)
    assert cls.name == name


def test_runner_names_lists_the_builtins() -> None:
    assert set(BUILTIN_RUNNERS) <= set(registry.runner_names())
    assert registry.runner_names() == sorted(registry.runner_names())


def test_http_client_resource_resolves() -> None:
    cls = registry.get_resource("http_client")
    assert cls is not None
    assert issubclass(cls, Resource)
    assert cls.name == "http_client"
    assert registry.resource_names() == ["http_client"]


@pytest.mark.parametrize(
    ("lookup", "name"),
    [
        (registry.get_runner, "nope"),
        (registry.get_runner, "http_client"),
        (registry.get_resource, "print"),
        (registry.get_resource, "nope"),
    ],
    ids=["unknown-runner", "resource-is-not-a-runner", "runner-is-not-a-resource", "unknown"],
)
def test_unknown_names_are_none(lookup: object, name: str) -> None:
    assert callable(lookup)
    assert lookup(name) is None


PLUGIN = """
from __future__ import annotations

from typing import Any

from gridflow.runners.base import Resource, RunContext, Runner, RunnerInputs


class ShoutInputs(RunnerInputs):
    text: str


class ShoutRunner(Runner[ShoutInputs, Any]):
    name = "shout"
    Inputs = ShoutInputs
    Outputs = object

    async def run(self, inputs: ShoutInputs, ctx: RunContext) -> Any:
        return inputs.text.upper()


class NotARunner:
    pass


class CounterArguments(RunnerInputs):
    start: int = 0


class Counter(Resource[CounterArguments]):
    # Shared by every instance that uses it: each takes the next number.

    name = "counter"
    Arguments = CounterArguments
    events: list[str] = []

    async def open(self) -> None:
        self.value = self.arguments.start
        Counter.events.append("open")

    async def close(self) -> None:
        Counter.events.append("close")

    def next(self) -> int:
        self.value += 1
        return self.value


class CountUpInputs(RunnerInputs):
    pass


class CountUpRunner(Runner[CountUpInputs, Any]):
    name = "count_up"
    Inputs = CountUpInputs
    Outputs = object
    uses = {"counter": "counter"}

    async def run(self, inputs: CountUpInputs, ctx: RunContext) -> Any:
        return ctx.resources["counter"].next()
"""

ENTRY_POINTS = """
[gridflow.runners]
shout = gridflow_test_plugin:ShoutRunner
print = gridflow_test_plugin:ShoutRunner
broken = gridflow_test_plugin:NotARunner
count_up = gridflow_test_plugin:CountUpRunner

[gridflow.resources]
counter = gridflow_test_plugin:Counter
http_client = gridflow_test_plugin:Counter
not_a_resource = gridflow_test_plugin:ShoutRunner
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny installed distribution: a module plus a dist-info with entry points."""
    (tmp_path / "gridflow_test_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "gridflow_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gridflow-test-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "gridflow_test_plugin", raising=False)
    return tmp_path


def test_third_party_runner_is_found(plugin: Path) -> None:
    assert "shout" in registry.runner_names()
    cls = registry.get_runner("shout")
    assert cls is not None
    assert cls.__name__ == "ShoutRunner"
    import asyncio

    from gridflow.runners.base import RunContext

    out = asyncio.run(cls().run(cls.Inputs(text="hi"), RunContext(step_id="shout.x")))
    assert out == "HI"


def test_third_party_cannot_shadow_a_builtin(
    plugin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gridflow.runners.registry"):
        names = registry.runner_names()
    assert names.count("print") == 1
    cls = registry.get_runner("print")
    assert cls is not None
    assert cls.__module__ == "gridflow.runners.print_"
    assert "ignoring entry point 'print' (group gridflow.runners)" in caplog.text


def test_third_party_that_is_not_a_runner_is_a_clear_error(plugin: Path) -> None:
    with pytest.raises(TypeError, match="entry point 'broken' is not a gridflow Runner subclass"):
        registry.get_runner("broken")


def test_without_the_plugin_the_name_is_unknown() -> None:
    assert "shout" not in registry.runner_names()
    assert registry.get_runner("shout") is None


def test_third_party_resource_is_found(plugin: Path) -> None:
    assert "counter" in registry.resource_names()
    assert "counter" not in registry.runner_names()
    cls = registry.get_resource("counter")
    assert cls is not None
    assert cls.__name__ == "Counter"
    assert registry.get_runner("counter") is None


def test_third_party_resource_cannot_shadow_a_builtin(
    plugin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gridflow.runners.registry"):
        assert registry.resource_names().count("http_client") == 1
    cls = registry.get_resource("http_client")
    assert cls is not None
    assert cls.__module__ == "gridflow.runners.http_client"
    assert "ignoring entry point 'http_client' (group gridflow.resources)" in caplog.text


def test_third_party_resource_that_is_not_a_resource_is_a_clear_error(plugin: Path) -> None:
    with pytest.raises(
        TypeError, match="entry point 'not_a_resource' is not a gridflow Resource subclass"
    ):
        registry.get_resource("not_a_resource")


COUNTER_GRID = """
resource "counter" "tickets" {
  arguments { start = 10 }
}

step "count_up" "take" {
  count = 3
  uses { counter = resource.counter.tickets }
}
"""


def test_a_grid_uses_a_third_party_resource_shared_by_its_instances(
    plugin: Path, tmp_path: Path
) -> None:
    from gridflow.engines.local import run_grid
    from gridflow.translators.hcl import load_grid

    grid = tmp_path / "grid"
    grid.mkdir()
    (grid / "main.hcl").write_text(COUNTER_GRID)
    loaded = load_grid([grid], environ={})
    result = run_grid(loaded.plan, loaded.values).result()
    assert result["status"] == "success", result
    # One counter for the three instances: each took the next number.
    assert sorted(result["steps"]["count_up.take"]["outputs"]) == [11, 12, 13]
    counter = registry.get_resource("counter")
    assert counter is not None
    assert counter.events == ["open", "close"]  # type: ignore[attr-defined]


def test_an_unknown_resource_type_names_the_third_party_ones(plugin: Path, tmp_path: Path) -> None:
    from gridflow.errors import LoadError
    from gridflow.translators.hcl import load_grid

    (tmp_path / "main.hcl").write_text(
        COUNTER_GRID.replace('"counter" "tickets"', '"countr" "tickets"')
    )
    with pytest.raises(LoadError, match=r'main.hcl:2:1: error: unknown resource type "countr"'):
        load_grid([tmp_path], environ={})
