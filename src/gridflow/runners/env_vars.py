"""``env_vars``: read environment variables of the worker into the step's output.

Output: ``{"vars": {name: value}, "secret_names": [name, ...]}``.

Masking contract with the runtime: :meth:`EnvVarsRunner.secret_values` takes
the step's JSON output and returns the values that must never be shown — the
value of every name listed in ``secret_names``. A name is listed when the
variable's full name looks secret (contains PASS, TOKEN, SECRET or KEY, in any
case; see :mod:`gridflow.runners._masking`), or for every name when the step
sets ``sensitive = true``. The list is in the output, not computed from the
output's keys, so a name shortened by ``strip_prefix`` (``MY_SECRET_HOST``
-> ``HOST``) keeps the verdict of its full name. Downstream steps see the
real values; only logs and reports are masked.

Arguments (all optional; none at all means every variable):

- ``prefix``: only variables whose name starts with it; ``strip_prefix``
  removes it from the names in the output.
- ``include``: only these variables (full names).
- ``required``: these must be set, in the environment or in ``defaults``;
  otherwise the step fails naming every missing one.
- ``defaults``: values for variables that are not set.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, model_validator

from gridflow.errors import ExpectedError
from gridflow.runners._masking import looks_secret
from gridflow.runners.base import RunContext, Runner, RunnerInputs, RunnerOutputs


class EnvVarsInputs(RunnerInputs):
    include: list[str] | None = None
    required: list[str] = Field(default_factory=list)
    defaults: dict[str, str] = Field(default_factory=dict)
    prefix: str = ""
    strip_prefix: bool = False
    sensitive: bool = False

    @model_validator(mode="after")
    def _names_carry_the_prefix(self) -> EnvVarsInputs:
        if not self.prefix:
            return self
        for field in ("include", "required", "defaults"):
            for name in getattr(self, field) or ():
                if not name.startswith(self.prefix):
                    raise ValueError(
                        f'{field} names the variable "{name}", which does not start with '
                        f'prefix "{self.prefix}"; write the full name, e.g. '
                        f'"{self.prefix}{name}"'
                    )
        return self


class EnvVarsOutputs(RunnerOutputs):
    vars: dict[str, str]
    secret_names: list[str]


class EnvVarsRunner(Runner[EnvVarsInputs, EnvVarsOutputs]):
    """Environment variables (filtered, defaulted, checked) as a map."""

    name = "env_vars"
    Inputs = EnvVarsInputs
    Outputs = EnvVarsOutputs
    description = "Read environment variables; names that look secret are masked."

    async def run(self, inputs: EnvVarsInputs, ctx: RunContext) -> EnvVarsOutputs:
        return read_env(inputs, dict(os.environ))

    @staticmethod
    def secret_values(output: Any) -> list[str]:
        """The output values the runtime must mask (see the module docstring)."""
        if not isinstance(output, dict):
            return []
        found = output.get("vars")
        names = output.get("secret_names")
        if not isinstance(found, dict) or not isinstance(names, list):
            return []
        return [str(found[n]) for n in names if n in found]


def read_env(inputs: EnvVarsInputs, environ: dict[str, str]) -> EnvVarsOutputs:
    """The output for ``inputs`` given the environment ``environ``."""
    missing = sorted(
        name for name in set(inputs.required) if name not in environ and name not in inputs.defaults
    )
    if missing:
        listed = ", ".join(missing)
        raise ExpectedError(
            f"required environment variable{'s' if len(missing) > 1 else ''} not set: {listed} "
            f"(export {'them' if len(missing) > 1 else 'it'} on the worker, or give a value "
            f"in defaults)",
            details={"missing": missing},
        )
    merged = {**inputs.defaults, **environ}
    if inputs.include is not None:
        wanted = set(inputs.include) | set(inputs.required)
        selected = {n: merged[n] for n in wanted if n in merged}
    else:
        selected = {n: v for n, v in merged.items() if n.startswith(inputs.prefix)}
    out: dict[str, str] = {}
    secret: list[str] = []
    for name in sorted(selected):
        key = name[len(inputs.prefix) :] if inputs.strip_prefix and inputs.prefix else name
        out[key] = selected[name]
        if inputs.sensitive or looks_secret(name):
            secret.append(key)
    return EnvVarsOutputs(vars=out, secret_names=secret)
