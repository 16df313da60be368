"""The Prefect flow every ``gridflow deploy`` deployment runs (``gridflow-grid``).

A deployment names this module's flow by module path (:func:`entrypoint_for`:
``grid[var1,var2]``, the flow whose function declares the grid's variables,
or :data:`grid` for a grid without variables) and carries the grid's
compiled Plan as a parameter, so a worker needs ``pip install
"gridflow[prefect]"`` and nothing else: no grid files, no code storage, no
image build (as a compiled Airflow DAG file embeds its Plan). The grid's
variables are parameters of their own, one per variable, typed and with the
grid's defaults, so ``prefect deployment run NAME -p
name=value`` and the UI's run form work as for any flow.

The run itself is the Prefect engine's (:func:`.prefect.drive_grid`): every
step instance a task run, the same retries, timeouts, concurrency limits and
fail-fast, connections from ``GridflowConnection`` blocks. The flow run ends
Completed or Failed with the run's failure as its message, and publishes the
result document ``gridflow run -o json`` prints as a markdown artifact (key
:func:`artifact_key`); the flow also returns it.

Importing this module imports Prefect: only workers and ``gridflow deploy``
do.
"""

from __future__ import annotations

import functools
import inspect
import json
import keyword
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from prefect import Flow
from prefect.task_runners import ThreadPoolTaskRunner

from gridflow.errors import UsageError
from gridflow.plan import Plan
from gridflow.runtime.scheduler import GridRun

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner

__all__ = [
    "ENTRYPOINT",
    "FLOW_NAME",
    "MAX_PARALLEL_PARAMETER",
    "PLAN_PARAMETER",
    "RESERVED_PARAMETERS",
    "artifact_key",
    "entrypoint_for",
    "grid",
    "result_from_markdown",
    "run_values",
]

FLOW_NAME = "gridflow-grid"
ENTRYPOINT = f"{__name__}.grid"
PLAN_PARAMETER = "gridflow_plan"
MAX_PARALLEL_PARAMETER = "gridflow_max_parallel"
RESERVED_PARAMETERS = (PLAN_PARAMETER, MAX_PARALLEL_PARAMETER)

_NOT_KEY = re.compile(r"[^a-z0-9-]+")
_JSON_FENCE = re.compile(r"```json\n(.*?)\n```", re.S)


def _run_grid(
    gridflow_plan: dict[str, Any], gridflow_max_parallel: int = 100, **variables: Any
) -> Any:
    """Run the grid ``gridflow_plan`` with ``variables`` (its variable values)."""
    from prefect.runtime import flow_run

    from gridflow.engines.prefect import drive_grid
    from gridflow.engines.prefect_flow import block_connections

    plan = Plan.model_validate(gridflow_plan)
    values = run_values(plan, variables, os.environ)
    run = GridRun(
        plan,
        values,
        run_id=flow_run.id or None,
        environ=dict(os.environ),
        max_parallel=max(1, gridflow_max_parallel),
    )
    with block_connections():
        state = drive_grid(run)
    doc = run.result()
    _publish(plan, doc)
    if state.is_completed():
        return doc
    return state


def run_values(plan: Plan, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The run's variable values: the grid's defaults, then ``GRIDFLOW_VAR_*`` on
    the worker, then the flow run's parameters (the deployment's defaults and
    what the run was triggered with).

    A parameter that is null (a form left empty, a sensitive variable nobody
    gave) does not override. A missing value fails the run saying where to
    give it.
    """
    from gridflow.translators.hcl.varsources import scheduler_values

    values, missing = scheduler_values(plan.variables, given, environ)
    if missing:
        names = ", ".join(missing)
        raise UsageError(
            f"no value for variable(s) {names}: run the deployment with "
            f"-p {missing[0]}=VALUE (prefect deployment run) or set "
            f"GRIDFLOW_VAR_{missing[0]} where the flow runs (the worker's environment)"
        )
    return values


def artifact_key(plan_name: str) -> str:
    """The key of a grid's result artifacts (Prefect keys: lower-case, digits, dashes)."""
    return "gridflow-" + (_NOT_KEY.sub("-", plan_name.lower()).strip("-") or "grid")


