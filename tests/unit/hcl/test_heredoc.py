"""Heredocs are templates: interpolations (with strings inside) and directives."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflow.engines.local import run_grid
from gridflow.translators.hcl import load_grid


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('      hello ${upper("x")} and ${"y"}\n', "hello X and y\n"),
        ('      a "quoted" \\n word\n', 'a "quoted" \\n word\n'),
        ("      %{ for i in [1, 2] }${i}%{ endfor }\n", "12\n"),
        ("      $${not} %%{not}\n", "${not} %{not}\n"),
    ],
    ids=["string-in-interpolation", "quotes-and-backslash", "for-directive", "escapes"],
)
def test_heredoc_values(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "main.hcl").write_text(
        'step "print" "a" {\n  arguments {\n    input = <<-EOT\n' + body + "    EOT\n  }\n}\n"
    )
    loaded = load_grid([tmp_path], environ={})
    assert run_grid(loaded.plan, loaded.values).result()["steps"]["print.a"]["output"] == expected
