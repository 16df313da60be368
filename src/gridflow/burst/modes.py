"""Deciding, once per DAG, which fan-outs run as bursts (engines with a fixed
graph: Airflow).

The local and Prefect engines decide when a fan-out is expanded, knowing its
real size. An Airflow DAG's shape is fixed when the file is parsed, so there
the decision is made from what is known then: ``mode``, the burst-only
settings (rate, shards, thresholds) and the fan-out's size computed from the
variables' defaults. The Plan given to the DAG's operators then says
``mode = "burst"`` or ``"tasks"`` explicitly, so every task of a run agrees
with the DAG, whatever params the run is triggered with. A fan-out whose
size depends on upstream outputs (dynamic) runs as mapped tasks unless it
asks for a burst.
"""

from __future__ import annotations

from gridflow.plan import Plan
from gridflow.runtime.scheduler import GridRun, burst_threshold_from_env, wants_burst


def resolve_burst_modes(plan: Plan, threshold: int | None = None) -> Plan:
    """``plan`` with every fan-out's ``load.mode`` set to "burst" or "tasks"."""
    limit = threshold if threshold is not None else burst_threshold_from_env()
    candidates = [
        s
        for s in plan.steps.values()
        if s.load.mode == "auto"
        and s.each_of is None
        and (s.fan_out is not None or s.load.rate_per_s is not None)
    ]
    if not candidates:
        return plan
    defaults = {n: v.default for n, v in plan.variables.items() if v.has_default}
    run = GridRun(plan, defaults, burst_threshold=limit)
    steps = dict(plan.steps)
    for step in candidates:
        size = run.static_fan_out_size(step.id)
        burst = wants_burst(step, size if size is not None else 0, limit)
        load = step.load.model_copy(update={"mode": "burst" if burst else "tasks"})
        steps[step.id] = step.model_copy(update={"load": load})
    return plan.model_copy(update={"steps": steps})
