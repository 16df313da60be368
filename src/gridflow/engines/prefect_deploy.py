"""``gridflow deploy``: a grid as a Prefect deployment of :data:`.prefect_deployed.grid`.

The deployment carries the grid's compiled Plan (sensitive defaults
removed) and one parameter per variable, typed by the grid's declaration,
with the value the grid gives it as the default; a sensitive variable's
parameter has no default and nothing of its value is written anywhere
(docs/decisions/0011-prefect-deployments.md). It is either served by this
process (like ``flow.serve``) or registered on a work pool, whose workers
import the flow by module path (like ``flow.deploy`` with an
``EntrypointType.MODULE_PATH`` entrypoint): nothing to build or push.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from gridflow._version import __version__
from gridflow.errors import UsageError
from gridflow.plan import Plan, Variable
from gridflow.plan.schema import json_schema, nullable
from gridflow.plan.variables import public_plan

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

# Characters Prefect refuses in deployment names (they break its URLs and
# the "flow/deployment" form of names).
_BAD_NAME = re.compile(r"[/%&<>]")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When the deployment runs by itself: ``cron`` or ``interval_s``, or neither."""

    cron: str | None = None
    interval_s: float | None = None


def schedule_of(cron: str | None, interval: str | None) -> Schedule:
    """The ``--cron`` / ``--interval`` options, checked."""
    from gridflow.plan.durations import parse_duration

    if cron is not None and interval is not None:
        raise UsageError("give --cron or --interval, not both")
    if cron is not None:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=cron)
        except ValueError as exc:
            raise UsageError(
                f'invalid --cron "{cron}": expected five fields, e.g. "*/15 * * * *" '
                f'(every 15 minutes) or "0 6 * * mon-fri" ({_first_line(exc)})'
            ) from None
        return Schedule(cron=cron)
    if interval is not None:
        try:
            seconds = parse_duration(interval)
        except ValueError as exc:
            raise UsageError(f"--interval: {exc}") from None
        if seconds < 1:
            raise UsageError(f'--interval "{interval}" is shorter than a second')
        return Schedule(interval_s=seconds)
    return Schedule()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def check_api() -> str:
    """The Prefect API's URL, after checking that it answers; a usage error
    saying how to configure one otherwise (a deployment needs a server that
    outlives this command, never Prefect's temporary one)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UsageError(
            "gridflow deploy needs a Prefect API (a server or Prefect Cloud), and none is "
            "configured: set PREFECT_API_URL, e.g. run `prefect server start` and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api "
            "(or `prefect config set PREFECT_API_URL=...`)"
        )
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise UsageError(
            f"cannot reach the Prefect API at {url} (PREFECT_API_URL): "
            f"{type(problem).__name__}: {problem}; is the server running?"
        )
    return str(url)


def check_work_pool(name: str) -> str:
    """The work pool's type; a usage error naming the fix when it does not exist."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            raise UsageError(
                f'work pool "{name}" does not exist on the Prefect API: create it with '
                f"`prefect work-pool create {name} --type process` and start a worker "
                f"where gridflow is installed: `prefect worker start --pool {name}`"
            ) from None
    return str(pool.type)


def deployment_name(plan: Plan, name: str | None) -> str:
    """``name`` checked, or the grid's name made acceptable to Prefect."""
    if name is not None:
        if not name.strip() or _BAD_NAME.search(name):
            raise UsageError(
                f'invalid deployment name "{name}": use letters, digits, dashes, '
                "underscores, dots or spaces (not / % & < >)"
            )
        return name
    return _BAD_NAME.sub("-", plan.name) or "grid"


