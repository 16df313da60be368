"""Heredoc bodies as templates.

python-hcl2 hands a heredoc over as one raw token, interpolations unparsed.
Rather than a second template parser, the body is rewritten as the quoted
string it is equivalent to (text escaped, ``${...}``/``%{...}`` copied as
they are) and parsed by the same grammar, so heredocs and quoted strings
share one implementation.
"""

from __future__ import annotations

from typing import Any

from lark import Tree
from lark.exceptions import LarkError

from gridflow.errors import ExpressionError, SourcePos
from gridflow.translators.hcl.lark_parser import parses_to_tree

_TEXT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def as_quoted(body: str) -> str:
    """The quoted HCL string equivalent to heredoc ``body``."""
    return quoted_with_origins(body)[0]


def quoted_with_origins(body: str) -> tuple[str, list[int]]:
    """``as_quoted(body)`` and, for each of its characters, the offset in ``body``
    it came from (so positions found in the quoted form map back to the file)."""
    out: list[str] = ['"']
    origin: list[int] = [0]
    i, n = 0, len(body)
    while i < n:
        three = body[i : i + 3]
        if three in ("$${", "%%{"):
            chunk, end = three, i + 3
        elif body[i : i + 2] in ("${", "%{"):
            end = _closing_brace(body, i + 2)
            chunk = body[i:end]
        else:
            chunk, end = _TEXT_ESCAPES.get(body[i], body[i]), i + 1
        out.append(chunk)
        if end - i == len(chunk):
            origin.extend(range(i, end))
        else:
            origin.extend([i] * len(chunk))
        i = end
    out.append('"')
    origin.append(n)
    return "".join(out), origin


def _closing_brace(text: str, start: int) -> int:
    """Index just after the ``}`` closing an interpolation opened before ``start``."""
    depth = 1
    i = start
    quote = False
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def heredoc_string(file: str, body: str, line: int) -> tuple[Tree[Any], list[int]]:
    """The ``string`` tree of ``body`` parsed as a quoted string, and the body
    offset of each column of the line it was parsed from (see HEREDOC_PREFIX)."""
    quoted, origin = quoted_with_origins(body)
    try:
        tree = parses_to_tree(f"{HEREDOC_PREFIX}{quoted}\n")
    except LarkError as exc:
        raise ExpressionError(
            "the interpolations in this heredoc do not parse",
            pos=SourcePos(file, line, 1),
            hint=f"check every ${{...}} and %{{...}} in it ({type(exc).__name__})",
        ) from None
    # The outermost string: find_data walks bottom-up and would return a string
    # literal nested inside an interpolation (``${upper("x")}``).
    topdown = tree.iter_subtrees_topdown()  # type: ignore[no-untyped-call]  # lark is untyped here
    outer: Tree[Any] = next(t for t in topdown if t.data == "string")
    return outer, origin


HEREDOC_PREFIX = "x = "
