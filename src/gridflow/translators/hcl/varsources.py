"""Where variable values come from, lowest precedence first.

``GRIDFLOW_VAR_<name>`` in the environment < ``--profile NAME``
(``profiles/NAME.hcl|json|yaml|yml`` beside the grid) < each ``-var-file``
in order < each ``-var name=value`` in order, as Terraform users expect.

Variable files and command-line values hold literal values only: no
references, function calls or ``${}`` interpolations, because they are read
before the grid exists and must mean the same thing on every machine.
A ``null`` counts as not given, as in :func:`gridflow.plan.variables.resolve_values`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from gridflow.errors import Diagnostic, ExpressionError, LoadError, SourcePos, UsageError, suggest
from gridflow.expr import ast
from gridflow.plan.models import TypeSpec, Variable
from gridflow.plan.types import TypeMismatch, coerce
from gridflow.plan.variables import resolve_values, type_problem, unknown_variable
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.parse import parse, read_source

ENV_PREFIX = "GRIDFLOW_VAR_"
VAR_FILE_SUFFIXES = (".hcl", ".json", ".yaml", ".yml")
_LITERALS_HINT = 'write the value itself, e.g. "text", 5, true, ["a", "b"] or { key = "value" }'


class _Entry(NamedTuple):
    """One ``name = value`` read from a variable file."""

    name: str
    value: Any
    line: int
    col: int
    # The text as written, when the value is a plain YAML scalar: a string
    # variable then keeps "1.10" or "NO" rather than YAML's 1.1 or false.
    raw: str | None = None


def collect_overrides(
    *,
    declared: Mapping[str, Variable],
    var_args: Sequence[str],
    var_files: Sequence[str | Path],
    profile: str | None,
    grid_root: Path,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Values given for declared variables, merged by precedence and type-converted.

    Raises :class:`UsageError` for bad command-line input (``-var``, missing
    files, profiles, environment values of the wrong type) and
    :class:`LoadError` with file positions for problems inside variable files.
    """
    values: dict[str, Any] = {}
    for key in sorted(environ):
        name = key[len(ENV_PREFIX) :]
        # The environment is shared by every grid; names this grid lacks are not errors.
        if key.startswith(ENV_PREFIX) and name in declared:
            _put(values, name, _from_text(declared[name], environ[key], f"{ENV_PREFIX}{name}"))
    if profile is not None:
        values.update(_read_file(_profile_path(grid_root, profile), declared))
    for path in var_files:
        values.update(_read_file(Path(path), declared))
    for arg in var_args:
        name, sep, text = arg.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f'invalid -var "{arg}": expected name=value, '
                "e.g. -var base_url=http://127.0.0.1:8080"
            )
        if name not in declared:
            # Not echoing the value: it may be a secret typed under a mistyped name.
            raise UsageError(f"-var {name}: {unknown_variable(name, declared)}")
        _put(values, name, _from_text(declared[name], text, f"-var {name}"))
    return values


