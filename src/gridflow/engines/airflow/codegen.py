"""``gridflow compile --to airflow``: a grid as a reviewable Airflow DAG file.

The file holds the same DAG the in-memory builder (:mod:`.build`) makes, both
read from :mod:`.shape`, but written out as plain Python: ``with DAG(...)``,
one ``Param`` per variable, one statement per task, then the dependencies.
It imports only gridflow, Airflow and the standard library, and embeds the
grid's Plan as JSON (sensitive defaults removed, :func:`.shape.public_plan`),
so the grid files are not needed where the DAG runs.

No Airflow import here: compiling works in any gridflow environment.

Nothing from the grid (names, file names, descriptions, argument text) is
ever written as code or comment text. Strings go through :func:`py_str`, a
literal of printable ASCII only; the Plan goes in a raw string that holds
ASCII-only JSON (see :func:`_plan_literal` for why that is safe); the module
docstring gets only sanitized names. The rendered module is parsed again and
its embedded Plan, params and task ids checked against the input, so a
mistake here is an internal error, never a module that does something else.

The output is stable under ``ruff format`` (its defaults: line length 88,
double quotes, magic trailing commas): collections and calls are written on
one line only when that line fits, and otherwise exploded with a trailing
comma, which ruff keeps as it is.
"""

from __future__ import annotations

import ast
import builtins
import json
import keyword
import math
import re
import textwrap
from collections.abc import Sequence
from datetime import timedelta
from pathlib import PurePath
from typing import Any

from gridflow.errors import UsageError
from gridflow.plan import Plan

from .names import check_dag_id
from .shape import (
    DagShape,
    GroupShape,
    ParamShape,
    TaskShape,
    dag_shape,
    operator_settings,
    public_plan,
)

LINE_LENGTH = 88  # ruff's default
_INDENT = "    "
_NAME_MAX = 32  # Python names from step ids; keeps `a >> b` lines short
_SAFE_TEXT = re.compile(r"[^A-Za-z0-9_.,:/=+@ -]+")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
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


class CodegenError(RuntimeError):
    """The rendered module does not hold what it should: a bug in gridflow."""


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


# ------------------------------------------------------------------ literals


def py_str(text: str) -> str:
    """A Python string literal for ``text``, of printable ASCII only.

    No newline, no non-ASCII character (so no bidi control or line separator
    can hide anything), backslashes and the quote escaped. The quote is the
    one ruff's formatter picks: double, unless the text holds more double
    quotes than single ones.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\" or ch == quote:
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return quote + "".join(out) + quote


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        raise UsageError(f"{value} cannot be written in a DAG file (params are JSON)")
    if isinstance(value, str):
        return py_str(value)
    raise CodegenError(f"cannot write a {type(value).__name__} as a literal")


def _flat(value: Any) -> str:
    """``value`` (JSON data) as a one-line Python literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_str(str(k))}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return _scalar(value)


def _value_lines(value: Any, indent: int, head: str, tail: str) -> list[str]:
    """``head + <value literal> + tail`` at ``indent``: one line if it fits,
    else the collection exploded with trailing commas (kept so by ruff)."""
    pad = _INDENT * indent
    flat = f"{pad}{head}{_flat(value)}{tail}"
    if len(flat) <= LINE_LENGTH or not isinstance(value, (dict, list, tuple)) or not value:
        return [flat]
    if isinstance(value, dict):
        lines = [f"{pad}{head}{{"]
        for k, v in value.items():
            lines += _value_lines(v, indent + 1, f"{py_str(str(k))}: ", ",")
        return [*lines, f"{pad}}}{tail}"]
    lines = [f"{pad}{head}["]
    for v in value:
        lines += _value_lines(v, indent + 1, "", ",")
    return [*lines, f"{pad}]{tail}"]


def _call_lines(
    head: str,
    args: Sequence[tuple[str, Any] | tuple[str, Any, bool]],
    indent: int,
    tail: str,
    *,
    flat_if_fits: bool = False,
) -> list[str]:
    """A call exploded one argument a line, with a trailing comma (or, with
    ``flat_if_fits``, on one line when that fits).

    ``args`` are ``(keyword, value)`` (``keyword`` "" for a positional
    argument); a third item True marks the value as ready-made code.
    """
    pad = _INDENT * indent
    if flat_if_fits:
        flat = ", ".join(
            (f"{a[0]}=" if a[0] else "") + (a[1] if len(a) == 3 and a[2] else _flat(a[1]))
            for a in args
        )
        line = f"{pad}{head}({flat}){tail}"
        if len(line) <= LINE_LENGTH:
            return [line]
    lines = [f"{pad}{head}("]
    for arg in args:
        key, value = arg[0], arg[1]
        prefix = f"{key}=" if key else ""
        if len(arg) == 3 and arg[2]:
            lines.append(f"{pad}{_INDENT}{prefix}{value},")
        else:
            lines += _value_lines(value, indent + 1, prefix, ",")
    return [*lines, f"{pad}){tail}"]


