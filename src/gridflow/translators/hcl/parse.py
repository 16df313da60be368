"""HCL text -> python-hcl2's lark tree, or diagnostics a user can act on.

lark's own messages list grammar terminals (``LSQB``, ``NL_OR_COMMENT``);
these are turned into what a person reads: what was found, what would fit.
A bare duration (``delay = 2s``) makes lark fail at a later token, so it is
looked for before the lark error is reported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lark import Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from gridflow.errors import Diagnostic
from gridflow.translators.hcl.lark_parser import parses_to_tree

_DURATION = r"\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*"
_BARE_DURATION = re.compile(
    r"^(?P<lead>\s*[A-Za-z_][\w-]*\s*=\s*)(?P<value>" + _DURATION + r")\s*(?:#.*|//.*)?$"
)
# The same inside a one-line block: `arguments { timeout = 2s }`.
_INLINE_BARE_DURATION = re.compile(
    r"(?:^|[{,])\s*(?P<name>[A-Za-z_][\w-]*)\s*=\s*(?P<value>"
    + _DURATION
    + r")(?=\s*(?:$|[},#]|//))"
)

_WHAT: dict[str, str] = {
    "RBRACE": '"}"',
    "LBRACE": '"{"',
    "RSQB": '"]"',
    "LSQB": '"["',
    "RPAR": '")"',
    "LPAR": '"("',
    "COMMA": '","',
    "EQ": '"="',
    "COLON": '":"',
    "DBLQUOTE": "a closing quote",
    "NL_OR_COMMENT": "a new line",
    "$END": "the end of the file",
    "NAME": "a name",
    "INT_LITERAL": "a number",
    "FLOAT_LITERAL": "a number",
    "STRING_CHARS": "text",
    "QMARK": '"?"',
    "DOT": '"."',
}
_VALUE_START = {"DBLQUOTE", "INT_LITERAL", "FLOAT_LITERAL", "LSQB", "LBRACE", "LPAR"}


def read_source(path: Path, shown: str) -> tuple[str | None, list[Diagnostic]]:
    """The file's text, or a diagnostic saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [
            Diagnostic(shown, 1, 1, "unreadable-file", f"cannot read the file: {exc.strerror}")
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = "save it as UTF-8 (grids are text files)"
        return None, [Diagnostic.not_utf8(shown, data, exc, hint)]
    return text.removeprefix("\ufeff"), []


def parse(text: str, file: str) -> tuple[Tree[Any] | None, list[Diagnostic]]:
    """Parse one file; on failure return diagnostics instead of the tree."""
    if not text.endswith("\n"):
        text += "\n"  # the grammar wants a final newline; editors may omit it
    try:
        return parses_to_tree(text), []
    except LarkError as exc:
        bare = bare_durations(text, file) or _inline_bare_duration(exc, text, file)
        if bare:
            return None, bare
        return None, [_syntax_diagnostic(exc, text, file)]
    except RecursionError:
        return None, [
            Diagnostic(file, 1, 1, "syntax", "the file is nested too deeply to parse", "flatten it")
        ]


def bare_durations(text: str, file: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for number, line in enumerate(text.splitlines(), start=1):
        m = _BARE_DURATION.match(line)
        if m:
            value = m.group("value")
            out.append(
                Diagnostic(
                    file,
                    number,
                    len(m.group("lead")) + 1,
                    "bare-duration",
                    f'durations are strings: write "{value}"',
                    f'put the duration in quotes, e.g. {m.group("lead").strip()} "{value}"',
                )
            )
    return out


def _inline_bare_duration(exc: LarkError, text: str, file: str) -> list[Diagnostic]:
    """A bare duration on the line the parser stopped at, left of where it stopped."""
    number = int(getattr(exc, "line", 0) or 0)
    column = int(getattr(exc, "column", 0) or 0)
    lines = text.splitlines()
    if not 1 <= number <= len(lines):
        return []
    for m in _INLINE_BARE_DURATION.finditer(lines[number - 1]):
        if m.start("value") < column:
            value = m.group("value")
            return [
                Diagnostic(
                    file,
                    number,
                    m.start("value") + 1,
                    "bare-duration",
                    f'durations are strings: write "{value}"',
                    f'put the duration in quotes, e.g. {m.group("name")} = "{value}"',
                )
            ]
    return []


def _syntax_diagnostic(exc: LarkError, text: str, file: str) -> Diagnostic:
    line = int(getattr(exc, "line", 0) or 0)
    col = int(getattr(exc, "column", 0) or 0)
    if line <= 0:
        line = text.count("\n") or 1
        col = 1
    found = "this"
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.expected or ())
        tok = exc.token
        first = str(tok).strip().split("\n")[0].strip()
        if tok.type == "$END" or str(tok) == "":
            found = "end of file"
        elif first == "":
            found = "line break"
        else:
            found = f'"{_short(first)}"'
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(getattr(exc, "allowed", None) or ())
        found = f'"{exc.char}"'
    elif isinstance(exc, UnexpectedEOF):
        expected = set(exc.expected or ())
        found = "end of file"
    if {"DBLQUOTE", "STRING_CHARS"} <= expected:
        # Inside a string when the line or file ended: point at the opening quote.
        row = text.splitlines()[line - 1] if 0 < line <= text.count("\n") + 1 else ""
        opening = row.rfind('"', 0, max(col - 1, 0))
        return Diagnostic(
            file,
            line,
            opening + 1 if opening >= 0 else col,
            "syntax",
            "syntax error: this string is not closed",
            'add the closing "; for text on several lines use a heredoc (<<EOT ... EOT)',
        )
    raw = found.strip('"') if found.startswith('"') else ""
    if raw.startswith("'"):
        return Diagnostic(
            file,
            line,
            col,
            "syntax",
            "syntax error: strings use double quotes",
            f'write "{raw.strip(chr(39))}"',
        )
    heredoc = re.match(r"<<-?([A-Za-z][\w.-]*)", raw)
    if heredoc:
        return Diagnostic(
            file,
            line,
            col,
            "syntax",
            "syntax error: this heredoc is not closed",
            f"end it with a line holding only {heredoc.group(1)}",
        )
    if found == '"""':
        if expected == {"RBRACE"}:
            return Diagnostic(
                file,
                line,
                col,
                "syntax",
                "syntax error: an interpolation is not closed",
                'add the "}" that ends ${...}',
            )
        found = 'quote (")'
    message = f"syntax error: unexpected {found}"
    after_value = "PLUS" in expected  # operators may follow: a value just ended
    value_next = "INT_LITERAL" in expected  # a value may start here
    if after_value and "NL_OR_COMMENT" in expected:
        hint = "expected a new line after the value (one attribute per line) or an operator"
    elif {"EQ", "LBRACE"} <= expected and not value_next:
        hint = 'write name = value for an attribute, or name "label" { ... } for a block'
    elif {"LBRACE", "DBLQUOTE"} <= expected and not value_next and "EQ" not in expected:
        hint = 'expected a quoted label or "{"'
    else:
        wants = _describe(expected)
        hint = (
            f"expected {wants}" if wants else "check the brackets, quotes and = signs before this"
        )
    if found == "end of file" and "RBRACE" in expected:
        hint = 'a block is not closed: add the missing "}"'
    return Diagnostic(file, line, col, "syntax", message, hint)


def _describe(expected: set[str]) -> str:
    if expected & _VALUE_START and len(expected) > 3:
        return "a value (a string, number, list, object or expression)"
    names = sorted({_WHAT[e] for e in expected if e in _WHAT})
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _short(text: str) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= 20 else text[:17] + "..."
