"""The tiny interface every runner and resource implements.

A runner is engine-free: typed pydantic inputs and outputs, one ``async run``,
no Airflow or Prefect import. Engines (Prefect tasks, Airflow operators, the
local engine) call it through :mod:`gridflow.runtime`, which evaluates the
arguments, opens the resources named in ``uses`` and applies timeouts.

To add a runner: subclass :class:`Runner`, give it ``name``, ``Inputs`` and
``Outputs``, implement ``run``, and register the class under the
``gridflow.runners`` entry-point group (built-ins are listed in
:mod:`gridflow.runners.registry`).

Runners report failure by raising a :class:`gridflow.errors.RunnerError`
subclass: ``RetryableError`` (retried while attempts remain), ``WaitError``
(not ready, check later), ``ExpectedError`` (a foreseen failure, logged without
a traceback). Any other exception is a bug in the runner and is reported as
such, with its traceback in the log.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

InputsT = TypeVar("InputsT", bound=BaseModel)
OutputsT = TypeVar("OutputsT")


class RunnerInputs(BaseModel):
    """Base of every runner's inputs: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @classmethod
    def refused_argument(cls, name: str) -> str | None:
        """Why ``name`` may never be an argument of this runner, or None.

        The grid loader reports this instead of a plain "unknown argument" (a
        runner that takes credentials only from connections says so here).
        """
        return None


class RunnerOutputs(BaseModel):
    """Base of structured runner outputs (dumped to JSON for expressions)."""

    model_config = ConfigDict(extra="forbid")


@dataclasses.dataclass
class RunContext:
    """What a running instance may know about where it runs."""

    step_id: str
    instance: int | str | None = None  # count index or for_each key
    attempt: int = 1
    resources: dict[str, Any] = dataclasses.field(default_factory=dict)  # slot -> opened resource
    logger: logging.Logger = dataclasses.field(
        default_factory=lambda: logging.getLogger("gridflow.runner")
    )
    # Registers secret values the runner learns while running (a connection's
    # password) with the run's masker, so logs and reports never show them.
    mask: Callable[[Any], None] = dataclasses.field(default=lambda value: None)  # no masker


class Runner(Generic[InputsT, OutputsT]):
    """Base class of runners. Subclasses set the class attributes and ``run``."""

    name: ClassVar[str]
    Inputs: ClassVar[type[BaseModel]]
    Outputs: ClassVar[type[Any]]  # a pydantic model, or a plain type such as object
    description: ClassVar[str] = ""
    # uses-slot name -> resource type name it accepts (e.g. {"client": "http_client"})
    uses: ClassVar[dict[str, str]] = {}
    # inputs/outputs whose values are always masked in logs and reports
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset()
    sensitive_outputs: ClassVar[frozenset[str]] = frozenset()

    async def run(self, inputs: InputsT, ctx: RunContext) -> OutputsT:
        raise NotImplementedError


class Resource(Generic[InputsT]):
    """Base class of shared, stateful resources (``resource "<type>" "<name>"``).

    One object per resource per worker process, opened on first use and
    closed when the run ends; every instance that ``uses`` it shares it.
    """

    name: ClassVar[str]
    Arguments: ClassVar[type[BaseModel]]
    description: ClassVar[str] = ""
    sensitive_inputs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, arguments: InputsT) -> None:
        self.arguments = arguments

    async def open(self) -> None:
        """Acquire what the resource holds (pools, sessions)."""

    async def close(self) -> None:
        """Release it; must be safe to call after a failed ``open``."""
