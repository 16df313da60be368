"""``apt``, ``systemd``, ``rke2``, ``ping``, ``test``: fleet backends as grid runners.

The same actions as in jobs (SPEC §2), run on the worker itself (a
:class:`~gridflow.nodes.local.LocalSession`)::

    step "apt" "nginx" {
      arguments {
        action  = "install"
        package = "nginx"
      }
    }

Arguments: ``action`` and that action's parameters, flattened (each
runner's inputs are every parameter name its actions use; the chosen
action's catalog model decides which are allowed and required, with a
message listing them). Output: ``output`` (stdout, or a note such as
"nginx is already installed"), ``exit_code``, ``changed`` (null when the
backend cannot tell), ``duration_ms``, ``commands`` (what ran, shell-quoted)
and ``output_truncated``. A failed command fails the step with an
:class:`~gridflow.errors.ExpectedError` ending with the end of its stderr.

The step's ``timeout`` stops the action (its process group is killed); a
retry is a new attempt, and ``test flaky`` draws afresh per attempt and per
instance (the draw is seeded with the step id and instance key). ``cmd``
stays its own runner (:mod:`gridflow.runners.cmd`), with more options.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import Field, PrivateAttr, create_model, model_validator
from pydantic_core import PydanticCustomError

from gridflow.backends.actions import InvalidParams, UnknownAction, parse_params, run_action
from gridflow.backends.catalog import ActionParams, action_names, get_action
from gridflow.errors import ExpectedError
from gridflow.nodes.local import LocalSession
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs

__all__ = [
    "AptRunner",
    "NodeActionInputs",
    "NodeActionOutputs",
    "PingRunner",
    "Rke2Runner",
    "SystemdRunner",
    "TestRunner",
]


class NodeActionInputs(RunnerInputs):
    """Base of the generated inputs: ``action`` plus every parameter name."""

    backend: ClassVar[str]
    action: str
    _params: ActionParams | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _params_fit_the_action(self) -> NodeActionInputs:
        given = {
            name: value
            for name in self.model_fields_set - {"action"}
            if (value := getattr(self, name)) is not None
        }
        try:
            self._params = parse_params(self.backend, self.action, given)
        except (UnknownAction, InvalidParams) as exc:
            raise PydanticCustomError(
                "action_params", "{message}", {"message": exc.message}
            ) from exc
        return self

    @property
    def params(self) -> ActionParams:
        """The chosen action's validated parameters (a catalog model)."""
        assert self._params is not None, "validated inputs always carry params"
        return self._params


class NodeActionOutputs(RunnerOutputs):
    output: str
    exit_code: int
    changed: bool | None
    duration_ms: float
    commands: list[str]
    output_truncated: bool = False


def inputs_model(backend: str) -> type[NodeActionInputs]:
    """The inputs model of ``backend``: ``action`` (one of its actions) and
    every parameter any of them takes, optional and typed as in the catalog
    (so a grid's literal values are checked by ``gridflow validate``)."""
    actions = action_names(backend)
    fields: dict[str, Any] = {"action": (Literal.__getitem__(tuple(actions)), ...)}
    seen: dict[str, Any] = {}
    for action in actions:
        spec = get_action(backend, action)
        assert spec is not None
        for name, info in spec.params.model_fields.items():
            annotation: Any = info.annotation
            if info.metadata:
                annotation = Annotated.__class_getitem__((annotation, *info.metadata))  # type: ignore[attr-defined]
            if name in seen and seen[name] != annotation:
                raise TypeError(f"{backend}: parameter {name!r} has two types in the catalog")
            seen[name] = annotation
            fields[name] = (annotation | None, Field(default=None))
    model = create_model(
        f"{backend.capitalize()}Inputs",
        __base__=NodeActionInputs,
        __module__=__name__,
        **fields,
    )
    model.backend = backend
    return cast(type[NodeActionInputs], model)


class _NodeActionRunner(Runner[NodeActionInputs, NodeActionOutputs]):
    Outputs = NodeActionOutputs

    async def run(self, inputs: NodeActionInputs, ctx: RunContext) -> NodeActionOutputs:
        seed = ctx.step_id if ctx.instance is None else f"{ctx.step_id}[{ctx.instance!r}]"
        result = await run_action(
            LocalSession(),
            self.name,
            inputs.action,
            inputs.params,
            timeout_s=None,  # the step's timeout cancels us, which kills the command
            attempt=ctx.attempt,
            seed=seed,
        )
        outputs = NodeActionOutputs(
            output=result.output,
            exit_code=result.exit_code,
            changed=result.changed,
            duration_ms=result.duration_s * 1000,
            commands=list(result.commands),
            output_truncated=result.output_truncated,
        )
        if not result.ok:
            raise ExpectedError(
                f"{self.name} {inputs.action}: {result.error}",
                details={"output": outputs.model_dump(mode="json")},
            )
        return outputs


# One runner per fleet backend; they differ only in these. The registry
# (gridflow.runners.registry) imports each by its class name, <Backend>Runner.
_DESCRIPTIONS: dict[str, str] = {
    "apt": "Debian packages on the worker: update, install, remove, upgrade (apt-get).",
    "systemd": "systemd units on the worker: start, stop, restart, enable, disable, status.",
    "rke2": "The RKE2 service on the worker: start, stop, restart, status, install.",
    "ping": "Prove the worker answers: echo, hostname, sleep.",
    "test": "Deterministic outcomes for tests and demos: succeed, fail, sleep, flaky, output.",
}


def _runner_class(backend: str) -> type[_NodeActionRunner]:
    """The runner of ``backend``: its name, inputs from the catalog, its description."""
    class_name = f"{backend.capitalize()}Runner"
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": class_name,
        "__doc__": _DESCRIPTIONS[backend],
        "__test__": False,  # TestRunner is not a pytest test class, whatever its name
        "name": backend,
        "Inputs": inputs_model(backend),
        "description": _DESCRIPTIONS[backend],
    }
    return cast(type[_NodeActionRunner], type(class_name, (_NodeActionRunner,), namespace))


AptRunner = _runner_class("apt")
SystemdRunner = _runner_class("systemd")
Rke2Runner = _runner_class("rke2")
PingRunner = _runner_class("ping")
TestRunner = _runner_class("test")
