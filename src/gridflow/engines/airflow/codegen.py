"""``gridflow compile --to airflow``: a grid as a reviewable Airflow DAG file.

The file holds the same DAG the in-memory builder (:mod:`.build`) makes, both
read from :mod:`.shape`, but written out as plain Python: ``with DAG(...)``,
one ``Param`` per variable, one statement per task, then the dependencies.
It imports only gridflow, Airflow and the standard library, and embeds the
grid's Plan as JSON (sensitive defaults removed, :func:`gridflow.plan.variables.public_plan`),
so the grid files are not needed where the DAG runs.

No Airflow import here: compiling works in any gridflow environment.

Nothing from the grid (names, file names, descriptions, argument text) is
ever written as code or comment text. Strings go through :func:`py_str`, a
literal of printable ASCII only; the Plan goes in a raw string that holds
ASCII-only JSON (see :func:`.pysource.json_literal` for why that is safe);
the module docstring gets only sanitized names. The rendered module is parsed
again and its embedded Plan, params and task ids checked against the input,
so a mistake here is an internal error, never a module that does something
else. The pieces (literals, ruff-stable layout, names) are :mod:`.pysource`'s,
shared with the job generator (:mod:`.job_codegen`).
"""

from __future__ import annotations

import ast
import json
import keyword
from pathlib import PurePath
from typing import Any

from gridflow.plan import Plan
from gridflow.plan.variables import public_plan

from .names import check_dag_id
from .pysource import (
    INDENT,
    Arg,
    CodegenError,
    Names,
    assigned_name,
    call_lines,
    check_imports,
    docstring,
    json_literal,
    literal,
    parse_module,
    py_str,
    safe_text,
    setting_args,
    short_call,
)
from .shape import (
    DagShape,
    GroupShape,
    ParamShape,
    TaskShape,
    dag_shape,
    operator_settings,
)

__all__ = ["CodegenError", "py_str", "render_dag_module"]

_RESERVED = {
    "DAG",
    "GridInstancesOperator",
    "GridStepOperator",
    "PLAN",
    "PLAN_JSON",
    "LazyPlan",
    "Param",
    "Plan",
    "dag",
    "position",
    "task_group",
    "timedelta",
}


def render_dag_module(
    plan: Plan, *, dag_id: str | None = None, source_note: str | None = None
) -> str:
    """The Python source of a DAG file for ``plan``.

    ``dag_id`` overrides the id derived from the grid's name; ``source_note``
    (e.g. the command that made the file) goes into the module docstring,
    sanitized. Raises UsageError for ids Airflow would refuse.
    """
    if dag_id is not None:
        check_dag_id(dag_id)
    public = public_plan(plan)
    shape = dag_shape(public, dag_id=dag_id)
    text = _Renderer(public, shape).module(source_note)
    _verify(text, public, shape)
    return text


# ---------------------------------------------------------------- rendering


