"""The engine-neutral Plan."""

from gridflow.plan.models import (
    PLAN_VERSION,
    Edge,
    Expr,
    FanOut,
    LazyPlan,
    Location,
    Plan,
    RefPattern,
    Resource,
    Retry,
    Step,
    TypeSpec,
    Variable,
)

__all__ = [
    "PLAN_VERSION",
    "Edge",
    "Expr",
    "FanOut",
    "LazyPlan",
    "Location",
    "Plan",
    "RefPattern",
    "Resource",
    "Retry",
    "Step",
    "TypeSpec",
    "Variable",
]
