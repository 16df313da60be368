"""``backend`` + ``action`` + ``params`` of a task or check, checked against
the backend catalog (:mod:`gridflow.backends.catalog`).

Parameters are validated with the action's own pydantic model, so a job is
refused for exactly what the backend would refuse at run time, but before
anything runs, at the file:line:col of the offending parameter. Pydantic's
error records are turned into sentences naming the parameter and the action.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from pydantic import ValidationError

from gridflow.backends.catalog import ActionSpec, action_names, backend_names, get_action
from gridflow.errors import SourcePos, suggest
from gridflow.jobs.fields import Problems, entry_or_map, expect_str, quote_hint
from gridflow.jobs.yamltree import YEntry, YMap, YScalar, YSeq, YValue, at, describe, plain


@dataclasses.dataclass(frozen=True)
class Action:
    spec: ActionSpec
    params: dict[str, Any]  # the validated model, dumped as JSON values

    @property
    def ref(self) -> str:
        return f"{self.spec.backend}.{self.spec.action}"


def read_action(item: YMap, what: str, problems: Problems) -> Action | None:
    """The validated action of a task or check mapping ``item``, or None."""
    spec = _spec(item, what, problems)
    params_value = item.get("params")
    params_map: YMap | None = None
    if params_value is not None and not _is_null(params_value):
        if not isinstance(params_value, YMap):
            problems.add(
                params_value.pos,
                "wrong-type",
                f"params must be a mapping, got {describe(params_value)}",
                "write params: { name: value, ... }",
            )
            return None
        params_map = params_value
    if spec is None:
        return None
    ref = f"{spec.backend}.{spec.action}"
    try:
        model = spec.params.model_validate(plain(params_map) if params_map else {})
    except ValidationError as exc:
        where = at(entry_or_map(item, "params"))
        errors = exc.errors(include_url=False)
        explained = _explained_missing(errors, item, spec)
        for error in errors:
            if error.get("type") == "missing" and tuple(error.get("loc", ())) in explained:
                continue
            _report(error, ref, spec, params_map, where, problems)
        return None
    return Action(spec, model.model_dump(mode="json"))


def _spec(item: YMap, what: str, problems: Problems) -> ActionSpec | None:
    backends = backend_names()
    backend_value = item.get("backend")
    if backend_value is None:
        problems.add(
            item.pos,
            "missing-backend",
            f"{what} needs a backend",
            f"add backend: (one of {', '.join(backends)})",
        )
        return None
    backend = expect_str(backend_value, "backend", problems)
    if backend is None:
        return None
    if backend not in backends:
        problems.add(
            backend_value.pos,
            "unknown-backend",
            f'unknown backend "{backend}"',
            suggest(backend, backends) or f"backends: {', '.join(backends)}",
        )
        return None
    actions = action_names(backend)
    action_value = item.get("action")
    if action_value is None:
        problems.add(
            item.pos,
            "missing-action",
            f"{what} needs an action",
            f"add action: (for {backend}: {', '.join(actions)})",
        )
        return None
    action = expect_str(action_value, "action", problems)
    if action is None:
        return None
    spec = get_action(backend, action)
    if spec is None:
        problems.add(
            action_value.pos,
            "unknown-action",
            f'unknown action "{action}" for backend "{backend}"',
            suggest(action, actions) or f"{backend} actions: {', '.join(actions)}",
        )
    return spec


def _explained_missing(errors: list[Any], item: YMap, spec: ActionSpec) -> set[tuple[Any, ...]]:
    """Missing parameters another message already explains: one written beside
    params (reported as an unknown key of the task) or misspelt inside it
    (reported as an unknown parameter with "did you mean")."""
    names = param_names(spec)
    unknown = [
        str(e["loc"][-1]) for e in errors if e.get("type") == "extra_forbidden" and e.get("loc")
    ]
    meant = {_closest(u, names) for u in unknown}
    out: set[tuple[Any, ...]] = set()
    for error in errors:
        path = tuple(error.get("loc", ()))
        if (
            error.get("type") == "missing"
            and len(path) == 1
            and (path[0] in item or path[0] in meant)
        ):
            out.add(path)
    return out


def _closest(name: str, candidates: list[str]) -> str | None:
    """The candidate ``suggest`` proposes for ``name`` (same cutoff), or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


def param_names(spec: ActionSpec) -> list[str]:
    return list(spec.params.model_fields)


def _report(
    error: Any,
    ref: str,
    spec: ActionSpec,
    params: YMap | None,
    where: SourcePos,
    problems: Problems,
) -> None:
    path: tuple[int | str, ...] = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    message = _sentence(str(error.get("msg", "is not valid")))
    names = param_names(spec)
    if not path:  # a rule across parameters (e.g. cmd.run: argv or shell)
        problems.add(where, "bad-params", f'action "{ref}": {message}')
        return
    shown = _path_text(path)
    if kind == "missing":
        problems.add(
            where,
            "missing-param",
            f'action "{ref}" needs the parameter "{shown}"',
            f"add it under params, e.g. params: {{ {shown}: ... }}",
        )
        return
    value, key_pos = _find(params, path)
    if kind == "extra_forbidden":
        takes = f"{ref} takes: {', '.join(names)}" if names else f"{ref} takes no parameters"
        problems.add(
            key_pos or where,
            "unknown-param",
            f'unknown parameter "{shown}" for action "{ref}"',
            suggest(str(path[-1]), names) or takes,
        )
        return
    pos = value.pos if value is not None else (key_pos or where)
    hint = f"change the value of {shown}"
    if kind == "string_pattern_mismatch":
        message = f"{_shown_input(error.get('input'))} is not a valid {path[0]!s}"
        pattern = (error.get("ctx") or {}).get("pattern", "")
        hint = f"a {path[0]} matches {pattern}" if pattern else hint
    elif value is not None and kind.endswith("_type"):
        message = f"{message}, got {describe(value)}"
        hint = quote_hint(value) if kind.startswith("string") else hint
        hint = hint or f"change the value of {shown}"
    problems.add(pos, "bad-param", f'parameter "{shown}" of action "{ref}": {message}', hint)


def _find(
    params: YMap | None, path: tuple[int | str, ...]
) -> tuple[YValue | None, SourcePos | None]:
    """The value at ``path`` inside params and the position of its key."""
    node: YValue | None = params
    key_pos: SourcePos | None = None
    for part in path:
        if isinstance(node, YMap) and isinstance(part, str):
            entry: YEntry | None = node.entries.get(part)
            if entry is None:
                return None, key_pos
            node, key_pos = entry.value, entry.key_pos
        elif isinstance(node, YSeq) and isinstance(part, int) and 0 <= part < len(node.items):
            node = node.items[part]
            key_pos = node.pos
        else:
            return node, key_pos
    return node, key_pos


def _path_text(path: tuple[int | str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _sentence(msg: str) -> str:
    """Pydantic's "Value error, invalid duration ..." -> "invalid duration ..."."""
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg


def _shown_input(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + '..."'


def _is_null(value: YValue) -> bool:
    return isinstance(value, YScalar) and value.value is None
