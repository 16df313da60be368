"""Variable values for one run: declared defaults, overridden by what the run is given.

Engines call :func:`resolve_values` with the parameters a run was triggered
with (Airflow DAG params, Prefect flow parameters, the CLI's merged ``-var``
sources), so every engine applies the same types and reports the same errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gridflow.errors import UsageError, suggest
from gridflow.plan.models import Plan, Variable
from gridflow.plan.types import TypeMismatch, coerce


def resolve_values(
    variables: Mapping[str, Variable], given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """``(values, missing)``: defaults merged with ``given``, each converted to its type.

    ``missing`` lists, in declaration order, the variables that have neither a
    default nor a given value. A given ``None`` counts as not given: a scheduler
    form left empty sends null, and the declared default should then apply.
    Every unknown name and every value of the wrong type is reported in one
    :class:`~gridflow.errors.UsageError`, one problem a line.
    """
    values = {name: var.default for name, var in variables.items() if var.has_default}
    problems: list[str] = []
    for name, value in given.items():
        var = variables.get(name)
        if var is None:
            problems.append(unknown_variable(name, variables))
            continue
        if value is None:
            continue
        try:
            values[name] = coerce(value, var.type)
        except TypeMismatch as exc:
            problems.append(type_problem(var, exc))
    if problems:
        raise UsageError("\n".join(problems))
    missing = [name for name in variables if name not in values]
    return values, missing


def unknown_variable(name: str, declared: Iterable[str]) -> str:
    """``no variable "x" is declared in the grid; did you mean "y"?`` (or the list)."""
    names = sorted(declared)
    hint = suggest(name, names) or (
        "declared variables: " + ", ".join(names) if names else "the grid declares no variables"
    )
    return f'no variable "{name}" is declared in the grid; {hint}'


def type_problem(var: Variable, exc: TypeMismatch) -> str:
    """Why a value does not fit ``var``, without showing it when ``var`` is sensitive."""
    detail = exc.safe_str() if var.sensitive else str(exc)
    return f'variable "{var.name}" must be {var.type} (declared at {var.loc}): {detail}'


def public_plan(plan: Plan) -> Plan:
    """``plan`` with every sensitive variable's default removed.

    What may be written where others can read it (a DAG folder, a compiled
    DAG file, the Plan beside ``gridflow run --engine airflow``'s DAG file, a
    Prefect deployment's parameters): sensitive values reach tasks through
    ``GRIDFLOW_VAR_<name>`` or the run's conf or parameters instead.
    """
    variables = {
        name: var.model_copy(update={"default": None, "has_default": False})
        if var.sensitive
        else var
        for name, var in plan.variables.items()
    }
    return plan.model_copy(update={"variables": variables})