class _Renderer:
    def __init__(self, plan: Plan, shape: DagShape) -> None:
        self.plan = plan
        self.shape = shape
        self.names = Names(_RESERVED)
        self.var: dict[str, str] = {}  # full task id -> Python name
        self.group_of: dict[str, str] = {}  # full task id -> group id
        for item in shape.items:
            if isinstance(item, GroupShape):
                for shaped in item.tasks:
                    full = _full_id(shaped)
                    self.var[full] = self.names.new(shaped.step_id)
                    self.group_of[full] = item.group_id
            else:
                suffix = "_instances" if item.kind == "instances" else ""
                self.var[item.task_id] = self.names.new(item.step_id, suffix)
        self.group_fn = {
            item.group_id: self.names.new(item.root_step, "_group")
            for item in shape.items
            if isinstance(item, GroupShape)
        }

    def module(self, source_note: str | None) -> str:
        body = self._dag_block()
        parts = [
            self._docstring(source_note),
            "",
            *self._imports(),
            "",
            *self._plan_literal(),
            "PLAN = LazyPlan(PLAN_JSON)",
            "",
            *body,
        ]
        return "\n".join(parts) + "\n"

    # ---------------------------------------------------------- pieces

    def _docstring(self, source_note: str | None) -> str:
        files = [safe_text(PurePath(s).name, 60, spaces=False) for s in self.plan.sources]
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        first = f"Airflow DAG {self.shape.dag_id}, compiled by gridflow from grid " + safe_text(
            self.plan.name, 60, spaces=False
        )
        if shown:
            first += f" ({shown})"
        paras = [
            first + ".",
            "Generated file, do not edit: change the grid and compile it again"
            + (f" ({safe_text(source_note, 400)})" if source_note else "")
            + ".",
            "The grid's Plan is embedded below (PLAN_JSON) without the defaults of "
            "sensitive variables: give those in the run's conf or as "
            "GRIDFLOW_VAR_<name> on the workers. No grid file is read at run time.",
        ]
        return docstring(paras)

    def _imports(self) -> list[str]:
        """Exactly the names the module uses (ruff's F401 allows no other)."""
        tasks = self.shape.tasks()
        sdk = ["DAG"]
        if self.shape.params:
            sdk.append("Param")
        if self.group_fn:
            sdk.append("task_group")
        ops = []
        if any(t.kind == "instances" for t in tasks):
            ops.append("GridInstancesOperator")
        if any(t.kind == "step" for t in tasks):
            ops.append("GridStepOperator")
        lines: list[str] = []
        if any(
            len(arg) == 3 and str(arg[1]).startswith("timedelta(")
            for t in tasks
            for arg in setting_args(operator_settings(t))
        ):
            lines += ["from datetime import timedelta", ""]
        # One block: where the DAG file runs, gridflow is installed like Airflow
        # (a third-party package to isort, which sorts it after airflow).
        lines.append(f"from airflow.sdk import {', '.join(sdk)}")
        if ops:
            lines.append(f"from gridflow.operators.grid import {', '.join(ops)}")
        lines.append("from gridflow.plan import LazyPlan")
        return lines

    def _plan_literal(self) -> list[str]:
        """``PLAN_JSON = r\"\"\"<json>\"\"\"``; ``_verify`` checks it reads back."""
        return json_literal("PLAN_JSON", json.loads(self.plan.to_json()))

    def _dag_block(self) -> list[str]:
        shape = self.shape
        dag_args: list[Arg] = [
            ("dag_id", shape.dag_id),
            ("description", shape.description),
            ("schedule", None),
            ("catchup", False),
            ("fail_fast", True),
        ]
        lines = call_lines("with DAG", dag_args, 0, "")
        lines.pop()  # the closing line: params go in before it
        if shape.params:
            lines.append(f"{INDENT}params={{")
            for p in shape.params:
                lines += self._param(p)
            lines.append(f"{INDENT}}},")
        lines.append(f'{INDENT}tags=["gridflow"],')
        lines.append(") as dag:")
        prev_group = False
        for i, item in enumerate(shape.items):
            if isinstance(item, GroupShape):
                if i:
                    lines.append("")
                lines += self._group(item)
                prev_group = True
            else:
                if prev_group:
                    lines.append("")
                prev_group = False
                lines += self._task(item, 1)
        if not shape.items:
            lines.append(f"{INDENT}pass")
        lines += self._dependencies()
        return lines

    def _param(self, p: ParamShape) -> list[str]:
        args: list[Arg] = [("", p.default)]
        for key, value in p.schema.items():
            if not key.isidentifier() or keyword.iskeyword(key):
                raise CodegenError(f"unexpected JSON-schema keyword {key!r}")
            args.append((key, value))
        if p.description:
            args.append(("description", p.description))
        return call_lines(f"{py_str(p.name)}: Param", args, 2, ",", flat_if_fits=True)

    def _task(
        self, shaped: TaskShape, indent: int, *, in_group: bool = False, bind: bool = True
    ) -> list[str]:
        # A task nothing refers to is a bare call: an unused local is an error to ruff.
        name = f"{self.var[_full_id(shaped)]} = " if bind else ""
        args: list[Arg] = [
            ("task_id", shaped.task_id),
            ("step_id", shaped.step_id),
            ("plan", "PLAN", True),
        ]
        if in_group:
            args.append(("position", "position", True))
        args += setting_args(operator_settings(shaped))
        if shaped.kind == "instances":
            return call_lines(f"{name}GridInstancesOperator", args, indent, "")
        if shaped.expand_over is not None:
            counter = self.var[shaped.expand_over]
            return call_lines(
                f"{name}GridStepOperator.partial",
                args,
                indent,
                f".expand(position={counter}.output)",
            )
        return call_lines(f"{name}GridStepOperator", args, indent, "")

    def _group(self, group: GroupShape) -> list[str]:
        pad = INDENT
        fn = self.group_fn[group.group_id]
        lines = short_call(pad, "@task_group", f"group_id={py_str(group.group_id)}")
        lines.append(f"{pad}def {fn}(position):")
        members = {_full_id(t) for t in group.tasks}
        edges = [
            (up, _full_id(shaped))
            for shaped in group.tasks
            for up in shaped.upstream
            if up in members
        ]
        used = {tid for edge in edges for tid in edge}
        for shaped in group.tasks:
            lines += self._task(shaped, 2, in_group=True, bind=_full_id(shaped) in used)
        lines += [f"{pad * 2}{self.var[up]} >> {self.var[down]}" for up, down in edges]
        lines.append("")
        counter = self.var[group.expand_over]
        lines += short_call(pad, f"{fn}.expand", f"position={counter}.output")
        return lines

    def _dependencies(self) -> list[str]:
        edges: list[tuple[str, str]] = []
        for shaped in self.shape.tasks():
            full = _full_id(shaped)
            for up in shaped.upstream:
                if shaped.group is not None and self.group_of.get(up) == shaped.group:
                    continue  # set inside the group's function
                edges.append((up, full))
        if not edges:
            return []
        lines = ["", f"{INDENT}# Dependencies (besides the mapping over instances tasks)."]
        fetched: set[str] = set()
        for up, down in edges:
            for tid in (up, down):
                if tid in self.group_of and tid not in fetched:
                    fetched.add(tid)
                    lines += short_call(INDENT, f"{self.var[tid]} = dag.get_task", py_str(tid))
        lines += [f"{INDENT}{self.var[up]} >> {self.var[down]}" for up, down in edges]
        return lines


