"""Where variable values come from, lowest precedence first.

``GRIDFLOW_VAR_<name>`` in the environment < ``--profile NAME``
(``profiles/NAME.hcl|json|yaml|yml`` beside the grid) < each ``-var-file``
in order < each ``-var name=value`` in order, as Terraform users expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gridflow.errors import Diagnostic, ExpressionError, LoadError, SourcePos, UsageError, suggest
from gridflow.expr.evaluator import Scope, evaluate
from gridflow.plan.models import Variable
from gridflow.plan.types import TypeMismatch, coerce
from gridflow.translators.hcl.convert import Converter
from gridflow.translators.hcl.parse import parse, read_source

ENV_PREFIX = "GRIDFLOW_VAR_"
PROFILE_SUFFIXES = (".hcl", ".json", ".yaml", ".yml")


def collect_overrides(
    *,
    declared: Mapping[str, Variable],
    var_args: Sequence[str],
    var_files: Sequence[str | Path],
    profile: str | None,
    grid_root: Path,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Values given for declared variables, merged by precedence and type-converted."""
    values: dict[str, Any] = {}
    for name, var in declared.items():
        raw = environ.get(ENV_PREFIX + name)
        if raw is not None:
            values[name] = _from_text(var, raw, f"environment variable {ENV_PREFIX}{name}")
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
            raise UsageError(_unknown_message(name, declared, f'-var "{arg}"'))
        values[name] = _from_text(declared[name], text, f"-var {name}")
    return values


def _unknown_message(name: str, declared: Mapping[str, Variable], where: str) -> str:
    hint = suggest(name, declared) or (
        "declared variables: " + ", ".join(sorted(declared))
        if declared
        else "the grid declares no variables"
    )
    return f'{where}: no variable "{name}" is declared in the grid; {hint}'


def _profile_path(root: Path, profile: str) -> Path:
    folder = root / "profiles"
    found = [folder / f"{profile}{suffix}" for suffix in PROFILE_SUFFIXES]
    existing = [p for p in found if p.is_file()]
    if len(existing) == 1:
        return existing[0]
    if len(existing) > 1:
        names = ", ".join(str(p) for p in existing)
        raise UsageError(f'profile "{profile}" is ambiguous: {names}; keep one of them')
    have = sorted({p.stem for p in folder.glob("*") if p.suffix in PROFILE_SUFFIXES})
    hint = suggest(profile, have) or (
        "profiles here: " + ", ".join(have) if have else f"create {folder}/{profile}.hcl"
    )
    raise UsageError(f'no profile "{profile}" in {folder}; {hint}')


def _from_text(var: Variable, text: str, source: str) -> Any:
    """A value typed on a command line or in the environment."""
    if var.type.kind == "string":
        return text
    value: Any = text
    tree, problems = parse(f"v = {text}\n", source)
    if tree is not None and not problems:
        conv = Converter(source)
        try:
            attr = next(tree.find_data("attribute"))
            value = evaluate(conv.expr(attr.children[-1]), Scope(file=source))
        except (ExpressionError, StopIteration):
            value = text
    return _coerce(var, value, source)


def _coerce(var: Variable, value: Any, source: str) -> Any:
    try:
        return coerce(value, var.type)
    except TypeMismatch as exc:
        raise UsageError(f'{source}: variable "{var.name}" must be {var.type}: {exc}') from None


def _read_file(path: Path, declared: Mapping[str, Variable]) -> dict[str, Any]:
    shown = str(path)
    suffix = path.suffix.lower()
    readers: dict[str, Callable[[Path, str], list[tuple[str, Any, int, int]]]] = {
        ".hcl": _read_hcl,
        ".json": _read_json,
        ".yaml": _read_yaml,
        ".yml": _read_yaml,
    }
    if suffix not in readers:
        raise UsageError(f"{shown}: variable files must end in .hcl, .json, .yaml or .yml")
    if not path.is_file():
        raise UsageError(f"{shown}: no such variable file")
    entries = readers[suffix](path, shown)
    diags: list[Diagnostic] = []
    out: dict[str, Any] = {}
    for name, value, line, col in entries:
        if name not in declared:
            hint = suggest(name, declared) or "declared variables: " + ", ".join(sorted(declared))
            diags.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "unknown-variable",
                    f'no variable "{name}" is declared in the grid',
                    hint,
                )
            )
            continue
        var = declared[name]
        try:
            out[name] = coerce(value, var.type)
        except TypeMismatch as exc:
            diags.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "type-mismatch",
                    f'variable "{name}" must be {var.type}: {exc}',
                )
            )
    if diags:
        raise LoadError(diags)
    return out


def _read_hcl(path: Path, shown: str) -> list[tuple[str, Any, int, int]]:
    text, diags = read_source(path, shown)
    if text is None:
        raise LoadError(diags)
    tree, diags = parse(text, shown)
    if tree is None:
        raise LoadError(diags)
    conv = Converter(shown)
    out: list[tuple[str, Any, int, int]] = []
    problems: list[Diagnostic] = []
    body = tree.children[0]
    for item in body.children:
        if getattr(item, "data", None) == "block":
            line, col = item.meta.line, item.meta.column
            problems.append(
                Diagnostic(
                    shown,
                    line,
                    col,
                    "var-file",
                    "variable files hold name = value lines, not blocks",
                )
            )
        elif getattr(item, "data", None) == "attribute":
            name_tree = item.children[0]
            name = str(next(name_tree.scan_values(lambda _: True)))
            line, col = item.meta.line, item.meta.column
            try:
                value = evaluate(conv.expr(item.children[-1]), Scope(file=shown))
            except ExpressionError as exc:
                problems.append(exc.to_diagnostic(SourcePos(shown, line, col), "var-file"))
                continue
            out.append((name, value, line, col))
    if problems:
        raise LoadError(problems)
    return out


def _read_json(path: Path, shown: str) -> list[tuple[str, Any, int, int]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LoadError(
            [Diagnostic(shown, exc.lineno, exc.colno, "var-file", f"invalid JSON: {exc.msg}")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(
            [Diagnostic(shown, 1, 1, "var-file", f"cannot read the file: {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise LoadError(
            [Diagnostic(shown, 1, 1, "var-file", "a variable file holds one object of name: value")]
        )
    return [(str(k), v, 1, 1) for k, v in data.items()]


def _read_yaml(path: Path, shown: str) -> list[tuple[str, Any, int, int]]:
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        raise LoadError(
            [
                Diagnostic(
                    shown, line, col, "var-file", f"invalid YAML: {getattr(exc, 'problem', exc)}"
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(
            [Diagnostic(shown, 1, 1, "var-file", f"cannot read the file: {exc}")]
        ) from None
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise LoadError(
            [
                Diagnostic(
                    shown, 1, 1, "var-file", "a variable file holds one mapping of name: value"
                )
            ]
        )
    places = {str(k.value): (k.start_mark.line + 1, k.start_mark.column + 1) for k, _ in node.value}
    return [(str(k), v, *places.get(str(k), (1, 1))) for k, v in data.items()]