def build_deployment(
    plan: Plan,
    values: Mapping[str, Any],
    *,
    name: str,
    schedule: Schedule,
    max_parallel: int,
    work_pool: str | None = None,
    tags: list[str] | None = None,
) -> RunnerDeployment:
    """The deployment of ``plan``; ``values`` are the variables' values at deploy
    time (the grid's defaults, -var, -var-file, profile): the non-sensitive
    ones become parameter defaults, the sensitive ones are left out."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.types.entrypoint import EntrypointType
    from prefect.utilities.callables import ParameterSchema

    from .prefect_deployed import (
        MAX_PARALLEL_PARAMETER,
        PLAN_PARAMETER,
        RESERVED_PARAMETERS,
        entrypoint_for,
        grid,
    )

    clash = [n for n in plan.variables if n in RESERVED_PARAMETERS]
    if clash:
        var = plan.variables[clash[0]]
        raise UsageError(
            f'variable "{var.name}" (declared at {var.loc}) has the name of a parameter '
            "gridflow's deployments reserve; rename it"
        )
    shown = public_plan(plan)
    plan_doc = json.loads(shown.to_json(indent=None))
    defaults = public_defaults(plan, values)
    parameters: dict[str, Any] = {
        **defaults,
        PLAN_PARAMETER: plan_doc,
        MAX_PARALLEL_PARAMETER: max_parallel,
    }
    if schedule.cron or schedule.interval_s:
        unset = [n for n, v in plan.variables.items() if not v.sensitive and n not in defaults]
        if unset:
            raise UsageError(
                f"scheduled runs need a value for variable(s) {', '.join(unset)}: "
                f"give it with -var {unset[0]}=VALUE (or a default in the grid)"
            )
    deployment = RunnerDeployment.from_flow(
        grid,
        name=name,
        cron=schedule.cron,
        interval=timedelta(seconds=schedule.interval_s) if schedule.interval_s else None,
        parameters=parameters,
        description=_description(plan),
        tags=["gridflow", *(tags or [])],
        version=plan_version(shown),
        enforce_parameter_schema=True,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # Prefect derives the entrypoint from the function's name; the flow a
    # worker imports is the module attribute for the grid's variables.
    deployment.entrypoint = entrypoint_for(list(plan.variables))
    # Prefect has no public setter: the schema is what from_flow read off the function.
    deployment._parameter_openapi_schema = ParameterSchema(
        **parameter_schema(plan, defaults, plan_doc, max_parallel)
    )
    return deployment


def public_defaults(plan: Plan, values: Mapping[str, Any]) -> dict[str, Any]:
    """The deploy-time values that may be stored: every non-sensitive one, as JSON."""
    return {
        name: to_jsonable_python(values[name])
        for name, var in plan.variables.items()
        if not var.sensitive and values.get(name) is not None
    }


def parameter_schema(
    plan: Plan, defaults: Mapping[str, Any], plan_doc: dict[str, Any], max_parallel: int
) -> dict[str, Any]:
    """The deployment's parameter schema (what the UI's run form and the API's
    validation read): one typed entry per variable, then gridflow's own two."""
    from .prefect_deployed import MAX_PARALLEL_PARAMETER, PLAN_PARAMETER

    properties: dict[str, Any] = {}
    required: list[str] = []
    for position, (name, var) in enumerate(plan.variables.items()):
        entry = _variable_schema(var)
        entry["position"] = position
        if name in defaults:
            entry["default"] = defaults[name]
        elif not var.sensitive:
            required.append(name)
        properties[name] = entry
    n = len(properties)
    properties[MAX_PARALLEL_PARAMETER] = {
        "title": MAX_PARALLEL_PARAMETER,
        "description": "Step instances in flight at most (gridflow run --max-parallel).",
        "type": "integer",
        "minimum": 1,
        "default": max_parallel,
        "position": n,
    }
    properties[PLAN_PARAMETER] = {
        "title": PLAN_PARAMETER,
        "description": "The grid's compiled Plan, written by gridflow deploy; "
        "deploy again to change it.",
        "type": "object",
        "readOnly": True,
        "default": plan_doc,
        "position": n + 1,
    }
    return {"properties": properties, "required": required}


def _variable_schema(var: Variable) -> dict[str, Any]:
    schema = json_schema(var.type)
    description = var.description
    if var.sensitive:
        # No default, ever; null lets a run leave it to the worker's environment.
        schema = nullable(schema)
        if var.type.kind == "string":
            schema["format"] = "password"
        note = (
            f"sensitive: set GRIDFLOW_VAR_{var.name} where the flow runs, or give it "
            "when triggering (Prefect then stores it with the flow run)"
        )
        description = f"{description} ({note})" if description else note[0].upper() + note[1:]
    entry: dict[str, Any] = {"title": var.name, **schema}
    if description:
        entry["description"] = description
    return entry


def _description(plan: Plan) -> str:
    files = ", ".join(plan.sources) if plan.sources else "its grid files"
    return (
        f"gridflow grid `{plan.name}`, compiled from {files} by gridflow {__version__}. "
        "Runs on any Prefect worker with gridflow[prefect] installed; no grid files needed."
    )


def plan_version(plan: Plan) -> str:
    """The deployment's version: which Plan it runs (a hash of the public Plan)."""
    digest = hashlib.sha256(plan.to_json(indent=None).encode()).hexdigest()[:12]
    return f"plan-{digest}"


def register(deployment: RunnerDeployment, work_pool: str) -> str:
    """Create or update the deployment on ``work_pool``; its id."""
    from prefect.client.schemas.objects import VersionInfo
    from prefect.deployments.runner import DeploymentApplyError

    # "prefect:simple": the Plan's version as it is; Prefect would otherwise
    # attach version information from the git checkout of the current directory.
    version_info = VersionInfo(version=deployment.version or "", type="prefect:simple")
    try:
        deployment_id = deployment.apply(work_pool_name=work_pool, version_info=version_info)
    except DeploymentApplyError as exc:
        raise UsageError(f"the Prefect API refused the deployment: {exc}") from exc
    return str(deployment_id)


def serve(deployment: RunnerDeployment, secrets: Mapping[str, str]) -> None:
    """Serve the deployment in this process until interrupted (Ctrl-C, SIGTERM).

    Flow runs are subprocesses of this one; deploy-time values of sensitive
    variables reach them through their environment (``secrets``:
    ``GRIDFLOW_VAR_<name>`` -> text), never through the API.
    """
    from prefect import serve as prefect_serve

    os.environ.update(secrets)
    prefect_serve(deployment, print_starting_message=False)


def secret_environment(plan: Plan, values: Mapping[str, Any]) -> dict[str, str]:
    """``GRIDFLOW_VAR_<name>`` for each sensitive variable with a value at deploy
    time (the grid's default included: the stored Plan has none), as text the
    flow reads back with the variable's type."""
    out: dict[str, str] = {}
    for name, var in plan.variables.items():
        value = values.get(name)
        if not var.sensitive or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(to_jsonable_python(value))
        out[f"GRIDFLOW_VAR_{name}"] = text
    return out
