"""YAML text -> a tree of values that remember where they were written.

Job and inventory files are YAML, and every problem in them must be reported
at its file:line:col. PyYAML's *composer* (``yaml.compose``) yields nodes with
start marks; this module turns them into :class:`YMap`, :class:`YSeq` and
:class:`YScalar` values carrying a :class:`~gridflow.errors.SourcePos` for
every value and every mapping key. Everything that can go wrong while reading
(undecodable bytes, syntax, duplicate or non-string keys, unknown tags,
recursive or exploding aliases) comes back as diagnostics, never as an
exception from PyYAML.

Scalars are resolved with the safe loader's rules (YAML 1.1: ``yes``/``no``
are booleans), except timestamps, which are kept as the text written: a job
never wants a ``datetime``, and ``message: 2024-01-01`` should stay a string.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gridflow.errors import Diagnostic, SourcePos

#: Values (after expanding aliases) one file may hold; bounds "billion laughs".
MAX_VALUES = 100_000
#: Nesting depth one file may reach; no job or inventory comes close.
MAX_DEPTH = 64

_PLAIN_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
}
_STANDARD = "tag:yaml.org,2002:"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"


@dataclasses.dataclass(frozen=True, slots=True)
class YScalar:
    value: str | int | float | bool | None
    pos: SourcePos


@dataclasses.dataclass(frozen=True, slots=True)
class YSeq:
    items: tuple[YValue, ...]
    pos: SourcePos


@dataclasses.dataclass(frozen=True, slots=True)
class YEntry:
    key: str
    key_pos: SourcePos
    value: YValue


@dataclasses.dataclass(frozen=True, slots=True)
class YMap:
    entries: dict[str, YEntry]  # in the order written
    pos: SourcePos

    def get(self, key: str) -> YValue | None:
        entry = self.entries.get(key)
        return entry.value if entry is not None else None

    def key_pos(self, key: str) -> SourcePos:
        entry = self.entries.get(key)
        return entry.key_pos if entry is not None else self.pos

    def __iter__(self) -> Iterator[YEntry]:
        return iter(self.entries.values())

    def __contains__(self, key: object) -> bool:
        return key in self.entries


YValue = YScalar | YSeq | YMap


def plain(value: YValue) -> Any:
    """The value without positions: dicts, lists and scalars."""
    if isinstance(value, YScalar):
        return value.value
    if isinstance(value, YSeq):
        return [plain(v) for v in value.items]
    return {e.key: plain(e.value) for e in value}


def describe(value: YValue) -> str:
    """What kind of value this is, for messages ("a list", "the number 3")."""
    if isinstance(value, YMap):
        return "a mapping"
    if isinstance(value, YSeq):
        return "a list"
    v = value.value
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, int | float):
        return f"the number {v:g}" if isinstance(v, float) else f"the number {v}"
    return f'the string "{_short(v)}"'


def at(value: YValue | YEntry) -> SourcePos:
    """Where a value (or, for an entry, its key) was written."""
    return value.key_pos if isinstance(value, YEntry) else value.pos


def read_yaml(path: Path, shown: str) -> tuple[YValue | None, list[Diagnostic]]:
    """Read and parse one YAML file; ``(None, problems)`` when it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "check the path" if isinstance(exc, FileNotFoundError) else ""
        return None, [Diagnostic(shown, 1, 1, "unreadable-file", f"cannot read: {reason}", hint)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic.not_utf8(shown, data, exc, "save it as UTF-8")]
    return parse_yaml(text.removeprefix("\ufeff"), shown)


def parse_yaml(text: str, shown: str) -> tuple[YValue | None, list[Diagnostic]]:
    """Parse YAML text; ``(None, problems)`` for a syntax error or an empty file."""
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc, shown)]
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        return None, [
            Diagnostic(
                shown,
                line,
                col,
                "syntax",
                f"character {_char_name(exc.character)} is not allowed in YAML",
                "remove it, or write it as an escape inside a double-quoted string",
            )
        ]
    except yaml.YAMLError as exc:  # any other PyYAML error: no position is known
        return None, [Diagnostic(shown, 1, 1, "syntax", f"YAML syntax error: {exc}")]
    except RecursionError:
        return None, [
            Diagnostic(
                shown, 1, 1, "too-deep", "the document is nested too deeply to read", _DEPTH_HINT
            )
        ]
    if node is None:
        return None, [
            Diagnostic(shown, 1, 1, "empty-file", "the file is empty", "write a YAML mapping")
        ]
    builder = _Builder(shown)
    try:
        value = builder.build(node, 0, frozenset())
    except _Abort:
        return None, builder.problems
    return value, builder.problems


