"""python-hcl2's lark tree -> :mod:`gridflow.expr.ast` nodes.

The lark tree keeps every token (quotes, braces, newlines) and gives template
directives flat; this module drops the punctuation, assembles ``%{if}`` and
``%{for}`` into nested nodes, and stamps line/column on every node so errors
found later (at load or run time) point at the source. Heredoc bodies are the
one place the grammar leaves unparsed: their interpolations are cut out here
and parsed as expressions, with their positions shifted back into the file.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from lark import Token, Tree

from gridflow.errors import ExpressionError, SourcePos
from gridflow.expr import ast
from gridflow.translators.hcl.heredoc import HEREDOC_PREFIX, heredoc_string

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_UNICODE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_BINARY_OPS = {"==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "&&", "||"}


class ConvertError(ExpressionError):
    """The tree holds a construct gridflow cannot represent."""


def line_col(node: Tree[Any] | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 0, node.column or 0
    meta = node.meta
    return getattr(meta, "line", 0), getattr(meta, "column", 0)


def _subtrees(tree: Tree[Any]) -> list[Tree[Any]]:
    return [c for c in tree.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _tokens(tree: Tree[Any]) -> list[Token]:
    return [c for c in tree.children if isinstance(c, Token)]


def unescape(raw: str) -> str:
    """HCL string escapes (``\\n``, ``\\"``, ``\\u00e9``...) to their characters."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) or m.group(2):
            return chr(int(m.group(1) or m.group(2), 16))
        ch = m.group(3)
        return _ESCAPES.get(ch, "\\" + ch)

    return _UNICODE.sub(repl, raw)


def identifier(tree: Tree[Any] | Token) -> str:
    """The text of an ``identifier``/``keyword``/``literal_value`` tree or a token."""
    if isinstance(tree, Token):
        return str(tree)
    tok = next(t for t in tree.scan_values(lambda v: isinstance(v, Token)))
    return str(tok)