def scheduler_values(
    declared: Mapping[str, Variable], given: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """``(values, missing)`` of a run a scheduler started (Airflow, Prefect deployment).

    The grid's defaults, then ``GRIDFLOW_VAR_*`` in the environment the run
    executes in (a worker's), then the run's own values (DAG params, flow
    parameters). A given null does not override: a form field left empty, or
    a sensitive variable, whose value the scheduler never stores.
    """
    env = collect_overrides(
        declared=declared,
        var_args=(),
        var_files=(),
        profile=None,
        grid_root=Path("."),
        environ=environ,
    )
    return resolve_values(declared, {**env, **{k: v for k, v in given.items() if v is not None}})


def _put(values: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        values[name] = value


# ---------------------------------------------------------------- profiles


def _profile_path(root: Path, profile: str) -> Path:
    folder = root / "profiles"
    if not profile or profile.startswith(".") or "/" in profile or "\\" in profile:
        raise UsageError(
            f'invalid profile name "{profile}": give the name of a file in {folder} '
            "without its extension, e.g. --profile staging"
        )
    existing = [folder / f"{profile}{s}" for s in VAR_FILE_SUFFIXES]
    existing = [p for p in existing if p.is_file()]
    if len(existing) == 1:
        return existing[0]
    if existing:
        names = ", ".join(p.name for p in existing)
        raise UsageError(
            f'profile "{profile}" is ambiguous: {folder} holds {names}; keep only one of them'
        )
    have = sorted(
        {p.stem for p in folder.glob("*") if p.suffix in VAR_FILE_SUFFIXES and p.is_file()}
    )
    if not have:
        raise UsageError(f'no profile "{profile}" in {folder}; create {folder / profile}.hcl')
    hint = suggest(profile, have)
    listing = "profiles there: " + ", ".join(have)
    raise UsageError(
        f'no profile "{profile}" in {folder}; ' + (f"{hint} ({listing})" if hint else listing)
    )


# ---------------------------------------------------- command line, environment


def _from_text(var: Variable, text: str, source: str) -> Any:
    """A value typed on a command line or in the environment.

    Text for a ``string`` variable is taken as it is, so URLs and paths need
    no HCL quoting; for other types it is read as an HCL literal (``5``,
    ``true``, ``["a"]``, ``{ a = 1 }``) and, failing that, kept as text for
    the type conversion to accept (``"5"`` for a number) or reject.
    """
    if var.type.kind == "string":
        return text
    parsed = _parse_literal_text(text, source)
    value = text if parsed is _NOT_LITERAL else parsed
    try:
        return coerce(value, var.type)
    except TypeMismatch as exc:
        message = f"{source}: {type_problem(var, exc)}"
        if parsed is _NOT_LITERAL and var.type.kind not in ("number", "bool", "any"):
            message += f"; write an HCL value, e.g. {_example(var, source)}"
        raise UsageError(message) from None


_NOT_LITERAL = object()


def _parse_literal_text(text: str, source: str) -> Any:
    if not text.strip():
        return _NOT_LITERAL
    tree, problems = parse(f"v = {text}\n", source)
    if tree is None or problems:
        return _NOT_LITERAL
    body = tree.children[0]
    items = [c for c in body.children if getattr(c, "data", None) in ("attribute", "block")]
    # "5\nother = 1" would parse as two attributes; only a single value is a value.
    if len(items) != 1 or getattr(items[0], "data", None) != "attribute":
        return _NOT_LITERAL
    try:
        return _literal(Converter(source).expr(items[0].children[-1]), source)
    except (ExpressionError, RecursionError):
        return _NOT_LITERAL


def _example(var: Variable, source: str) -> str:
    sample = _sample(var.type)
    if source.startswith(ENV_PREFIX):
        return f"{source}='{sample}'"
    return f"-var '{var.name}={sample}'"


def _sample(spec: TypeSpec) -> str:
    if spec.kind in ("list", "set"):
        inner = _sample(spec.elem or TypeSpec(kind="string"))
        return f"[{inner}, {inner}]"
    if spec.kind == "tuple":
        return "[" + ", ".join(_sample(t) for t in spec.items) + "]"
    if spec.kind == "map":
        return "{ key = " + _sample(spec.elem or TypeSpec(kind="string")) + " }"
    if spec.kind == "object":
        return "{ " + ", ".join(f"{k} = {_sample(t)}" for k, t in spec.fields.items()) + " }"
    return {"number": "1", "bool": "true"}.get(spec.kind, '"a"')


# ------------------------------------------------------------ literal values


def _literal(node: ast.Node, file: str) -> Any:
    """The value a literal expression spells; ExpressionError for anything else."""
    if isinstance(node, ast.Lit):
        return node.value
    if isinstance(node, ast.Template):
        parts: list[str] = []
        for part in node.parts:
            if not isinstance(part, ast.Lit):
                raise ExpressionError(
                    "variable files hold literal values: ${...} and %{...} are not allowed",
                    pos=SourcePos(file, part.line, part.col),
                    hint='write the text itself, or escape a literal "${" as "$${"',
                )
            parts.append("" if part.value is None else str(part.value))
        return "".join(parts)
    if isinstance(node, ast.Unary) and node.op == "-":
        inner = _literal(node.operand, file)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner
    if isinstance(node, ast.TupleExpr):
        return [_literal(item, file) for item in node.items]
    if isinstance(node, ast.ObjectExpr):
        out: dict[str, Any] = {}
        for key, value in node.items:
            name = _literal(key, file) if not isinstance(key, ast.Var) else key.name
            if not isinstance(name, str):
                raise ExpressionError(
                    "object keys in variable files are names or strings",
                    pos=SourcePos(file, key.line, key.col),
                    hint='write { name = 1 } or { "name" = 1 }',
                )
            out[name] = _literal(value, file)
        return out
    raise ExpressionError(
        "variable files hold literal values, not expressions",
        pos=SourcePos(file, node.line, node.col),
        hint=_LITERALS_HINT,
    )


# ------------------------------------------------------------- variable files


def _read_file(path: Path, declared: Mapping[str, Variable]) -> dict[str, Any]:
    shown = str(path)
    readers: dict[str, Callable[[Path, str], list[_Entry]]] = {
        ".hcl": _read_hcl,
        ".json": _read_json,
        ".yaml": _read_yaml,
        ".yml": _read_yaml,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise UsageError(
            f"{shown}: a variable file must end in .hcl, .json, .yaml or .yml; "
            "rename it or convert it to one of those formats"
        )
    if not path.is_file():
        raise UsageError(f"{shown}: no such variable file; check the path given to -var-file")
    diags: list[Diagnostic] = []
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for entry in reader(path, shown):
        var = declared.get(entry.name)
        if var is None:
            message = unknown_variable(entry.name, declared)
            what, _, hint = message.partition("; ")
            diags.append(Diagnostic(shown, entry.line, entry.col, "unknown-variable", what, hint))
            continue
        if entry.name in seen:
            diags.append(
                Diagnostic(
                    shown,
                    entry.line,
                    entry.col,
                    "duplicate-variable",
                    f'variable "{entry.name}" is set more than once in this file',
                    "keep one of the settings",
                )
            )
            continue
        seen.add(entry.name)
        value = entry.value
        if var.type.kind == "string" and entry.raw is not None:
            value = entry.raw
        try:
            _put(out, entry.name, coerce(value, var.type))
        except TypeMismatch as exc:
            diags.append(
                Diagnostic(
                    shown,
                    entry.line,
                    entry.col,
                    "type-mismatch",
                    type_problem(var, exc),
                    f"give {entry.name} a value of type {var.type}",
                )
            )
    if diags:
        raise LoadError(diags)
    return out


def _read_hcl(path: Path, shown: str) -> list[_Entry]:
    text, diags = read_source(path, shown)
    if text is None:
        raise LoadError(diags)
    tree, diags = parse(text, shown)
    if tree is None or diags:
        raise LoadError(diags)
    conv = Converter(shown)
    entries: list[_Entry] = []
    problems: list[Diagnostic] = []
    for item in tree.children[0].children:
        kind = getattr(item, "data", None)
        if kind not in ("attribute", "block"):
            continue
        line, col = item.meta.line, item.meta.column
        if kind == "block":
            problems.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "var-file",
                    "variable files hold name = value lines, not blocks",
                    'write each variable as name = value, e.g. base_url = "http://127.0.0.1:8080"',
                )
            )
            continue
        name = str(next(item.children[0].scan_values(lambda _: True)))
        try:
            value = _literal(conv.expr(item.children[-1]), shown)
        except ExpressionError as exc:
            problems.append(exc.to_diagnostic(SourcePos(shown, line, col), "var-file-expression"))
            continue
        except RecursionError:
            problems.append(
                Diagnostic(shown, line, col, "var-file", "the value is nested too deeply")
            )
            continue
        entries.append(_Entry(name, value, line, col))
    if problems:
        raise LoadError(problems)
    return entries


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(
            [Diagnostic(shown, 1, 1, "unreadable-file", f"cannot read the file: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError:
        raise LoadError(
            [
                Diagnostic(
                    shown,
                    1,
                    1,
                    "unreadable-file",
                    "the file is not UTF-8 text",
                    "save it as UTF-8",
                )
            ]
        ) from None


def _read_json(path: Path, shown: str) -> list[_Entry]:
    text = _read_text(path, shown)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(
            [Diagnostic(shown, exc.lineno, exc.colno, "var-file", f"invalid JSON: {exc.msg}")]
        ) from None
    except (RecursionError, ValueError) as exc:  # ValueError: int digit limit
        raise LoadError([Diagnostic(shown, 1, 1, "var-file", f"invalid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise LoadError(
            [
                Diagnostic(
                    shown,
                    1,
                    1,
                    "var-file",
                    "a JSON variable file holds one object of variable names and values",
                    'e.g. {"base_url": "http://127.0.0.1:8080"}',
                )
            ]
        )
    places = _json_key_places(text)
    return [_Entry(str(k), v, *places.get(str(k), (1, 1))) for k, v in data.items()]


def _json_key_places(text: str) -> dict[str, tuple[int, int]]:
    """Line and column of each key of the top-level object (the last, if repeated).

    Only called on text ``json.loads`` accepted, so a small scan suffices.
    """
    places: dict[str, tuple[int, int]] = {}
    depth = 0
    line, line_start = 1, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            line, line_start = line + 1, i + 1
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == '"':
            key, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            rest = text[end:].lstrip()
            if depth == 1 and rest.startswith(":"):
                places[key] = (line, i - line_start + 1)
            i = end
            continue
        i += 1
    return places


class _LiteralYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: a few can stand for a value
    exponentially larger than the file."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported in variable files", event.start_mark
            )
        return super().compose_node(parent, index)


def _read_yaml(path: Path, shown: str) -> list[_Entry]:
    text = _read_text(path, shown)
    loader: _LiteralYamlLoader | None = None
    try:
        loader = _LiteralYamlLoader(text)
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.MappingNode):
            raise LoadError(
                [
                    Diagnostic(
                        shown,
                        node.start_mark.line + 1,
                        node.start_mark.column + 1,
                        "var-file",
                        "a YAML variable file holds one mapping of variable names and values",
                        "e.g. base_url: http://127.0.0.1:8080",
                    )
                ]
            )
        entries: list[_Entry] = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            value = _plain(loader.construct_object(value_node, deep=True))
            plain_scalar = isinstance(value_node, yaml.ScalarNode) and value_node.style is None
            raw = value_node.value if plain_scalar and value is not None else None
            mark = key_node.start_mark
            entries.append(_Entry(str(key), value, mark.line + 1, mark.column + 1, raw))
        return entries
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "cannot be read"
        raise LoadError(
            [Diagnostic(shown, line, col, "var-file", f"invalid YAML: {problem}")]
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise LoadError(
            [Diagnostic(shown, 1, 1, "var-file", f"invalid YAML: {' '.join(str(exc).split())}")]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _plain(value: Any) -> Any:
    """YAML's extra scalar types (dates, binary) as the text a grid can use."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