def _publish(plan: Plan, doc: dict[str, Any]) -> None:
    """The result document as a markdown artifact: a table of the steps, then
    the document itself (secrets already masked by :meth:`GridRun.result`)."""
    from prefect.artifacts import create_markdown_artifact

    rows = [
        "| step | status | instances | failed | attempts | error |",
        "|---|---|---|---|---|---|",
    ]
    for step_id, entry in doc["steps"].items():
        errors = entry.get("errors") or []
        error = errors[0]["message"] if errors else ""
        rows.append(
            f"| `{step_id}` | {entry.get('status', '')} | {entry.get('instances', '')} | "
            f"{entry.get('failed', '')} | {entry.get('attempts', '')} | {_cell(error)} |"
        )
    text = "\n".join(
        [
            f"# {plan.name}: {doc['status']}",
            "",
            *rows,
            "",
            "The result document (as `gridflow run -o json` prints it):",
            "",
            "```json",
            json.dumps(doc, indent=2, default=str),
            "```",
        ]
    )
    create_markdown_artifact(
        markdown=text,
        key=artifact_key(plan.name),
        description=f"gridflow result of grid {plan.name}",
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def result_from_markdown(markdown: str) -> dict[str, Any]:
    """The result document inside a result artifact's markdown."""
    found = _JSON_FENCE.search(markdown)
    if found is None:
        raise ValueError("not a gridflow result artifact: no ```json block")
    doc: dict[str, Any] = json.loads(found.group(1))
    return doc


def entrypoint_for(variables: Sequence[str]) -> str:
    """The entrypoint of the flow for a grid with these variables (in order).

    Prefect calls a flow with its run's parameters by name and refuses names
    the function does not declare, so each set of variable names needs a
    function declaring them: ``grid[a,b]`` is made on import (module
    ``__getattr__``); ``grid`` serves grids without variables.
    """
    bad = [n for n in variables if not n.isidentifier() or keyword.iskeyword(n)]
    if bad:
        raise UsageError(
            f'variable "{bad[0]}" cannot be a Prefect parameter: parameter names are '
            "Python identifiers (letters, digits, underscores; not a keyword); rename it"
        )
    if not variables:
        return ENTRYPOINT
    return f"{__name__}.grid[{','.join(variables)}]"


@functools.cache
def _flow_for(variables: tuple[str, ...]) -> Flow[..., Any]:
    def run(gridflow_plan: dict[str, Any], gridflow_max_parallel: int = 100, **values: Any) -> Any:
        return _run_grid(gridflow_plan, gridflow_max_parallel, **values)

    keyword_only = inspect.Parameter.KEYWORD_ONLY
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [
            inspect.Parameter(PLAN_PARAMETER, positional, annotation=dict[str, Any]),
            inspect.Parameter(MAX_PARALLEL_PARAMETER, positional, default=100, annotation=int),
            *(
                inspect.Parameter(name, keyword_only, default=None, annotation=Any)
                for name in variables
            ),
        ]
    )
    # What Prefect reads to match a run's parameters with the function's.
    setattr(run, "__signature__", signature)  # noqa: B010 - functions declare no such attribute
    return Flow(
        run,
        name=FLOW_NAME,
        description="A gridflow grid, run from the compiled Plan its deployment carries.",
        # The run's own limit (gridflow_max_parallel) bounds the instances in
        # flight; the pool only has to have a thread for each.
        task_runner=cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=None)),
        log_prints=False,
    )


_ATTRIBUTE = re.compile(r"grid\[([^\]]*)\]")


def __getattr__(name: str) -> Any:
    found = _ATTRIBUTE.fullmatch(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _flow_for(tuple(n for n in found.group(1).split(",") if n))


grid = _flow_for(())
"""The flow of grids without variables (entrypoint :data:`ENTRYPOINT`)."""
