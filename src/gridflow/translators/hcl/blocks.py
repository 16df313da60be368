"""The block structure of grid files: which blocks and attributes exist where.

Reads python-hcl2's tree into small records (name, labels, attributes,
nested blocks, positions) so the loader works on HCL's shape, not lark's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lark import Token, Tree

from gridflow.errors import SourcePos
from gridflow.translators.hcl.convert import identifier, line_col


@dataclasses.dataclass
class Attr:
    name: str
    value: Tree[Any]
    pos: SourcePos
    text: str


@dataclasses.dataclass
class Block:
    type: str
    labels: list[str]
    attrs: dict[str, Attr]
    blocks: list[Block]
    pos: SourcePos
    duplicates: list[Attr] = dataclasses.field(default_factory=list)


def read_body(body: Tree[Any], file: str, source: str) -> Block:
    """The top level of a file, as a block without a type."""
    return _block_from("", [], body, SourcePos(file, 1, 1), file, source.splitlines())


def _block_from(
    kind: str, labels: list[str], body: Tree[Any], pos: SourcePos, file: str, lines: list[str]
) -> Block:
    block = Block(kind, labels, {}, [], pos)
    for item in body.children:
        if not isinstance(item, Tree):
            continue
        if item.data == "attribute":
            name = identifier(item.children[0])
            line, col = line_col(item)
            value = item.children[-1]
            assert isinstance(value, Tree)
            attr = Attr(name, value, SourcePos(file, line, col), _text(value, lines))
            if name in block.attrs:
                block.duplicates.append(attr)
            else:
                block.attrs[name] = attr
        elif item.data == "block":
            parts = [c for c in item.children if isinstance(c, Tree)]
            head = parts[0]
            sub_labels = [_label(p) for p in parts[1:] if p.data in ("string", "identifier")]
            inner = next(p for p in parts if p.data == "body")
            line, col = line_col(item)
            block.blocks.append(
                _block_from(
                    identifier(head), sub_labels, inner, SourcePos(file, line, col), file, lines
                )
            )
    return block


def _label(tree: Tree[Any]) -> str:
    if tree.data == "identifier":
        return identifier(tree)
    chars = [str(t) for t in tree.scan_values(lambda v: isinstance(v, Token))]
    return "".join(c for c in chars if c != '"')


def _text(tree: Tree[Any], lines: list[str]) -> str:
    """The source text of an expression (for Expr.text and messages).

    Binary operations carry their trailing newline in the grammar, so the
    span is trimmed at the end.
    """
    meta = tree.meta
    start_line = getattr(meta, "line", None)
    end_line = getattr(meta, "end_line", None)
    if start_line is None or end_line is None:
        return ""
    start_col = meta.column - 1
    end_col = meta.end_column - 1
    if end_line > len(lines):
        # The span ends after the final newline (the file's last expression
        # carries it): take everything to the end.
        end_line, end_col = len(lines), len(lines[-1]) if lines else 0
    if start_line > len(lines):
        return ""
    if start_line == end_line:
        return str(lines[start_line - 1][start_col:end_col]).rstrip()
    chunk = [lines[start_line - 1][start_col:]]
    chunk.extend(lines[start_line : end_line - 1])
    chunk.append(lines[end_line - 1][:end_col])
    return "\n".join(chunk).rstrip()