class Converter:
    """Converts expression subtrees of one file."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, node: Tree[Any] | Token, message: str, hint: str = "") -> ConvertError:
        line, col = line_col(node)
        return ConvertError(message, pos=SourcePos(self.file, line, col), hint=hint)

    # ------------------------------------------------------------ dispatch
    def expr(self, tree: Tree[Any] | Token) -> ast.Node:
        if isinstance(tree, Token):
            raise self.fail(tree, f"unexpected {tree!s}")
        method = getattr(self, "_" + str(tree.data), None)
        if method is None:
            raise self.fail(tree, f"unsupported expression ({tree.data})")
        node: ast.Node = method(tree)
        return node

    def _expr_term(self, tree: Tree[Any]) -> ast.Node:
        kids = _subtrees(tree)
        if len(kids) == 1:
            return self.expr(kids[0])
        raise self.fail(tree, "malformed expression")

    def _identifier(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        return ast.Var(identifier(tree), line, col)

    def _keyword(self, tree: Tree[Any]) -> ast.Node:
        return self._identifier(tree)

    def _literal_value(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        text = identifier(tree)
        value: bool | None = {"true": True, "false": False, "null": None}[text]
        return ast.Lit(value, line, col)

    def _int_lit(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        return ast.Lit(int(str(tree.children[0])), line, col)

    def _float_lit(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        return ast.Lit(float(str(tree.children[0])), line, col)

    # ------------------------------------------------------------ strings
    def _string(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        return self._assemble(self._pieces(tree), line, col)

    def _pieces(self, tree: Tree[Any]) -> list[tuple[str, Any]]:
        pieces: list[tuple[str, Any]] = []
        for part in tree.children:
            if isinstance(part, Token):
                continue  # the quotes
            inner = part.children[0]
            if isinstance(inner, Token):
                if inner.type == "STRING_CHARS":
                    text = unescape(str(inner))
                elif inner.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                    text = str(inner)[1:]
                else:
                    text = str(inner)
                pieces.append(("text", ast.Lit(text, *line_col(inner))))
            else:
                pieces.append((str(inner.data), inner))
        _apply_strip_markers(pieces)
        return pieces

    def _template_string(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        raw = str(tree.children[0])
        return ast.Lit(unescape(raw[2:-2]), line, col)

    def _assemble(self, pieces: list[tuple[str, Any]], line: int, col: int) -> ast.Node:
        """Build a Template from flat parts, nesting if/for directives."""
        stream = iter(pieces)
        parts, end = self._parts_until(stream, set())
        if end is not None:
            raise self.fail(end[1], f"%{{{end[0].removeprefix('template_')}}} without its opener")
        if not parts:
            return ast.Lit("", line, col)
        if len(parts) == 1 and isinstance(parts[0], ast.Lit):
            return ast.Lit(parts[0].value, line, col)  # plain text: a literal, checkable now
        return _template(parts, line, col)

    def _parts_until(
        self, stream: Iterator[tuple[str, Any]], stops: set[str]
    ) -> tuple[list[ast.Node], tuple[str, Any] | None]:
        parts: list[ast.Node] = []
        for kind, value in stream:
            if kind == "text":
                if not value.value:
                    continue  # emptied by a strip marker
                if parts and isinstance(parts[-1], ast.Lit) and isinstance(parts[-1].value, str):
                    last = parts[-1]
                    parts[-1] = ast.Lit(last.value + value.value, last.line, last.col)
                else:
                    parts.append(value)
            elif kind == "interpolation":
                parts.append(self.expr(_subtrees(value)[0]))
            elif kind == "template_if_start":
                parts.append(self._template_if(value, stream))
            elif kind == "template_for_start":
                parts.append(self._template_for(value, stream))
            elif kind in stops:
                return parts, (kind, value)
            else:
                raise self.fail(value, f"%{{{kind.removeprefix('template_')}}} without its opener")
        return parts, None

    def _template_if(self, start: Tree[Any], stream: Iterator[tuple[str, Any]]) -> ast.Node:
        line, col = line_col(start)
        cond = self.expr(_subtrees(start)[0])
        then, end = self._parts_until(stream, {"template_else", "template_endif"})
        otherwise: ast.Template | None = None
        if end is not None and end[0] == "template_else":
            other, end = self._parts_until(stream, {"template_endif"})
            otherwise = _template(other, line, col)
        if end is None:
            raise self.fail(start, "%{if} is not closed", "add %{endif}")
        return ast.TemplateIf(cond, _template(then, line, col), otherwise, line, col)

    def _template_for(self, start: Tree[Any], stream: Iterator[tuple[str, Any]]) -> ast.Node:
        line, col = line_col(start)
        kids = _subtrees(start)
        names = [identifier(k) for k in kids if k.data == "identifier"]
        coll = self.expr(kids[-1])
        body, end = self._parts_until(stream, {"template_endfor"})
        if end is None:
            raise self.fail(start, "%{for} is not closed", "add %{endfor}")
        key_var, value_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ast.TemplateFor(key_var, value_var, coll, _template(body, line, col), line, col)

    def _heredoc_template(self, tree: Tree[Any]) -> ast.Node:
        return self._heredoc(tree, trim=False)

    def _heredoc_template_trim(self, tree: Tree[Any]) -> ast.Node:
        return self._heredoc(tree, trim=True)

    def _heredoc(self, tree: Tree[Any], *, trim: bool) -> ast.Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        line, col = line_col(token)
        raw = str(token)
        lines = raw.split("\n")
        body_lines = lines[1:-2]  # drop the <<EOT line, the closing marker and final ""
        cut = 0
        if trim:
            indents = [len(x) - len(x.lstrip(" \t")) for x in body_lines if x.strip()]
            cut = min(indents, default=0)
            body_lines = [x[cut:] for x in body_lines]
        body = "\n".join(body_lines) + ("\n" if body_lines else "")
        string, origin = heredoc_string(self.file, body, line + 1)
        node = self._string(string)
        starts = [0]
        for body_line in body_lines:
            starts.append(starts[-1] + len(body_line) + 1)

        def place(n: ast.Node) -> ast.Node:
            # The body was parsed as one line after HEREDOC_PREFIX: map each
            # column back to the body's line and column in the file.
            index = n.col - 1 - len(HEREDOC_PREFIX)
            if n.line != 1 or not 0 <= index < len(origin):
                return dataclasses.replace(n, line=line, col=col)
            offset = origin[index]
            row = bisect.bisect_right(starts, offset) - 1
            return dataclasses.replace(n, line=line + 1 + row, col=offset - starts[row] + 1 + cut)

        node = ast.replace(node, place)
        return dataclasses.replace(node, line=line, col=col)

    # ------------------------------------------------------------ collections
    def _tuple(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        return ast.TupleExpr(tuple(self.expr(k) for k in _subtrees(tree)), line, col)

    def _object(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        items: list[tuple[ast.Node, ast.Node]] = []
        for elem in _subtrees(tree):
            key_tree, value_tree = _subtrees(elem)
            items.append((self._object_key(key_tree), self.expr(value_tree)))
        return ast.ObjectExpr(tuple(items), line, col)

    def _object_key(self, tree: Tree[Any]) -> ast.Node:
        inner = _subtrees(tree)
        line, col = line_col(tree)
        if not inner:
            return ast.Lit(identifier(tree), line, col)
        node = inner[0]
        if node.data == "keyword":
            return ast.Lit(identifier(node), line, col)
        key = self.expr(node)
        # A bare name as a key is the key's text, as in HCL; `(name)` evaluates it.
        if isinstance(key, ast.Var) and not _parenthesised(node):
            return ast.Lit(key.name, key.line, key.col)
        return key

    # ------------------------------------------------------------ operators
    def _unary_op(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        op = str(_tokens(tree)[0])
        operand = self.expr(_subtrees(tree)[0])
        value = operand.value if isinstance(operand, ast.Lit) else None
        if op == "-" and isinstance(value, int | float) and not isinstance(value, bool):
            return ast.Lit(-value, line, col)
        return ast.Unary(op, operand, line, col)

    def _binary_op(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        left_tree, term = _subtrees(tree)
        op_tree, right_tree = _subtrees(term)
        op = str(_tokens(op_tree)[0]).strip()
        if op not in _BINARY_OPS:
            raise self.fail(op_tree, f"unknown operator {op}")
        return ast.Binary(op, self.expr(left_tree), self.expr(right_tree), line, col)

    def _conditional(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        cond, then, other = _subtrees(tree)
        return ast.Cond(self.expr(cond), self.expr(then), self.expr(other), line, col)

    # ------------------------------------------------------------ calls, access
    def _function_call(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        kids = _subtrees(tree)
        names = [identifier(k) for k in kids if k.data == "identifier"]
        if len(names) > 1:
            raise self.fail(
                tree,
                f'provider functions ("{"::".join(names)}") are not supported',
                "call a built-in function instead",
            )
        args_tree = next((k for k in kids if k.data == "arguments"), None)
        args: tuple[ast.Node, ...] = ()
        expand = False
        if args_tree is not None:
            args = tuple(self.expr(a) for a in _subtrees(args_tree))
            expand = any(t.type == "ELLIPSIS" for t in _tokens(args_tree))
        return ast.Call(names[0], args, expand, line, col)

    def _get_attr_expr_term(self, tree: Tree[Any]) -> ast.Node:
        obj_tree, attr = _subtrees(tree)
        return self._apply_access(self.expr(obj_tree), attr)

    def _index_expr_term(self, tree: Tree[Any]) -> ast.Node:
        obj_tree, index = _subtrees(tree)
        return self._apply_access(self.expr(obj_tree), index)

    def _apply_access(self, obj: ast.Node, access: Tree[Any]) -> ast.Node:
        line, col = obj.line, obj.col
        if access.data == "get_attr":
            name_tree = _subtrees(access)[0]
            return ast.GetAttr(obj, identifier(name_tree), line, col)
        if access.data == "short_index":
            number = next(t for t in _tokens(access) if t.type == "INT_LITERAL")
            return ast.Index(obj, ast.Lit(int(str(number)), *line_col(number)), line, col)
        if access.data == "braces_index":
            return ast.Index(obj, self.expr(_subtrees(access)[0]), line, col)
        raise self.fail(access, f"unsupported access ({access.data})")

    def _attr_splat_expr_term(self, tree: Tree[Any]) -> ast.Node:
        return self._splat(tree)

    def _full_splat_expr_term(self, tree: Tree[Any]) -> ast.Node:
        return self._splat(tree)

    def _splat(self, tree: Tree[Any]) -> ast.Node:
        obj_tree, splat = _subtrees(tree)
        obj = self.expr(obj_tree)
        each: ast.Node = ast.Var("__splat__", obj.line, obj.col)
        for access in _subtrees(splat):
            each = self._apply_access(each, access)
        return ast.Splat(obj, each, obj.line, obj.col)

    # ------------------------------------------------------------ for
    def _for_intro(self, tree: Tree[Any]) -> tuple[str | None, str, ast.Node]:
        kids = _subtrees(tree)
        names = [identifier(k) for k in kids if k.data == "identifier"]
        coll = self.expr(kids[-1])
        if len(names) == 2:
            return names[0], names[1], coll
        return None, names[0], coll

    def _for_tuple_expr(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        kids = _subtrees(tree)
        key_var, value_var, coll = self._for_intro(kids[0])
        body = self.expr(kids[1])
        cond = self._for_cond(kids[2:])
        return ast.ForTuple(key_var, value_var, coll, body, cond, line, col)

    def _for_object_expr(self, tree: Tree[Any]) -> ast.Node:
        line, col = line_col(tree)
        kids = _subtrees(tree)
        key_var, value_var, coll = self._for_intro(kids[0])
        key = self.expr(kids[1])
        value = self.expr(kids[2])
        cond = self._for_cond(kids[3:])
        group = any(t.type == "ELLIPSIS" for t in _tokens(tree))
        return ast.ForObject(key_var, value_var, coll, key, value, cond, group, line, col)

    def _for_cond(self, rest: list[Tree[Any]]) -> ast.Node | None:
        for tree in rest:
            if tree.data == "for_cond":
                return self.expr(_subtrees(tree)[0])
        return None


def _apply_strip_markers(pieces: list[tuple[str, Any]]) -> None:
    """``%{~ ...}`` / ``%{... ~}``: drop the whitespace (newlines too) before/after
    the directive from the neighbouring text, as HCL does."""
    for i, (kind, value) in enumerate(pieces):
        if kind == "text" or kind == "interpolation":
            continue
        tokens = [c for c in value.children if isinstance(c, Token)]
        if len(tokens) < 2:
            continue
        if tokens[1].type == "STRIP_MARKER":
            j = i - 1
            while j >= 0 and pieces[j][0] == "text":
                lit = pieces[j][1]
                pieces[j] = ("text", dataclasses.replace(lit, value=lit.value.rstrip()))
                if pieces[j][1].value:
                    break
                j -= 1
        if tokens[-2].type == "STRIP_MARKER":
            j = i + 1
            while j < len(pieces) and pieces[j][0] == "text":
                lit = pieces[j][1]
                pieces[j] = ("text", dataclasses.replace(lit, value=lit.value.lstrip()))
                if pieces[j][1].value:
                    break
                j += 1


def _parenthesised(tree: Tree[Any]) -> bool:
    return tree.data == "expr_term" and any(
        isinstance(c, Token) and c.type == "LPAR" for c in tree.children
    )


def _template(parts: list[ast.Node], line: int, col: int) -> ast.Template:
    return ast.Template(tuple(parts), line, col)
