"""The loader's lark parser gives python-hcl2's trees: same nodes, tokens,
positions (computed on demand instead of during the parse) and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest
from lark import Token, Tree
from lark.exceptions import LarkError

from gridflow.translators.hcl.lark_parser import PosTree, parses_to_tree
from tests.unit.hcl.test_convert import FORMS

ROOT = Path(__file__).resolve().parents[3]

META = (
    "empty",
    "line",
    "column",
    "start_pos",
    "end_line",
    "end_column",
    "end_pos",
    "container_line",
    "container_column",
    "container_start_pos",
    "container_end_line",
    "container_end_column",
    "container_end_pos",
)
TOKEN = ("type", "value", "line", "column", "start_pos", "end_line", "end_column", "end_pos")

TEXTS: dict[str, str] = {
    "empty": "",
    "blank-lines": "\n\n",
    "comment-only": "# only a comment\n",
    "comments": "a = 1 # c\n\n// d\n/* e\n f */\nb = 2\n",
    "operator-on-next-line": "a = 1 +\n  2\nb = x\n  + 3 # c\n  * 4\n",
    "trailing-comma": "c = [1,\n 2,\n]\n",
    "heredocs": "x = <<EOT\nhello ${a}\n  EOT\ny = <<-EOT\n  b\n  EOT\n",
    "for-expressions": "x = { for k, v in m : k => v if v }\ny = [for x in l : x * 2]\n",
    "blocks": 'b "l1" l2 {\n}\nc {}\nd "x" { e = 1 }\n',
    "nested-blocks": 's "a" "b" {\n  inner {\n    k = [1]\n  }\n}\n',
    "access": "x = a.b[0].c[*].d\ny = a.*.b\nz = f(1, 2, l...)\nw = a ? b : c\n",
    "directives": 'x = "%{ if a }y%{ else }z%{ endif }%{for i in l}${i}%{endfor}"\n',
    "keywords": "in {}\nfor = 1\nx = { in = 1, for = 2 }\n",
    "operators": "x = !a && -b || c == d != e < f > g <= h >= i % j / k\n",
    "crlf": 'step "print" "a" {\r\n  arguments { input = "x" }\r\n}\r\n',
    "multi-line-object": 'x = {\n  a = 1\n  b = "two"\n  c = [\n    3,\n  ]\n}\n',
}
TEXTS.update({f"form-{name}": f"locals {{\n  x = {src}\n}}\n" for name, (src, _) in FORMS.items()})
TEXTS.update(
    {
        f"file-{path.relative_to(ROOT)}": path.read_text(encoding="utf-8")
        for folder in ("examples", "tests")
        for path in sorted((ROOT / folder).rglob("*.hcl"))
    }
)

BAD: dict[str, str] = {
    "unclosed-block": 'step "print" "a" {\n',
    "single-quotes": "x = 'a'\n",
    "unclosed-string": 'x = "abc\n',
    "bare-duration": "delay = 2s\n",
    "two-values": "x = 1 2\n",
    "missing-value": "x =\n",
    "unclosed-interpolation": 'x = "${a"\n',
    "unclosed-heredoc": "x = <<EOT\nabc\n",
    "stray-brace": "}\n",
    "label-without-quotes-value": "a b = 1\n",
}


def assert_same(ours: Any, theirs: Any, path: str = "") -> None:
    if isinstance(theirs, Tree):
        assert isinstance(ours, PosTree), path
        assert ours.data == theirs.data, path
        assert len(ours.children) == len(theirs.children), path
        for name in META:
            assert getattr(ours.meta, name, None) == getattr(theirs.meta, name, None), (path, name)
        for i, (a, b) in enumerate(zip(ours.children, theirs.children, strict=True)):
            assert_same(a, b, f"{path}/{theirs.data}[{i}]")
    elif isinstance(theirs, Token):
        assert isinstance(ours, Token), path
        for name in TOKEN:
            assert getattr(ours, name) == getattr(theirs, name), (path, name)
    else:
        assert ours == theirs, path


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_same_tree_and_positions_as_python_hcl2(text: str) -> None:
    assert_same(parses_to_tree(text), hcl2.parses_to_tree(text))


def test_same_tree_for_a_generated_grid() -> None:
    parts = [
        f'step "print" "s{i}" {{\n  count = 2\n'
        f'  arguments {{ input = "${{print.s{i - 1}.output}}" }}\n}}\n'
        for i in range(1, 40)
    ]
    text = "\n".join(parts)
    assert_same(parses_to_tree(text), hcl2.parses_to_tree(text))


@pytest.mark.parametrize("text", list(BAD.values()), ids=list(BAD))
def test_same_errors_as_python_hcl2(text: str) -> None:
    with pytest.raises(LarkError) as theirs:
        hcl2.parses_to_tree(text)
    with pytest.raises(LarkError) as ours:
        parses_to_tree(text)
    assert type(ours.value) is type(theirs.value)
    for name in ("line", "column", "expected", "allowed", "char", "token"):
        assert getattr(ours.value, name, None) == getattr(theirs.value, name, None), name
