"""``gridflow compile JOB.yaml --to airflow``: a job as a reviewable Airflow DAG file.

The file holds the DAG the in-memory builder (:mod:`.job_build`) makes, both
read from :mod:`.job_shape`, written out as plain Python: ``with DAG(...)``,
one statement per task (a pipeline is a ``@task_group`` function expanded
over the nodes), then the dependencies. What it embeds
(docs/decisions/0008-compiled-job-dags.md):

* ``PLAN_JSON``: the job's :class:`~gridflow.jobs.model.JobPlan` as JSON, read
  back with ``JobPlan.from_json`` when the file is parsed; no job file is read
  at run time;
* ``NODES``: the ids of the nodes the target selected when the job was
  compiled, which the node tasks are mapped over; the dag-processor needs no
  inventory;
* ``INVENTORY = inventory_beside(__file__)``: where the tasks read how to
  reach those nodes, on the worker, when they run: the ``inventory.yaml``
  beside the DAG file, else ``$GRIDFLOW_INVENTORY`` (the loader's rule). No
  address, user, key path, password variable or connection id is written;
* ``RECORDS``: the tasks whose XCom records rebuild the job's run.

A value the job itself marks as secret (a ``cmd`` ``env`` entry whose name
looks secret, a password in an HTTP check's URL) would sit in the file in
clear: such a job is refused, with what to do instead.

Nothing from the job (names, descriptions, parameters, file names) is ever
written as code or comment text: strings go through
:func:`.pysource.py_str`, the plan through :func:`.pysource.json_literal`,
the docstring gets sanitized names only, Python names come from sanitized
task ids. The rendered module is parsed again and its plan, nodes, records,
DAG id, groups and tasks checked against the input.

No Airflow import here: compiling works in any gridflow environment.
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from gridflow.errors import UsageError
from gridflow.jobs.model import BackendCheck, Check, HttpCheck, JobPlan
from gridflow.runners._masking import looks_secret

from .job_shape import JobDagShape, JobTaskShape, PipelineShape, job_dag_shape, operator_settings
from .names import check_dag_id, dag_id_for
from .pysource import (
    INDENT,
    Arg,
    CodegenError,
    Names,
    assigned_name,
    call_lines,
    check_imports,
    docstring,
    import_lines,
    json_literal,
    literal,
    parse_module,
    py_str,
    safe_text,
    seconds,
    setting_args,
    short_call,
    value_lines,
)

__all__ = ["render_job_dag_module"]

#: The operator class of each kind of task the shape decides.
OPERATORS = {
    "checks": "JobChecksOperator",
    "during": "JobDuringChecksSensor",
    "node_task": "JobNodeTaskOperator",
    "result": "JobResultOperator",
}
#: What every operator gets, as the module-level names holding it.
_COMMON: tuple[Arg, ...] = (
    ("plan", "PLAN", True),
    ("node_ids", "NODES", True),
    ("inventory", "INVENTORY", True),
    ("record_task_ids", "RECORDS", True),
)
_PLAN_CODE = "JobPlan.from_json(PLAN_JSON)"
_INVENTORY_CODE = "inventory_beside(__file__)"
_RESERVED = {
    "DAG",
    "INVENTORY",
    "JobChecksOperator",
    "JobDuringChecksSensor",
    "JobNodeTaskOperator",
    "JobPlan",
    "JobResultOperator",
    "NODES",
    "PLAN",
    "PLAN_JSON",
    "RECORDS",
    "dag",
    "inventory_beside",
    "node",
    "task_group",
    "timedelta",
}


def render_job_dag_module(
    plan: JobPlan,
    nodes: Sequence[str],
    *,
    dag_id: str | None = None,
    source_note: str | None = None,
) -> str:
    """The Python source of a DAG file running ``plan`` on ``nodes`` (node ids).

    ``dag_id`` defaults to the job file's stem, as the dags-folder loader
    names job DAGs; ``source_note`` (the command that made the file) goes
    into the docstring, sanitized. Raises UsageError for what Airflow cannot
    run or would refuse (:func:`.job_shape.job_dag_shape`'s rules) and for
    secrets the file would hold.
    """
    if dag_id is not None:
        check_dag_id(dag_id)
    _refuse_secrets(plan)
    if not nodes:
        raise UsageError(f"job {plan.name}: its target selects no node; nothing to compile")
    shape = job_dag_shape(plan, list(nodes), dag_id=dag_id or _default_dag_id(plan))
    text = _Renderer(plan, shape).module(source_note)
    _verify(text, plan, shape)
    return text


def _default_dag_id(plan: JobPlan) -> str:
    stem = PurePath(plan.source).stem if plan.source else ""
    return dag_id_for(stem or plan.name)


# ------------------------------------------------------------------ secrets


def _refuse_secrets(plan: JobPlan) -> None:
    """Refuse a job holding values it marks as secret: the file would show them."""
    found: list[str] = []
    for task in plan.tasks():
        if task.backend == "cmd":
            found += [f"task {task.key} ({task.loc}): {w}" for w in _secret_env(task.params)]
    scopes = [("the job's", plan.checks)] + [(f"phase {p.index}'s", p.checks) for p in plan.phases]
    for where, checks in scopes:
        listed: list[Check] = [*checks.pre, *checks.post, *checks.during]
        for check in listed:
            if isinstance(check, BackendCheck) and check.backend == "cmd":
                found += [f"{where} check ({check.loc}): {w}" for w in _secret_env(check.params)]
            elif isinstance(check, HttpCheck) and _url_password(check.url):
                found.append(f"{where} check ({check.loc}): a password in its url")
    if found:
        raise UsageError(
            f"job {plan.name}: a compiled DAG file would hold these secrets in clear: "
            + "; ".join(found)
            + ". Keep them out of the job file (have the command read them on the node, from "
            "a file or its environment; probe a URL without credentials), or leave the job "
            "file in the dags folder for the loader instead of compiling it"
        )


def _secret_env(params: dict[str, Any]) -> list[str]:
    env = params.get("env") or {}
    return [
        f"env {safe_text(str(k), 60, spaces=False)}"
        for k, v in env.items()
        if looks_secret(str(k)) and str(v)
    ]


def _url_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:  # a malformed port: the translator's problem, not a secret
        return False


# ---------------------------------------------------------------- rendering


class _Renderer:
    def __init__(self, plan: JobPlan, shape: JobDagShape) -> None:
        self.plan = plan
        self.shape = shape
        names = Names(_RESERVED)
        self.var: dict[str, str] = {}  # task full id or group id -> Python name
        self.group_fn: dict[str, str] = {}
        for item in shape.items:
            if isinstance(item, PipelineShape):
                self.group_fn[item.group_id] = names.new(item.group_id)
                self.var[item.group_id] = names.new(item.group_id, "_nodes")
                for shaped in item.tasks:
                    self.var[shaped.full_id] = names.new(shaped.task_id)
            else:
                if item.kind not in OPERATORS:
                    raise CodegenError(f"no operator for a job task of kind {item.kind!r}")
                self.var[item.task_id] = names.new(item.task_id)
        for beside in shape.beside:
            self.var[beside.task.full_id] = names.new(beside.task.task_id)

    def module(self, source_note: str | None) -> str:
        parts = [
            self._docstring(source_note),
            "",
            *self._imports(),
            "",
            *json_literal("PLAN_JSON", json.loads(self.plan.to_json())),
            f"PLAN = {_PLAN_CODE}",
            *_assign("NODES", list(self.shape.nodes)),
            f"INVENTORY = {_INVENTORY_CODE}",
            *_assign("RECORDS", _records(self.shape)),
            "",
            *self._dag_block(),
        ]
        return "\n".join(parts) + "\n"

    def _docstring(self, source_note: str | None) -> str:
        plan, shape = self.plan, self.shape
        count = len(shape.nodes)
        source = safe_text(PurePath(plan.source).name, 60, spaces=False) if plan.source else ""
        first = f"Airflow DAG {shape.dag_id}, compiled by gridflow from job " + safe_text(
            plan.name, 60, spaces=False
        )
        return docstring(
            [
                first + (f" ({source})." if source else "."),
                "Generated file, do not edit: change the job and compile it again"
                + (f" ({safe_text(source_note, 400)})" if source_note else "")
                + ".",
                f"It runs the job's plan (PLAN_JSON) on the {count} node"
                + ("s" if count != 1 else "")
                + f" its target ({safe_text(str(plan.target), 60)}) selected when it was "
                "compiled (NODES). No job file is read at run time. How to reach each node "
                "(its address, user, keys, password variable or conn_id) is read by the tasks "
                "on the worker, from the inventory.yaml beside this file, else the file "
                "GRIDFLOW_INVENTORY names; a node missing there fails the task.",
            ]
        )

    def _imports(self) -> list[str]:
        """Exactly the names the module uses (ruff's F401 allows no other)."""
        kinds = {t.kind for t in self.shape.tasks()}
        ops = sorted(OPERATORS[k] for k in kinds)
        sdk = ["DAG", "task_group"] if self.group_fn else ["DAG"]
        lines: list[str] = []
        if self._uses_timedelta():
            lines += ["from datetime import timedelta", ""]
        # One block: where the DAG file runs, gridflow is installed like Airflow
        # (a third-party package to isort, which sorts it after airflow).
        lines += import_lines("airflow.sdk", sdk)
        lines += import_lines("gridflow.jobs.inventory", ["inventory_beside"])
        lines += import_lines("gridflow.jobs.model", ["JobPlan"])
        lines += import_lines("gridflow.operators.job", ops)
        return lines

    def _uses_timedelta(self) -> bool:
        if self.shape.dagrun_timeout_s is not None:
            return True
        return any(
            isinstance(v, timedelta)
            for t in self.shape.tasks()
            for v in operator_settings(t).values()
        )

    def _dag_block(self) -> list[str]:
        shape = self.shape
        timeout = shape.dagrun_timeout_s
        dag_args: list[Arg] = [
            ("dag_id", shape.dag_id),
            ("description", shape.description),
            ("schedule", None),
            ("catchup", False),
            ("max_active_runs", 1),
            ("dagrun_timeout", "None" if timeout is None else seconds(timeout), True),
            ("tags", ["gridflow", "gridflow-job"]),
        ]
        lines = call_lines("with DAG", dag_args, 0, " as dag:")
        after_group = False
        for item in shape.items:
            if isinstance(item, PipelineShape):
                lines.append("")  # ruff's formatter wants it, even first in the block
                lines += self._group(item)
                after_group = True
            else:
                if after_group:
                    lines.append("")
                after_group = False
                lines += self._task(item, 1, bind=True)
        if shape.beside:
            lines.append("")
        for beside in shape.beside:
            lines += self._task(beside.task, 1, bind=True)
        lines += self._dependencies()
        return lines

    def _task(self, shaped: JobTaskShape, indent: int, *, bind: bool) -> list[str]:
        # A task nothing refers to is a bare call: an unused local is an error to ruff.
        name = f"{self.var[shaped.full_id]} = " if bind else ""
        args: list[Arg] = [("task_id", shaped.task_id)]
        if shaped.kind == "checks":
            args += [("scope", shaped.scope), ("stage", shaped.stage)]
        elif shaped.kind == "during":
            args += [
                ("scope", shaped.scope),
                ("interval_s", shaped.interval_s),
                ("watched", [[task_id, per_node] for task_id, per_node in shaped.watched]),
            ]
        elif shaped.kind == "node_task":
            args.append(("key", shaped.key))
            if shaped.group is not None:
                args.append(("node", "node", True))
        args += _COMMON
        args += setting_args(operator_settings(shaped))
        operator = OPERATORS[shaped.kind]
        if shaped.kind == "node_task" and shaped.group is None:
            return call_lines(f"{name}{operator}.partial", args, indent, ".expand(node=NODES)")
        return call_lines(f"{name}{operator}", args, indent, "")

    def _group(self, group: PipelineShape) -> list[str]:
        pad = INDENT
        fn = self.group_fn[group.group_id]
        lines = short_call(pad, "@task_group", f"group_id={py_str(group.group_id)}")
        lines.append(f"{pad}def {fn}(node):")
        chained = len(group.tasks) > 1
        for shaped in group.tasks:
            lines += self._task(shaped, 2, bind=chained)
        pairs = itertools.pairwise(group.tasks)
        lines += [f"{pad * 2}{self.var[a.full_id]} >> {self.var[b.full_id]}" for a, b in pairs]
        lines.append("")
        lines += short_call(pad, f"{self.var[group.group_id]} = {fn}.expand", "node=NODES")
        return lines

    def _dependencies(self) -> list[str]:
        """Each item waits for the one before it, as in job_build."""
        made = [
            self.var[item.group_id if isinstance(item, PipelineShape) else item.task_id]
            for item in self.shape.items
        ]
        lines: list[str] = []
        if len(made) >= 2:
            lines += ["", f"{INDENT}# Each stage waits for the one before it, whatever its state."]
            lines += [f"{INDENT}{a} >> {b}" for a, b in itertools.pairwise(made)]
        if self.shape.beside:
            lines += ["", f"{INDENT}# During-checks sensors run beside their scope's stages."]
        for beside in self.shape.beside:
            sensor = self.var[beside.task.full_id]
            if beside.first > 0:
                lines.append(f"{INDENT}{made[beside.first - 1]} >> {sensor}")
            lines.append(f"{INDENT}{sensor} >> {made[beside.last + 1]}")
        return lines


def _assign(name: str, value: list[str]) -> list[str]:
    return value_lines(value, 0, f"{name} = ", "")


def _records(shape: JobDagShape) -> list[str]:
    """The tasks whose XCom records rebuild the run (as job_build passes them)."""
    return [t.full_id for t in shape.tasks() if t.kind != "result"]


# -------------------------------------------------------------- verification


def _verify(text: str, plan: JobPlan, shape: JobDagShape) -> None:
    """Parse the module back: its plan, nodes, records, DAG id, groups and
    tasks must be the input's, and it may hold nothing else."""
    tree = parse_module(text)
    check_imports(tree, ("airflow", "datetime", "gridflow"))
    found: dict[str, ast.expr] = {}
    with_node: ast.With | None = None
    for stmt in tree.body:
        name = assigned_name(stmt)
        if name in ("PLAN_JSON", "PLAN", "NODES", "INVENTORY", "RECORDS"):
            assert isinstance(stmt, ast.Assign)
            found[name] = stmt.value
        elif isinstance(stmt, ast.With) and with_node is None:
            with_node = stmt
        elif not (
            isinstance(stmt, ast.ImportFrom)
            or (isinstance(stmt, ast.Expr) and stmt is tree.body[0])  # the docstring
        ):
            raise CodegenError(f"unexpected top-level statement at line {stmt.lineno}")
    if len(found) != 5 or with_node is None:
        raise CodegenError("the generated DAG module lacks its plan, nodes, records or DAG")
    plan_json = literal(found["PLAN_JSON"])
    if not isinstance(plan_json, str) or JobPlan.from_json(plan_json) != plan:
        raise CodegenError("the job plan embedded in the generated DAG module differs")
    if json.loads(plan_json) != json.loads(plan.to_json()):
        raise CodegenError("the job plan embedded in the generated DAG module differs")
    if ast.unparse(found["PLAN"]) != _PLAN_CODE or ast.unparse(found["INVENTORY"]) != (
        _INVENTORY_CODE
    ):
        raise CodegenError("the generated DAG module reads its plan or inventory otherwise")
    if literal(found["NODES"]) != list(shape.nodes):
        raise CodegenError("the nodes in the generated DAG module differ")
    if literal(found["RECORDS"]) != _records(shape):
        raise CodegenError("the record tasks in the generated DAG module differ")

    dag_call = with_node.items[0].context_expr
    if not isinstance(dag_call, ast.Call) or ast.unparse(dag_call.func) != "DAG":
        raise CodegenError("the generated DAG module's with statement is not its DAG")
    dag_kw = {k.arg: k.value for k in dag_call.keywords}
    if literal(dag_kw["dag_id"]) != shape.dag_id:
        raise CodegenError("the generated DAG module has another dag_id")

    groups = sorted(
        literal(k.value)
        for fn in ast.walk(with_node)
        if isinstance(fn, ast.FunctionDef)
        for deco in fn.decorator_list
        if isinstance(deco, ast.Call)
        for k in deco.keywords
        if k.arg == "group_id"
    )
    if groups != sorted(i.group_id for i in shape.items if isinstance(i, PipelineShape)):
        raise CodegenError("the task groups in the generated DAG module differ")
    tasks: list[tuple[str, str]] = []
    common = {a[0]: a[1] for a in _COMMON}
    for call in ast.walk(with_node):
        if not isinstance(call, ast.Call):
            continue
        kw = {k.arg: k.value for k in call.keywords}
        if "task_id" not in kw:
            continue
        if {k: ast.unparse(kw[k]) for k in common if k in kw} != common:
            raise CodegenError("a task of the generated DAG module lacks the job's arguments")
        tasks.append((literal(kw["task_id"]), ast.unparse(call.func)))
    wanted = [
        (t.task_id, OPERATORS[t.kind] + (".partial" if t.kind == "node_task" and t.mapped else ""))
        for t in shape.tasks()
    ]
    if sorted(tasks) != sorted(wanted):
        raise CodegenError("the tasks in the generated DAG module differ")
