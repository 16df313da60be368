"""Python source for generated DAG files: literals, layout, names, embedded JSON.

``gridflow compile --to airflow`` writes grids (:mod:`.codegen`) and jobs
(:mod:`.job_codegen`) as plain Python; both build their modules from these
pieces, so what makes a file safe and ruff-clean is written once:

* text from a grid or job file only ever becomes a string literal of
  printable ASCII (:func:`py_str`) or part of an ASCII-only JSON document in
  a raw string (:func:`json_literal`), never code or comment text;
* Python names come from ids through :class:`Names`: lower-case letters,
  digits and ``_``, unique, never a keyword or builtin;
* the layout is what ``ruff format`` keeps (its defaults: line length 88,
  double quotes, magic trailing commas): a call or collection goes on one
  line when it fits, else one item a line with a trailing comma;
* the generator parses its own output back (:func:`parse_module`,
  :func:`assigned_name`, :func:`literal`) and checks it against its input.

No Airflow import here: compiling works in any gridflow environment.
"""

from __future__ import annotations

import ast
import builtins
import json
import keyword
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from gridflow.errors import UsageError

LINE_LENGTH = 88  # ruff's default
INDENT = "    "
NAME_MAX = 32  # Python names from ids; keeps `a >> b` lines short
DOC_WIDTH = 79
_SAFE_TEXT = re.compile(r"[^A-Za-z0-9_.,:/=+@ -]+")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")

#: A call argument: ``(keyword, value)`` with ``keyword`` "" for a positional
#: one, or ``(keyword, code, True)`` when the value is ready-made code.
Arg = tuple[str, Any] | tuple[str, Any, bool]


class CodegenError(RuntimeError):
    """The rendered module does not hold what it should: a bug in gridflow."""


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


def scalar(value: Any) -> str:
    """A JSON scalar as a Python literal."""
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


def flat(value: Any) -> str:
    """``value`` (JSON data) as a one-line Python literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_str(str(k))}: {flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flat(v) for v in value) + "]"
    return scalar(value)


def value_lines(value: Any, indent: int, head: str, tail: str) -> list[str]:
    """``head + <value literal> + tail`` at ``indent``: one line if it fits,
    else the collection exploded with trailing commas (kept so by ruff)."""
    pad = INDENT * indent
    one = f"{pad}{head}{flat(value)}{tail}"
    if len(one) <= LINE_LENGTH or not isinstance(value, (dict, list, tuple)) or not value:
        return [one]
    if isinstance(value, dict):
        lines = [f"{pad}{head}{{"]
        for k, v in value.items():
            lines += value_lines(v, indent + 1, f"{py_str(str(k))}: ", ",")
        return [*lines, f"{pad}}}{tail}"]
    lines = [f"{pad}{head}["]
    for v in value:
        lines += value_lines(v, indent + 1, "", ",")
    return [*lines, f"{pad}]{tail}"]


def call_lines(
    head: str, args: Sequence[Arg], indent: int, tail: str, *, flat_if_fits: bool = False
) -> list[str]:
    """A call exploded one argument a line, with a trailing comma (or, with
    ``flat_if_fits``, on one line when that fits)."""
    pad = INDENT * indent
    if flat_if_fits:
        joined = ", ".join(
            (f"{a[0]}=" if a[0] else "") + (a[1] if len(a) == 3 and a[2] else flat(a[1]))
            for a in args
        )
        line = f"{pad}{head}({joined}){tail}"
        if len(line) <= LINE_LENGTH:
            return [line]
    lines = [f"{pad}{head}("]
    for arg in args:
        key, value = arg[0], arg[1]
        prefix = f"{key}=" if key else ""
        if len(arg) == 3 and arg[2]:
            lines.append(f"{pad}{INDENT}{prefix}{value},")
        else:
            lines += value_lines(value, indent + 1, prefix, ",")
    return [*lines, f"{pad}){tail}"]


def short_call(pad: str, head: str, arg: str, tail: str = "") -> list[str]:
    """``head(arg)`` on one line if it fits, else exploded (magic trailing comma)."""
    line = f"{pad}{head}({arg}){tail}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"{pad}{head}(", f"{pad}{INDENT}{arg},", f"{pad}){tail}"]


def import_lines(module: str, names: Sequence[str]) -> list[str]:
    """``from module import a, b`` on one line if it fits, else one name a line."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"from {module} import (", *(f"{INDENT}{n}," for n in names), ")"]