def _compose(text: str) -> Node | None:
    """The node tree, composed by libyaml when it is there (about 5x faster).

    On any problem the pure-Python composer runs again: its errors carry the
    messages :func:`_syntax_problem` turns into advice, and positions that
    match them.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            node: Node | None = yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass
        else:
            return node
    return yaml.compose(text, Loader=yaml.SafeLoader)


_DEPTH_HINT = f"jobs and inventories need far fewer than {MAX_DEPTH} levels; simplify the file"


class _Abort(Exception):
    """The document cannot be turned into values at all (cycle, size, depth)."""


class _Builder:
    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Diagnostic] = []
        self.budget = MAX_VALUES
        # One constructor per document: it resolves scalars and merge keys.
        self.loader = yaml.SafeLoader("")
        self.merged: dict[int, int] = {}  # id(mapping node) -> pairs merged in

    def pos(self, node: Node) -> SourcePos:
        mark = node.start_mark
        return SourcePos(self.shown, mark.line + 1, mark.column + 1)

    def fail(self, node: Node, code: str, message: str, hint: str = "") -> _Abort:
        self.problems.append(Diagnostic.at(self.pos(node), code, message, hint))
        return _Abort()

    def build(self, node: Node, depth: int, active: frozenset[int]) -> YValue:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(
                node,
                "too-large",
                f"the document holds more than {MAX_VALUES} values (aliases count each "
                "time they are used)",
                "split the file, or use fewer aliases",
            )
        if depth > MAX_DEPTH:
            raise self.fail(node, "too-deep", "the document is nested too deeply", _DEPTH_HINT)
        if id(node) in active:
            raise self.fail(
                node,
                "recursive-alias",
                "an alias refers to a value that contains it",
                "YAML anchors used inside themselves make an endless value: remove the alias",
            )
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        inner = active | {id(node)}
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self.unknown_tag(node)
            return YSeq(tuple(self.build(n, depth + 1, inner) for n in node.value), self.pos(node))
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                self.unknown_tag(node)
            return self.mapping(node, depth, inner)
        raise self.fail(node, "syntax", "this YAML value cannot be read")  # pragma: no cover

    def mapping(self, node: MappingNode, depth: int, inner: frozenset[int]) -> YMap:
        merged = self.flatten(node)
        entries: dict[str, YEntry] = {}
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            value = self.build(value_node, depth + 1, inner)
            key = self.key(key_node)
            if key is None:
                continue
            # Merged pairs (the first `merged`) give way to the mapping's own, as
            # in YAML; only a key written twice in this very mapping is an error.
            if index >= merged:
                if key in own_keys:
                    first = entries[key].key_pos.line
                    self.problems.append(
                        Diagnostic.at(
                            self.pos(key_node),
                            "duplicate-key",
                            f'key "{key}" is written twice in this mapping (first at line {first})',
                            "remove one of them: YAML would silently keep only the last",
                        )
                    )
                    continue
                own_keys.add(key)
            entries[key] = YEntry(key, self.pos(key_node), value)
        return YMap(entries, self.pos(node))

    def flatten(self, node: MappingNode) -> int:
        """Resolve ``<<`` merge keys in place; how many leading pairs were merged in.

        PyYAML's flatten_mapping puts merged pairs before the mapping's own.
        An aliased mapping is visited again, already flattened: the count of
        its first visit is kept.
        """
        if id(node) in self.merged:
            return self.merged[id(node)]
        own = sum(1 for key, _ in node.value if key.tag != _MERGE)
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise self.fail(node, "bad-merge", f"cannot merge: {exc.problem}") from None
        except RecursionError:
            raise self.fail(
                node, "too-deep", "merge keys (<<) nest too deeply", _DEPTH_HINT
            ) from None
        self.merged[id(node)] = len(node.value) - own
        return self.merged[id(node)]

    def key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self.problems.append(
                Diagnostic.at(
                    self.pos(node),
                    "bad-key",
                    "a mapping key must be a name, not a list or mapping",
                    "write the key as plain text",
                )
            )
            return None
        value = self.scalar(node).value
        if isinstance(value, str):
            return value
        hint = "quote it to use it as a name"
        if isinstance(value, bool):
            hint = f'YAML reads "{node.value}" as a boolean: quote it ("{node.value}") to use it'
        self.problems.append(
            Diagnostic.at(
                self.pos(node),
                "bad-key",
                f"a mapping key must be a name, not {describe(YScalar(value, self.pos(node)))}",
                hint,
            )
        )
        return None

    def scalar(self, node: ScalarNode) -> YScalar:
        pos = self.pos(node)
        if node.tag == _TIMESTAMP:
            return YScalar(node.value, pos)
        if node.tag not in _PLAIN_TAGS:
            self.unknown_tag(node)
            return YScalar(node.value, pos)
        try:
            value = self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError):
            # e.g. an explicit !!int tag on text that is not a number
            self.problems.append(
                Diagnostic.at(
                    pos, "bad-value", f'"{_short(node.value)}" cannot be read as {_tag(node)}'
                )
            )
            return YScalar(node.value, pos)
        assert isinstance(value, str | int | float | bool) or value is None
        return YScalar(value, pos)

    def unknown_tag(self, node: Node) -> None:
        self.problems.append(
            Diagnostic.at(
                self.pos(node),
                "unknown-tag",
                f"YAML tag {_tag_text(node)} is not supported here",
                "remove the tag: jobs and inventories use plain YAML values",
            )
        )


def _tag_text(node: Node) -> str:
    tag = str(node.tag)
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag


def _tag(node: Node) -> str:
    return str(node.tag).rsplit(":", 1)[-1]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _line_col(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def _char_name(char: object) -> str:
    if isinstance(char, int):
        return f"U+{char:04X}"
    if isinstance(char, str) and len(char) == 1:
        return f"U+{ord(char):04X}"
    return repr(char)


def _syntax_problem(exc: yaml.MarkedYAMLError, shown: str) -> Diagnostic:
    """A PyYAML syntax error in words a person reads, at the parser's position."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or "the YAML cannot be read"
    context = exc.context or ""
    started = f" (it starts at line {exc.context_mark.line + 1})" if exc.context_mark else ""
    message, hint = f"YAML syntax error: {problem}", ""
    if "'\\t'" in problem:
        message, hint = "YAML syntax error: a tab cannot indent YAML", "indent with spaces"
    elif problem.startswith("mapping values are not allowed"):
        message = 'YAML syntax error: a ":" is not allowed here'
        hint = (
            'check this line\'s indentation, or quote a value that contains ": " (message: "a: b")'
        )
    elif problem.startswith("expected <block end>") or problem.startswith(
        "could not find expected ':'"
    ):
        message = "YAML syntax error: this line does not fit the block above it" + started
        hint = "indent it like the other entries of that block, and put ':' after each key"
    elif "flow sequence" in context:
        message = "YAML syntax error: a [ list is not closed" + started
        hint = 'close it with "]" and separate items with ","'
    elif "flow mapping" in context:
        message = "YAML syntax error: a { mapping is not closed" + started
        hint = 'close it with "}" and separate entries with ","'
    elif "<stream end>" in problem and not context.endswith("scalar"):
        message = "YAML syntax error: the file ends in the middle of a value"
        hint = 'close every "[" and "{", and finish the last entry'
    elif "quoted scalar" in context:
        message = "YAML syntax error: a quoted string is not closed" + started
        hint = "add the closing quote"
    elif problem.startswith("found undefined alias"):
        message = f"YAML syntax error: {problem.replace('found undefined', 'unknown')}"
        hint = "define the anchor (&name) before using the alias (*name)"
    elif "single document" in context:
        message = "YAML syntax error: the file holds more than one document"
        hint = 'a file holds one YAML document: remove the "---" separator and what follows'
    elif context:
        hint = f"{context}{started}"
    return Diagnostic(shown, line, col, "syntax", message, hint)
