# ruff: noqa: E501 - exact messages read best unwrapped
"""Positions survive parsing: every key and value knows its line and column."""

from __future__ import annotations

import pytest

from gridflow.jobs.yamltree import YMap, YScalar, YSeq, parse_yaml, plain

TEXT = """\
# a comment
target: { scope: group, value: web }
tasks:
  - backend: apt
    params:
      package: "nginx"
  - [1, 2.5, true, null, 2024-01-01]
"""


def test_every_key_and_value_has_its_position() -> None:
    doc, problems = parse_yaml(TEXT, "job.yaml")
    assert problems == []
    assert isinstance(doc, YMap)
    assert (doc.pos.line, doc.pos.col) == (2, 1)
    assert (doc.key_pos("tasks").line, doc.key_pos("tasks").col) == (3, 1)
    target = doc.get("target")
    assert isinstance(target, YMap)
    assert (target.pos.line, target.pos.col) == (2, 9)
    value = target.get("value")
    assert isinstance(value, YScalar)
    assert (value.value, value.pos.line, value.pos.col) == ("web", 2, 32)
    tasks = doc.get("tasks")
    assert isinstance(tasks, YSeq)
    first = tasks.items[0]
    assert isinstance(first, YMap)
    params = first.get("params")
    assert isinstance(params, YMap)
    assert (params.key_pos("package").line, params.key_pos("package").col) == (6, 7)
    package = params.get("package")
    assert isinstance(package, YScalar)
    assert (package.pos.line, package.pos.col) == (6, 16)


def test_scalars_resolve_like_the_safe_loader_except_dates() -> None:
    doc, _ = parse_yaml(TEXT, "job.yaml")
    assert isinstance(doc, YMap)
    assert plain(doc)["tasks"][1] == [1, 2.5, True, None, "2024-01-01"]


def test_merge_keys_and_aliases_expand() -> None:
    text = "x: &d { a: 1, b: 2 }\ny: &y { <<: *d, b: 3 }\nz: *y\nw: &w { k: 1, <<: *w }\n"
    doc, problems = parse_yaml(text, "f.yaml")
    assert problems == []  # own keys override merged ones; an alias is flattened once
    assert isinstance(doc, YMap)
    assert plain(doc) == {
        "x": {"a": 1, "b": 2},
        "y": {"a": 1, "b": 3},
        "z": {"a": 1, "b": 3},
        "w": {"k": 1},  # merging itself adds nothing (PyYAML drops the << first)
    }
    y = doc.get("y")
    assert isinstance(y, YMap)
    assert y.key_pos("a").line == 1  # a merged key reports where it was written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 1\na: 2\n",
            'f.yaml:2:1: error: key "a" is written twice in this mapping (first at line 1) [duplicate-key]\n  hint: remove one of them: YAML would silently keep only the last',
        ),
        (
            "? [a]\n: 1\n",
            "f.yaml:1:3: error: a mapping key must be a name, not a list or mapping [bad-key]\n  hint: write the key as plain text",
        ),
        (
            "1: x\n",
            "f.yaml:1:1: error: a mapping key must be a name, not the number 1 [bad-key]\n  hint: quote it to use it as a name",
        ),
        ("a: !!int x\n", 'f.yaml:1:4: error: "x" cannot be read as int [bad-value]'),
        (
            "a: !custom {b: 1}\n",
            "f.yaml:1:4: error: YAML tag !custom is not supported here [unknown-tag]\n  hint: remove the tag: jobs and inventories use plain YAML values",
        ),
        (
            "a: { <<: 3 }\n",
            "f.yaml:1:4: error: cannot merge: expected a mapping or list of mappings for merging, but found scalar [bad-merge]",
        ),
    ],
    ids=["duplicate", "list-key", "number-key", "bad-int", "custom-tag", "bad-merge"],
)
def test_document_problems(text: str, expected: str) -> None:
    _, problems = parse_yaml(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]