def seconds(value: float) -> str:
    """``timedelta(seconds=...)`` code for a duration."""
    code = str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
    return f"timedelta(seconds={code})"


def setting_args(settings: Mapping[str, Any]) -> list[Arg]:
    """Operator keyword arguments as code: durations as ``timedelta(...)``."""
    out: list[Arg] = []
    for name, value in settings.items():
        if isinstance(value, timedelta):
            out.append((name, seconds(value.total_seconds()), True))
        else:
            out.append((name, value))
    return out


def safe_text(text: str, limit: int = 80, *, spaces: bool = True) -> str:
    """Text for a docstring: a small character set, no quotes or newlines."""
    cleaned = (_SAFE_TEXT if spaces else _SAFE_NAME).sub("_", text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def docstring(paragraphs: Iterable[str]) -> str:
    """A module docstring of paragraphs already made safe with :func:`safe_text`."""
    text = "\n\n".join(textwrap.fill(p, DOC_WIDTH, break_on_hyphens=False) for p in paragraphs)
    if '"""' in text or "\\" in text or not text.isascii():
        raise CodegenError("unsafe text in the generated docstring")
    return f'"""{text}\n"""'


def json_literal(name: str, data: Any) -> list[str]:
    """``NAME = r\"\"\"<json>\"\"\"``: ``data`` as indented, ASCII-only JSON.

    Why a raw triple-quoted string cannot be broken out of: the JSON is
    written with ``ensure_ascii``, so it holds printable ASCII and newlines
    only (control characters, quotes and backslashes inside JSON strings
    are ``\\``-escaped). In a raw string a backslash and the character
    after it are kept as they are and never end the string, the same
    pairing JSON uses, so the string's value is the JSON text exactly. A
    JSON quote that is not escaped opens or closes a JSON string; three in
    a row never occur (a closing quote is followed by ``:``, ``,``, ``]``,
    ``}`` or whitespace), and the text ends with ``}`` or ``]``, so the
    first ``\"\"\"`` is the one written here. The generators check their
    output anyway.
    """
    text = json.dumps(data, indent=2, ensure_ascii=True)
    if '"""' in text or not text.endswith(("}", "]")):
        raise CodegenError(f"{name}'s JSON cannot be embedded as a raw string")
    return [f'{name} = r"""{text}', '"""']


# ------------------------------------------------------------------- names


class Names:
    """Unique Python identifiers derived from task and group ids."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self._used: set[str] = set(reserved)

    def new(self, base: str, suffix: str = "") -> str:
        stem = _NOT_NAME.sub("_", base.lower()).strip("_")[:NAME_MAX].rstrip("_")
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


# -------------------------------------------------------------- reading back


def parse_module(text: str) -> ast.Module:
    """The generated module's syntax tree; a CodegenError when it does not parse."""
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise CodegenError(f"the generated DAG module does not parse: {exc}") from exc


def assigned_name(stmt: ast.stmt) -> str | None:
    """``NAME`` of a top-level ``NAME = ...`` statement, else None."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return stmt.targets[0].id
    return None


def literal(node: ast.AST) -> Any:
    """The value of a literal expression (a CodegenError for anything else)."""
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise CodegenError(f"expected a literal, found {ast.unparse(node)[:60]}") from exc


def check_imports(tree: ast.Module, allowed: Iterable[str]) -> None:
    """Every ``from X import ...`` of the module comes from an allowed package."""
    roots = set(allowed)
    for stmt in tree.body:
        if isinstance(stmt, ast.Import) or (
            isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] not in roots
        ):
            raise CodegenError(f"unexpected import at line {stmt.lineno}")