def _short_call(pad: str, head: str, arg: str, tail: str = "") -> list[str]:
    """``head(arg)`` on one line if it fits, else exploded (magic trailing comma)."""
    line = f"{pad}{head}({arg}){tail}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"{pad}{head}(", f"{pad}{_INDENT}{arg},", f"{pad}){tail}"]


def _seconds(value: float) -> str:
    code = str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
    return f"timedelta(seconds={code})"


def _safe_text(text: str, limit: int = 80, *, spaces: bool = True) -> str:
    """Grid text for the docstring: a small character set, no quotes or newlines."""
    cleaned = (_SAFE_TEXT if spaces else _SAFE_NAME).sub("_", text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


# ------------------------------------------------------------------- names


class _Names:
    """Unique Python identifiers derived from task and group ids."""

    def __init__(self) -> None:
        self._used: set[str] = set(_RESERVED)

    def new(self, base: str, suffix: str = "") -> str:
        stem = _NOT_NAME.sub("_", base.lower()).strip("_")[:_NAME_MAX].rstrip("_")
        if not stem or not stem[0].isalpha():
            stem = "t_" + stem
        name = stem + suffix
        n = 1
        while (
            name in self._used
            or keyword.iskeyword(name)
            or keyword.issoftkeyword(name)
            or hasattr(builtins, name)
        ):
            n += 1
            name = f"{stem}{suffix}_{n}"
        self._used.add(name)
        return name


# ---------------------------------------------------------------- rendering


class _Renderer:
    def __init__(self, plan: Plan, shape: DagShape) -> None:
        self.plan = plan
        self.shape = shape
        self.names = _Names()
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
        files = [_safe_text(PurePath(s).name, 60, spaces=False) for s in self.plan.sources]
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        first = f"Airflow DAG {self.shape.dag_id}, compiled by gridflow from grid " + _safe_text(
            self.plan.name, 60, spaces=False
        )
        if shown:
            first += f" ({shown})"
        paras = [
            first + ".",
            "Generated file, do not edit: change the grid and compile it again"
            + (f" ({_safe_text(source_note, 400)})" if source_note else "")
            + ".",
            "The grid's Plan is embedded below (PLAN_JSON) without the defaults of "
            "sensitive variables: give those in the run's conf or as "
            "GRIDFLOW_VAR_<name> on the workers. No grid file is read at run time.",
        ]
        text = "\n\n".join(textwrap.fill(p, 79, break_on_hyphens=False) for p in paras)
        return f'"""{text}\n"""'

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
            for arg in _task_settings(t)
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
        """``PLAN_JSON = r\"\"\"<json>\"\"\"``.

        Why a raw triple-quoted string cannot be broken out of: the JSON is
        written with ``ensure_ascii``, so it holds printable ASCII and
        newlines only (control characters, quotes and backslashes inside
        JSON strings are ``\\``-escaped). In a raw string a backslash and
        the character after it are kept as they are and never end the
        string, the same pairing JSON uses, so the string's value is the
        JSON text exactly. A JSON quote that is not escaped opens or closes
        a JSON string; three in a row never occur (a closing quote is
        followed by ``:``, ``,``, ``]``, ``}`` or whitespace), and the text
        ends with ``}``, so the first ``\"\"\"`` is the one written here.
        ``_verify`` checks the result anyway.
        """
        data = json.loads(self.plan.to_json())
        text = json.dumps(data, indent=2, ensure_ascii=True)
        if '"""' in text or not text.endswith("}"):
            raise CodegenError("the Plan's JSON cannot be embedded as a raw string")
        return [f'PLAN_JSON = r"""{text}', '"""']

    def _dag_block(self) -> list[str]:
        shape = self.shape
        dag_args: list[tuple[str, Any] | tuple[str, Any, bool]] = [
            ("dag_id", shape.dag_id),
            ("description", shape.description),
            ("schedule", None),
            ("catchup", False),
            ("fail_fast", True),
        ]
        lines = _call_lines("with DAG", dag_args, 0, "")
        lines.pop()  # the closing line: params go in before it
        if shape.params:
            lines.append(f"{_INDENT}params={{")
            for p in shape.params:
                lines += self._param(p)
            lines.append(f"{_INDENT}}},")
        lines.append(f'{_INDENT}tags=["gridflow"],')
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
            lines.append(f"{_INDENT}pass")
        lines += self._dependencies()
        return lines

    def _param(self, p: ParamShape) -> list[str]:
        args: list[tuple[str, Any] | tuple[str, Any, bool]] = [("", p.default)]
        for key, value in p.schema.items():
            if not key.isidentifier() or keyword.iskeyword(key):
                raise CodegenError(f"unexpected JSON-schema keyword {key!r}")
            args.append((key, value))
        if p.description:
            args.append(("description", p.description))
        return _call_lines(f"{py_str(p.name)}: Param", args, 2, ",", flat_if_fits=True)

    def _task(
        self, shaped: TaskShape, indent: int, *, in_group: bool = False, bind: bool = True
    ) -> list[str]:
        # A task nothing refers to is a bare call: an unused local is an error to ruff.
        name = f"{self.var[_full_id(shaped)]} = " if bind else ""
        args: list[tuple[str, Any] | tuple[str, Any, bool]] = [
            ("task_id", shaped.task_id),
            ("step_id", shaped.step_id),
            ("plan", "PLAN", True),
        ]
        if in_group:
            args.append(("position", "position", True))
        args += _task_settings(shaped)
        if shaped.kind == "instances":
            return _call_lines(f"{name}GridInstancesOperator", args, indent, "")
        if shaped.expand_over is not None:
            counter = self.var[shaped.expand_over]
            return _call_lines(
                f"{name}GridStepOperator.partial",
                args,
                indent,
                f".expand(position={counter}.output)",
            )
        return _call_lines(f"{name}GridStepOperator", args, indent, "")

    def _group(self, group: GroupShape) -> list[str]:
        pad = _INDENT
        fn = self.group_fn[group.group_id]
        lines = _short_call(pad, "@task_group", f"group_id={py_str(group.group_id)}")
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
        lines += _short_call(pad, f"{fn}.expand", f"position={counter}.output")
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
        lines = ["", f"{_INDENT}# Dependencies (besides the mapping over instances tasks)."]
        fetched: set[str] = set()
        for up, down in edges:
            for tid in (up, down):
                if tid in self.group_of and tid not in fetched:
                    fetched.add(tid)
                    lines += _short_call(_INDENT, f"{self.var[tid]} = dag.get_task", py_str(tid))
        lines += [f"{_INDENT}{self.var[up]} >> {self.var[down]}" for up, down in edges]
        return lines


def _task_settings(shaped: TaskShape) -> list[tuple[str, Any] | tuple[str, Any, bool]]:
    """What build.operator_kwargs gives the operator besides the ids, as code."""
    out: list[tuple[str, Any] | tuple[str, Any, bool]] = []
    for name, value in operator_settings(shaped).items():
        if isinstance(value, timedelta):
            out.append((name, _seconds(value.total_seconds()), True))
        else:
            out.append((name, value))
    return out


def _full_id(shaped: TaskShape) -> str:
    return f"{shaped.group}.{shaped.task_id}" if shaped.group else shaped.task_id


# -------------------------------------------------------------- verification


def _verify(text: str, plan: Plan, shape: DagShape) -> None:
    """Parse the module back; its Plan, params and task ids must be the input's."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise CodegenError(f"the generated DAG module does not parse: {exc}") from exc
    plan_json: Any = None
    with_node: ast.With | None = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and _target(stmt) == "PLAN_JSON":
            plan_json = _constant(stmt.value)
        elif isinstance(stmt, ast.With):
            with_node = stmt
        elif isinstance(stmt, ast.ImportFrom):
            if (stmt.module or "").split(".")[0] not in ("airflow", "datetime", "gridflow"):
                raise CodegenError(f"unexpected import of {stmt.module}")
        elif not (
            (isinstance(stmt, ast.Expr) and stmt is tree.body[0])  # the docstring
            or (isinstance(stmt, ast.Assign) and _target(stmt) == "PLAN")
        ):
            raise CodegenError(f"unexpected top-level statement at line {stmt.lineno}")
    if not isinstance(plan_json, str) or with_node is None:
        raise CodegenError("the generated DAG module lacks PLAN_JSON or its DAG")
    if Plan.from_json(plan_json) != plan or json.loads(plan_json) != json.loads(plan.to_json()):
        raise CodegenError("the Plan embedded in the generated DAG module differs")

    dag_call = with_node.items[0].context_expr
    assert isinstance(dag_call, ast.Call)
    dag_kw = {k.arg: k.value for k in dag_call.keywords}
    if _constant(dag_kw["dag_id"]) != shape.dag_id:
        raise CodegenError("the generated DAG module has another dag_id")
    params: dict[str, Any] = {}
    if "params" in dag_kw:
        node = dag_kw["params"]
        assert isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True):
            assert key is not None
            assert isinstance(value, ast.Call)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in value.keywords}
            params[_constant(key)] = (ast.literal_eval(value.args[0]), kwargs)
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
        (_constant(k.value), ast.unparse(call.func))
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


def _target(stmt: ast.Assign) -> str | None:
    if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    return None


def _constant(node: ast.AST) -> Any:
    return ast.literal_eval(node)
