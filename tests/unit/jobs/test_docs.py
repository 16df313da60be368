"""The examples in docs/jobs.md are real: valid ones load, invalid ones give
exactly the messages the page quotes.

An example is a fenced ``yaml`` block after ``<!-- job-example: valid -->``
or ``<!-- job-example: invalid -->``; an invalid one is followed by a
``text`` block with the expected diagnostics (for a file named job.yaml).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gridflow.errors import LoadError
from gridflow.jobs import read_job

DOC = Path(__file__).resolve().parents[3] / "docs" / "jobs.md"
_EXAMPLE = re.compile(
    r"<!-- job-example: (?P<kind>valid|invalid) -->\n"
    r"(?P<indent>[ ]*)```yaml\n(?P<yaml>.*?)\n(?P=indent)```\n"
    r"(?:\s*```text\n(?P<expected>.*?)\n```)?",
    re.DOTALL,
)


def examples() -> list[tuple[str, str, str | None]]:
    found = []
    for m in _EXAMPLE.finditer(DOC.read_text(encoding="utf-8")):
        text = textwrap.dedent(m["yaml"]) + "\n"
        found.append((m["kind"], text, m["expected"]))
    return found


EXAMPLES = examples()


def test_the_page_has_examples_of_both_kinds() -> None:
    assert {kind for kind, _, _ in EXAMPLES} == {"valid", "invalid"}
    assert all(expected for kind, _, expected in EXAMPLES if kind == "invalid")


@pytest.mark.parametrize(
    ("kind", "text", "expected"), EXAMPLES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(EXAMPLES)]
)
def test_doc_example(tmp_path: Path, kind: str, text: str, expected: str | None) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    if kind == "valid":
        read_job(path)
        return
    with pytest.raises(LoadError) as info:
        read_job(path)
    shown = "\n".join(str(d) for d in info.value.diagnostics).replace(str(tmp_path) + "/", "")
    assert shown == expected
