"""Targets: which nodes of the inventory a job runs on.

Written in a job as GRID writes them (``target: { scope: group, value: web }``)
or as the CLI shorthand (``all``, ``group:web``, ``node:web-01``), which a job
file may also use (``target: group:web``). :func:`select` resolves a target
against an inventory and refuses, before anything runs, a group or node that
does not exist or a selection with no nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from gridflow.errors import Diagnostic, LoadError, UsageError, suggest
from gridflow.jobs.fields import Problems, check_keys, entry_or_map, expect_choice, expect_str, loc
from gridflow.jobs.model import Target
from gridflow.jobs.yamltree import YMap, YScalar, YValue, at, describe
from gridflow.nodes.base import NodeSpec

SCOPES = ("all", "group", "node")
SHORTHAND_HELP = 'write "all", "group:NAME" or "node:ID"'


def parse_target_text(text: str) -> Target | str:
    """A target from the shorthand; a message saying what is wrong otherwise."""
    spec = text.strip()
    if spec == "all":
        return Target(scope="all")
    scope, sep, value = spec.partition(":")
    scope, value = scope.strip(), value.strip()
    if not sep or scope not in ("group", "node"):
        hint = suggest(scope, SCOPES) if not sep else suggest(scope, ("group", "node"))
        return f'"{text}" is not a target: {SHORTHAND_HELP}' + (f" ({hint})" if hint else "")
    if not value:
        return f'"{text}" names no {scope}: {SHORTHAND_HELP}'
    return Target(scope=scope, value=value)


def target_from_cli(text: str) -> Target:
    """``-t all | group:web | node:web-01``; a UsageError otherwise."""
    parsed = parse_target_text(text)
    if isinstance(parsed, str):
        raise UsageError(parsed)
    return parsed


def read_target(value: YValue, problems: Problems) -> Target | None:
    """``target:`` of a job file: a GRID mapping or the shorthand string."""
    here = loc(value.pos)
    if isinstance(value, YScalar) and isinstance(value.value, str):
        parsed = parse_target_text(value.value)
        if isinstance(parsed, str):
            problems.add(value.pos, "bad-target", parsed)
            return None
        return parsed.model_copy(update={"loc": here})
    if not isinstance(value, YMap):
        problems.add(
            value.pos,
            "bad-target",
            f"target must be a mapping or a string, got {describe(value)}",
            'write target: { scope: group, value: web }, or target: "group:web"',
        )
        return None
    check_keys(value, ("scope", "value"), "target", problems)
    scope_value = value.get("scope")
    if scope_value is None:
        problems.add(
            at(entry_or_map(value, "scope")),
            "bad-target",
            "target needs a scope",
            "write scope: all, scope: group (with value: GROUP) or scope: node (with value: ID)",
        )
        return None
    scope = expect_choice(scope_value, "target scope", SCOPES, problems)
    raw = value.get("value")
    if scope is None:
        return None
    if scope == "all":
        # GRID's API sends value: "" with scope all (Go's zero value).
        if raw is not None and not (isinstance(raw, YScalar) and raw.value in (None, "")):
            problems.add(
                raw.pos,
                "bad-target",
                "scope all takes no value",
                "remove value, or use scope: group / scope: node",
            )
            return None
        return Target(scope="all", loc=here)
    if raw is None or (isinstance(raw, YScalar) and raw.value is None):
        problems.add(
            value.pos,
            "bad-target",
            f"scope {scope} needs a value: the {scope} to run on",
            f"add value: {'GROUP' if scope == 'group' else 'NODE_ID'}",
        )
        return None
    text = expect_str(raw, f"target value ({scope})", problems)
    if text is None:
        return None
    return Target(scope=scope, value=text, loc=here)


def select(
    nodes: Sequence[NodeSpec], target: Target | str, *, inventory: str = "the inventory"
) -> list[NodeSpec]:
    """The nodes ``target`` names, in inventory order.

    Refusals name the target's place when it came from a job file (a
    LoadError with its file:line) and are UsageErrors for a command-line
    target. ``inventory`` names the inventory file in messages.
    """
    if isinstance(target, str):
        target = target_from_cli(target)
    if target.scope == "all":
        chosen = list(nodes)
        if not chosen:
            _refuse(target, f"{inventory} has no nodes", "add nodes to the inventory")
        return chosen
    if target.scope == "group":
        chosen = [n for n in nodes if target.value in n.groups]
        if not chosen:
            groups = sorted({g for n in nodes for g in n.groups})
            hint = suggest(target.value or "", groups) or (
                f"groups in {inventory}: {', '.join(groups)}" if groups else "no node has groups"
            )
            _refuse(target, f'no node of {inventory} is in group "{target.value}"', hint)
        return chosen
    chosen = [n for n in nodes if n.id == target.value]
    if not chosen:
        ids = [n.id for n in nodes]
        hint = suggest(target.value or "", ids) or (
            f"nodes in {inventory}: {_some(ids)}" if ids else "add nodes to the inventory"
        )
        _refuse(target, f'{inventory} has no node "{target.value}"', hint)
    return chosen


def _some(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _refuse(target: Target, message: str, hint: str) -> NoReturn:
    if target.loc is None:
        raise UsageError(f"target {target}: {message} ({hint})")
    raise LoadError(
        [Diagnostic.at(target.loc.pos(), "no-such-target", f"target {target}: {message}", hint)]
    )
