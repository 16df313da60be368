"""python-hcl2's grammar in a lark parser built for the loader.

``hcl2.parses_to_tree`` builds its trees with lark's ``propagate_positions``:
every reduction of the LALR parse (about two per token) looks up and copies
the positions of its first and last child, although the loader reads the
positions of only a few nodes. This parser uses the same grammar file and
post-lexer as python-hcl2 (so the trees are the same, node for node) but
builds :class:`PosTree` nodes, which find their positions when first asked:
the first and last token under the node, which is what lark's propagation
gives for this grammar (no token is filtered out of the tree, see
tests/unit/hcl/test_lark_parser.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import hcl2
import lark
from hcl2.postlexer import PostLexer
from lark import Lark, Token, Tree
from lark.tree import Meta

GRAMMAR = Path(hcl2.__file__).resolve().parent / "hcl2.lark"


class PosTree(Tree[Any]):
    """A lark tree whose ``meta`` (line, column, end) is computed on first use."""

    @property
    def meta(self) -> Meta:
        if self._meta is None:
            self._meta = _positions(self)
        meta: Meta = self._meta
        return meta


def _edge_token(tree: Tree[Any], *, last: bool) -> Token | None:
    """The first (or last) token under ``tree``, depth first."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            return node
        if isinstance(node, Tree):
            stack.extend(node.children if last else reversed(node.children))
    return None


def _positions(tree: Tree[Any]) -> Meta:
    """What lark's ``propagate_positions=True`` would have stored on ``tree``."""
    meta: Any = Meta()  # type: ignore[no-untyped-call]  # lark types few of its attributes
    first = _edge_token(tree, last=False)
    if first is None:
        return meta  # type: ignore[no-any-return]  # no token: empty (meta.empty stays True)
    end = _edge_token(tree, last=True)
    assert end is not None
    meta.empty = False
    meta.line = meta.container_line = first.line
    meta.column = meta.container_column = first.column
    meta.start_pos = meta.container_start_pos = first.start_pos
    meta.end_line = meta.container_end_line = end.end_line
    meta.end_column = meta.container_end_column = end.end_column
    meta.end_pos = meta.container_end_pos = end.end_pos
    return meta  # type: ignore[no-any-return]


def _cache_file(grammar: str) -> str | bool:
    """Where lark keeps the grammar's parse tables between processes.

    Building them takes about 2 s, loading them about 0.1 s. The file lives in
    ``$GRIDFLOW_HOME/cache`` (``~/.gridflow/cache``), named after the grammar
    and the lark and Python versions; lark also checks a hash of the grammar
    and options stored in it and rebuilds on a mismatch. If that folder cannot
    be created, lark's own per-user file in the temporary folder is used.
    """
    home = Path(os.environ.get("GRIDFLOW_HOME") or Path.home() / ".gridflow")
    key = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}"
    name = "hcl2-lark-" + hashlib.sha256(key.encode()).hexdigest()[:16] + ".bin"
    try:
        folder = home / "cache"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return True
    return str(folder / name)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The parser, built once per process."""
    grammar = GRAMMAR.read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=PostLexer(),
        tree_class=PosTree,
        propagate_positions=False,
        cache=_cache_file(grammar),
    )


def parses_to_tree(text: str) -> Tree[Any]:
    """Like ``hcl2.parses_to_tree``: the lark tree of ``text`` (a final newline added)."""
    tree: Tree[Any] = parser().parse(text + "\n")
    return tree
