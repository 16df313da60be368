"""Fleet jobs (SPEC §2, §3): the YAML job language, inventories and targets.

The front end only: a job file becomes a :class:`JobPlan` (engine-neutral,
JSON round trip), an inventory file a list of
:class:`~gridflow.nodes.base.NodeSpec`, and a target the nodes it selects.
Every problem in either file is reported at its file:line:col in one
:class:`~gridflow.errors.LoadError`. :func:`load_job` is the single entry
point the run command uses.
"""

from gridflow.jobs.inventory import (
    INVENTORY_ENV,
    Inventory,
    find_inventory,
    load_inventory,
)
from gridflow.jobs.load import JobCheck, check_job, load_job
from gridflow.jobs.model import (
    JOB_PLAN_VERSION,
    BackendCheck,
    Backoff,
    Check,
    Checks,
    Concurrency,
    FailureBudget,
    HttpCheck,
    JobPlan,
    Phase,
    Target,
    Task,
)
from gridflow.jobs.targets import parse_target_text, select, target_from_cli
from gridflow.jobs.translate import read_job, translate_job

__all__ = [
    "INVENTORY_ENV",
    "JOB_PLAN_VERSION",
    "BackendCheck",
    "Backoff",
    "Check",
    "Checks",
    "Concurrency",
    "FailureBudget",
    "HttpCheck",
    "Inventory",
    "JobCheck",
    "JobPlan",
    "Phase",
    "Target",
    "Task",
    "check_job",
    "find_inventory",
    "load_inventory",
    "load_job",
    "parse_target_text",
    "read_job",
    "select",
    "target_from_cli",
    "translate_job",
]
