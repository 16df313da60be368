"""``print``: log a value and pass it on as the step's output."""

from __future__ import annotations

import json
from typing import Any

from gridflow.runners.base import RunContext, Runner, RunnerInputs


class PrintInputs(RunnerInputs):
    input: Any = None


class PrintRunner(Runner[PrintInputs, Any]):
    """Logs ``input`` (non-strings as JSON) and returns it unchanged."""

    name = "print"
    Inputs = PrintInputs
    Outputs = object
    description = "Print a value to the run log and return it."

    async def run(self, inputs: PrintInputs, ctx: RunContext) -> Any:
        value = inputs.input
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        ctx.logger.info("%s: %s", ctx.step_id, text)
        return value