def _full_id(shaped: TaskShape) -> str:
    return f"{shaped.group}.{shaped.task_id}" if shaped.group else shaped.task_id


# -------------------------------------------------------------- verification


def _verify(text: str, plan: Plan, shape: DagShape) -> None:
    """Parse the module back; its Plan, params and task ids must be the input's."""
    tree = parse_module(text)
    check_imports(tree, ("airflow", "datetime", "gridflow"))
    plan_json: Any = None
    with_node: ast.With | None = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and assigned_name(stmt) == "PLAN_JSON":
            plan_json = literal(stmt.value)
        elif isinstance(stmt, ast.With):
            with_node = stmt
        elif not (
            isinstance(stmt, ast.ImportFrom)
            or (isinstance(stmt, ast.Expr) and stmt is tree.body[0])  # the docstring
            or (isinstance(stmt, ast.Assign) and assigned_name(stmt) == "PLAN")
        ):
            raise CodegenError(f"unexpected top-level statement at line {stmt.lineno}")
    if not isinstance(plan_json, str) or with_node is None:
        raise CodegenError("the generated DAG module lacks PLAN_JSON or its DAG")
    if Plan.from_json(plan_json) != plan or json.loads(plan_json) != json.loads(plan.to_json()):
        raise CodegenError("the Plan embedded in the generated DAG module differs")

    dag_call = with_node.items[0].context_expr
    assert isinstance(dag_call, ast.Call)
    dag_kw = {k.arg: k.value for k in dag_call.keywords}
    if literal(dag_kw["dag_id"]) != shape.dag_id:
        raise CodegenError("the generated DAG module has another dag_id")
    params: dict[str, Any] = {}
    if "params" in dag_kw:
        node = dag_kw["params"]
        assert isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True):
            assert key is not None
            assert isinstance(value, ast.Call)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in value.keywords}
            params[literal(key)] = (ast.literal_eval(value.args[0]), kwargs)
    expected = {
        p.name: (
            p.default,
            {**p.schema, **({"description": p.description} if p.description else {})},
        )
        for p in shape.params
    }
    if params != expected:
        raise CodegenError("the params in the generated DAG module differ")

    found = sorted(
        (literal(k.value), ast.unparse(call.func))
        for call in ast.walk(with_node)
        if isinstance(call, ast.Call)
        for k in call.keywords
        if k.arg == "task_id"
    )
    wanted = sorted(
        (
            t.task_id,
            "GridInstancesOperator"
            if t.kind == "instances"
            else "GridStepOperator.partial"
            if t.expand_over
            else "GridStepOperator",
        )
        for t in shape.tasks()
    )
    if found != wanted:
        raise CodegenError("the tasks in the generated DAG module differ")
