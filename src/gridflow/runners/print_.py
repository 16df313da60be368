"""``print``: log a value and pass it on as the step's output."""

from __future__ import annotations

import json
import logging
from typing import Any

from gridflow.runners.base import RunContext, Runner, RunnerInputs

# Its own logger, so `gridflow run` can show printed values at its default
# verbosity while other runner logs stay quiet.
PRINT_LOG = logging.getLogger("gridflow.print")


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
        label = ctx.step_id if ctx.instance is None else f"{ctx.step_id}[{ctx.instance!r}]"
        PRINT_LOG.info("%s: %s", label, text)
        return value
