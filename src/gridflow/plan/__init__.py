"""The engine-neutral Plan."""

from gridflow.plan.models import (
    PLAN_VERSION,
    Edge,
    Expr,
    FanOut,
    LazyPlan,
    Load,
    Location,
    Plan,
    RefPattern,
    Resource,
    Retry,
    Step,
    Threshold,
    TypeSpec,
    Variable,
)

__all__ = [
    "PLAN_VERSION",
    "Edge",
    "Expr",
    "FanOut",
    "LazyPlan",
    "Load",
    "Location",
    "Plan",
    "RefPattern",
    "Resource",
    "Retry",
    "Step",
    "Threshold",
    "TypeSpec",
    "Variable",
]
