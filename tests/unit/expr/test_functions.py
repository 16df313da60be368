"""The function library: one row per behaviour, normal cases and exact error texts."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from gridflow.errors import LimitExceeded
from gridflow.expr import ast
from gridflow.expr.evaluator import Limits, Scope, evaluate
from gridflow.expr.functions import FUNCTIONS, arity_error

from .builders import call, ev, fails, var

OK: list[tuple[str, str, tuple[Any, ...], Any]] = [
    # (id, function, args, expected)
    ("length-string", "length", ("héllo",), 5),
    ("length-list", "length", ([1, 2, 3],), 3),
    ("length-map", "length", ({"a": 1},), 1),
    ("upper", "upper", ("abc",), "ABC"),
    ("lower", "lower", ("AbC",), "abc"),
    ("title", "title", ("hello WORLD-wide web",), "Hello WORLD-Wide Web"),
    ("trim", "trim", ("?!hello?!", "!?"), "hello"),
    ("trimspace", "trimspace", ("  x \n",), "x"),
    ("trimprefix", "trimprefix", ("helloworld", "hello"), "world"),
    ("trimprefix-absent", "trimprefix", ("helloworld", "xx"), "helloworld"),
    ("trimsuffix", "trimsuffix", ("helloworld", "world"), "hello"),
    ("chomp", "chomp", ("line\r\n",), "line"),
    ("strrev", "strrev", ("abc",), "cba"),
    ("format-s-d", "format", ("%s has %d", "bob", 3), "bob has 3"),
    ("format-float", "format", ("%.2f", 3.14159), "3.14"),
    ("format-f-default", "format", ("%f", 1.5), "1.500000"),
    ("format-width", "format", ("[%5s][%-5s]", "ab", "cd"), "[   ab][cd   ]"),
    ("format-zero-pad", "format", ("%05d", -42), "-0042"),
    ("format-q", "format", ("%q", 'say "hi"'), '"say \\"hi\\""'),
    ("format-v-list", "format", ("%v", [1, "a"]), '[1,"a"]'),
    ("format-v-number", "format", ("%v", 2.0), "2"),
    ("format-t", "format", ("%t", True), "true"),
    ("format-percent", "format", ("100%%",), "100%"),
    ("format-s-number", "format", ("%s", 2.5), "2.5"),
    ("format-x", "format", ("%x|%X|%o|%b", 255, 255, 8, 5), "ff|FF|10|101"),
    ("format-explicit-index", "format", ("%[2]s %[1]s", "a", "b"), "b a"),
    ("format-plus", "format", ("%+d", 5), "+5"),
    ("formatlist", "formatlist", ("%s=%d", ["a", "b"], [1, 2]), ["a=1", "b=2"]),
    ("formatlist-scalar", "formatlist", ("x-%s", ["a", "b"]), ["x-a", "x-b"]),
    ("join", "join", (", ", ["a", "b", "c"]), "a, b, c"),
    ("join-many", "join", ("-", ["a"], ["b", 1]), "a-b-1"),
    ("split", "split", (",", "a,b,,c"), ["a", "b", "", "c"]),
    ("split-empty-sep", "split", ("", "abc"), ["a", "b", "c"]),
    ("replace", "replace", ("a-b-c", "-", "+"), "a+b+c"),
    ("replace-regex", "replace", ("hello 123", "/[0-9]+/", "N"), "hello N"),
    (
        "replace-regex-groups",
        "replace",
        ("john smith", "/(\\w+) (\\w+)/", "$2, ${1}"),
        "smith, john",
    ),
    ("replace-regex-dollar", "replace", ("a", "/a/", "$$"), "$"),
    ("substr", "substr", ("hello world", 1, 4), "ello"),
    ("substr-rest", "substr", ("hello", 2, -1), "llo"),
    ("substr-negative-offset", "substr", ("hello", -3, 2), "ll"),
    ("substr-long", "substr", ("hi", 0, 10), "hi"),
    ("contains-yes", "contains", (["a", 1], 1.0), True),
    ("contains-bool-not-number", "contains", ([1], True), False),
    ("keys-sorted", "keys", ({"b": 1, "a": 2},), ["a", "b"]),
    ("values-by-key", "values", ({"b": 1, "a": 2},), [2, 1]),
    ("lookup", "lookup", ({"a": 1}, "a"), 1),
    ("lookup-default", "lookup", ({"a": 1}, "b", "d"), "d"),
    ("merge", "merge", ({"a": 1, "b": 1}, {"b": 2}, None), {"a": 1, "b": 2}),
    ("merge-none", "merge", (), {}),
    ("concat", "concat", ([1], [], [2, 3]), [1, 2, 3]),
    ("flatten", "flatten", ([1, [2, [3, []]], 4],), [1, 2, 3, 4]),
    ("distinct", "distinct", ([1, "1", 1.0, True, 1, [1], [1]],), [1, "1", True, [1]]),
    ("sort", "sort", (["b", "a", "c"],), ["a", "b", "c"]),
    ("sort-numbers-as-strings", "sort", ([10, 9],), ["10", "9"]),
    ("reverse", "reverse", ([1, 2, 3],), [3, 2, 1]),
    ("slice", "slice", ([1, 2, 3, 4], 1, 3), [2, 3]),
    ("slice-empty", "slice", ([1, 2], 2, 2), []),
    ("element", "element", (["a", "b"], 1), "b"),
    ("element-wraps", "element", (["a", "b", "c"], 4), "b"),
    ("index", "index", (["a", "b"], "b"), 1),
    ("zipmap", "zipmap", (["a", "b"], [1, 2]), {"a": 1, "b": 2}),
    ("startswith", "startswith", ("hello", "he"), True),
    ("endswith", "endswith", ("hello", "he"), False),
    ("strcontains", "strcontains", ("hello", "ell"), True),
    ("regex-plain", "regex", ("[a-z]+", "123abc456"), "abc"),
    ("regex-groups", "regex", ("(\\d+)-(\\d+)", "x 10-20"), ["10", "20"]),
    ("regex-named", "regex", ("(?P<y>\\d{4})-(?P<m>\\d\\d)", "2024-05"), {"y": "2024", "m": "05"}),
    ("regexall", "regexall", ("[0-9]", "a1b2"), ["1", "2"]),
    ("regexall-none", "regexall", ("z", "abc"), []),
    ("range-1", "range", (3,), [0, 1, 2]),
    ("range-2", "range", (1, 4), [1, 2, 3]),
    ("range-3", "range", (0, 10, 3), [0, 3, 6, 9]),
    ("range-down", "range", (3, 0), [3, 2, 1]),
    ("range-float", "range", (0, 1, 0.5), [0, 0.5]),
    ("range-empty", "range", (0,), []),
    ("min", "min", (3, 1.5, 2), 1.5),
    ("max", "max", (3, 1.5, 2), 3),
    ("abs", "abs", (-2.5,), 2.5),
    ("ceil", "ceil", (1.2,), 2),
    ("floor", "floor", (-1.2,), -2),
    ("pow", "pow", (2, 10), 1024),
    ("pow-float", "pow", (4, 0.5), 2.0),
    ("signum", "signum", (-7,), -1),
    ("parseint", "parseint", ("ff", 16), 255),
    ("parseint-negative", "parseint", ("-101", 2), -5),
    ("log", "log", (8, 2), 3.0),
    ("tostring-number", "tostring", (5.0,), "5"),
    ("tostring-bool", "tostring", (False,), "false"),
    ("tostring-null", "tostring", (None,), None),
    ("tonumber-string", "tonumber", ("1.5",), 1.5),
    ("tonumber-int", "tonumber", ("42",), 42),
    ("tonumber-exp", "tonumber", ("1e3",), 1000),
    ("tobool-string", "tobool", ("true",), True),
    ("toset", "toset", (["b", "a", "b"],), ["a", "b"]),
    ("toset-numbers", "toset", ([10, 9, 10],), [9, 10]),
    ("toset-mixed", "toset", ([1, "a"],), ["1", "a"]),
    ("tolist", "tolist", ([1],), [1]),
    ("tomap", "tomap", ({"a": 1},), {"a": 1}),
    (
        "jsonencode",
        "jsonencode",
        ({"b": [1, 2.0, None, True], "a": "é"},),
        '{"b":[1,2,null,true],"a":"é"}',
    ),
    ("jsondecode", "jsondecode", ('{"a": [1, 2.5, null]}',), {"a": [1, 2.5, None]}),
    ("base64encode", "base64encode", ("héllo",), base64.b64encode("héllo".encode()).decode()),
    ("base64decode", "base64decode", ("aGVsbG8=",), "hello"),
    ("urlencode", "urlencode", ("a b&c/é",), "a+b%26c%2F%C3%A9"),
    ("coalesce", "coalesce", (None, "", "x", "y"), "x"),
    ("coalesce-number", "coalesce", (None, 0), 0),
    ("coalescelist", "coalescelist", ([], [1]), [1]),
    ("compact", "compact", (["a", "", None, "b"],), ["a", "b"]),
    ("sha256", "sha256", ("abc",), hashlib.sha256(b"abc").hexdigest()),
    ("md5", "md5", ("abc",), hashlib.md5(b"abc").hexdigest()),
    ("sha1", "sha1", ("abc",), hashlib.sha1(b"abc").hexdigest()),
    ("one-empty", "one", ([],), None),
    ("one", "one", ([5],), 5),
    ("sum", "sum", ([1, 2.5, 3],), 6.5),
    ("alltrue", "alltrue", ([True, True],), True),
    ("alltrue-empty", "alltrue", ([],), True),
    ("anytrue", "anytrue", ([False, True],), True),
    ("anytrue-empty", "anytrue", ([],), False),
    ("chunklist", "chunklist", ([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]),
    ("chunklist-zero", "chunklist", ([1, 2], 0), [[1, 2]]),
    ("setunion", "setunion", (["b", "a"], ["c", "a"]), ["a", "b", "c"]),
    ("setintersection", "setintersection", (["a", "b"], ["b", "c"]), ["b"]),
    ("setsubtract", "setsubtract", (["a", "b", "c"], ["b"]), ["a", "c"]),
    ("env-default", "env", ("GRIDFLOW_TEST_SURELY_UNSET", "d"), "d"),
    (
        "yamldecode",
        "yamldecode",
        ("a: 1\nb: [x, 2020-01-02]\n3: yes\n",),
        {"a": 1, "b": ["x", "2020-01-02"], "3": True},
    ),
    ("yamlencode", "yamlencode", ({"b": 1.0, "a": ["x", None]},), "b: 1\na:\n- x\n- null\n"),
]


@pytest.mark.parametrize(("fn", "args", "expected"), [r[1:] for r in OK], ids=[r[0] for r in OK])
def test_function_results(fn: str, args: tuple[Any, ...], expected: Any) -> None:
    result = ev(call(fn, *args), environ={})
    assert result == expected
    assert type(result) is type(expected)


ERRORS: list[tuple[str, str, tuple[Any, ...], str]] = [
    # (id, function, args, exact message)
    ("upper-number", "upper", (5,), "upper(): argument 1 must be a string, got number"),
    (
        "length-number",
        "length",
        (5,),
        "length(): argument 1 must be a string, list or map, got number",
    ),
    ("join-map", "join", (",", {"a": "b"}), "join(): argument 2 must be a list, got map"),
    ("join-null", "join", (",", ["a", None]), "join(): argument 2 contains null"),
    (
        "join-nested",
        "join",
        (",", [["a"]]),
        "join(): argument 2 must contain only strings, found a list",
    ),
    ("replace-empty", "replace", ("a", "", "b"), "replace(): argument 2 must not be empty"),
    (
        "regex-bad",
        "regex",
        ("(", "x"),
        'regex(): invalid regular expression "(": missing ) at position 1',
    ),
    ("regex-nomatch", "regex", ("z", "abc"), 'regex(): pattern "z" does not match "abc"'),
    (
        "substr-offset",
        "substr",
        ("abc", 5, 1),
        "substr(): offset 5 is past the end of a 3-character string",
    ),
    (
        "contains-string",
        "contains",
        ("abc", "a"),
        "contains(): argument 1 must be a list, got string",
    ),
    ("lookup-missing", "lookup", ({"alpha": 1}, "alpah"), 'lookup(): the map has no key "alpah"'),
    ("merge-list", "merge", ({}, [1]), "merge(): argument 2 must be a map, got list"),
    (
        "slice-range",
        "slice",
        ([1, 2], 1, 3),
        "slice(): end index 3 is out of range (start 1, length 2)",
    ),
    ("element-empty", "element", ([], 0), "element(): cannot take an element of an empty list"),
    ("element-negative", "element", ([1], -1), "element(): index must not be negative, got -1"),
    (
        "element-fraction",
        "element",
        ([1], 0.5),
        "element(): argument 2 must be a whole number, got number",
    ),
    ("index-missing", "index", (["a"], "b"), 'index(): "b" is not in the list'),
    ("zipmap-lengths", "zipmap", (["a"], [1, 2]), "zipmap(): 1 keys but 2 values"),
    ("range-step-zero", "range", (0, 5, 0), "range(): step must not be 0"),
    ("range-wrong-way", "range", (5, 0, 1), "range(): step 1 never reaches 0 from 5"),
    ("min-string", "min", (1, "2"), "min(): argument 2 must be a number, got string"),
    ("pow-huge", "pow", (10, 100000), "pow(): the result is too large"),
    ("pow-zero-negative", "pow", (0, -1), "pow(): 0 cannot be raised to a negative power"),
    ("parseint-bad", "parseint", ("12z", 10), 'parseint(): "12z" is not a whole number in base 10'),
    ("parseint-base", "parseint", ("1", 99), "parseint(): base must be from 2 to 62, got 99"),
    ("tonumber-bad", "tonumber", ("abc",), 'tonumber(): "abc" is not a number'),
    (
        "tonumber-bool",
        "tonumber",
        (True,),
        "tonumber(): argument 1 must be a number or a string, got bool",
    ),
    (
        "tostring-list",
        "tostring",
        ([1],),
        "tostring(): argument 1 must be a string, number or bool, got list",
    ),
    ("tobool-bad", "tobool", ("yes",), 'tobool(): "yes" is not "true" or "false"'),
    (
        "jsondecode-bad",
        "jsondecode",
        ("{",),
        "jsondecode(): invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
    ),
    ("jsondecode-nan", "jsondecode", ("NaN",), "jsondecode(): invalid JSON: NaN is not allowed"),
    ("base64decode-bad", "base64decode", ("***",), 'base64decode(): "***" is not valid base64'),
    (
        "base64decode-binary",
        "base64decode",
        ("/w==",),
        "base64decode(): the decoded bytes are not valid UTF-8 text",
    ),
    (
        "coalesce-all-null",
        "coalesce",
        (None, ""),
        "coalesce(): every argument is null or an empty string",
    ),
    ("coalescelist-empty", "coalescelist", ([],), "coalescelist(): every list is empty"),
    ("one-many", "one", ([1, 2],), "one(): the list has 2 elements; it must have 0 or 1"),
    ("sum-empty", "sum", ([],), "sum(): cannot sum an empty list"),
    ("sum-string", "sum", (["1"],), "sum(): argument 1 must contain only numbers, found a string"),
    (
        "alltrue-string",
        "alltrue",
        (["true"],),
        "alltrue(): argument 1 must contain only bools, found a string",
    ),
    (
        "format-missing-arg",
        "format",
        ("%s %s", "a"),
        'format(): not enough arguments for the verb "%s" (number 2)',
    ),
    (
        "format-extra-arg",
        "format",
        ("%s", "a", "b"),
        "format(): too many arguments; the format string uses 1 of 2",
    ),
    ("format-d-string", "format", ("%d", "x"), "format(): %d needs a number, got string"),
    ("format-d-fraction", "format", ("%d", 1.5), "format(): %d needs a whole number, got 1.5"),
    ("format-bad-verb", "format", ("%y", 1), "format(): unsupported verb %y"),
    (
        "format-trailing",
        "format",
        ("50%",),
        'format(): format string ends in an incomplete verb "%"',
    ),
    ("format-s-null", "format", ("%s", None), "format(): %s needs a string, got null"),
    (
        "formatlist-lengths",
        "formatlist",
        ("%s%s", ["a"], ["b", "c"]),
        "formatlist(): argument 3 has 2 elements but an earlier list has 1",
    ),
    (
        "env-missing",
        "env",
        ("GRIDFLOW_TEST_SURELY_UNSET",),
        'env(): the environment variable "GRIDFLOW_TEST_SURELY_UNSET" is not set',
    ),
    ("file-no-base", "file", ("x.txt",), "file(): reading files is not available here"),
    (
        "chunklist-negative",
        "chunklist",
        ([1], -1),
        "chunklist(): size must not be negative, got -1",
    ),
    (
        "yamldecode-alias",
        "yamldecode",
        ("a: &x [1]\nb: *x",),
        'yamldecode(): invalid YAML: aliases (*name) are not allowed in "<unicode string>", '
        "line 2, column 4: b: *x ^",
    ),
    (
        "yamldecode-python-tag",
        "yamldecode",
        ("!!python/object:os.system x",),
        "yamldecode(): invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object:os.system' in \"<unicode string>\", line 1, column 1: "
        "!!python/object:os.system x ^",
    ),
    (
        "yamldecode-binary",
        "yamldecode",
        ("!!binary aGk=",),
        "yamldecode(): values of YAML type bytes are not supported",
    ),
    ("reverse-string", "reverse", ("abc",), "reverse(): argument 1 must be a list, got string"),
]


@pytest.mark.parametrize(
    ("fn", "args", "message"), [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS]
)
def test_function_errors(fn: str, args: tuple[Any, ...], message: str) -> None:
    err = fails(call(fn, *args), environ={})
    assert err.message == message
    assert err.pos is not None


HINTS = [
    ("lookup-suggests", call("lookup", {"alpha": 1}, "alpah"), 'did you mean "alpha"?'),
    ("upper-tostring", call("upper", 5), "convert it with tostring(...)"),
    (
        "env-default",
        call("env", "NOPE_X"),
        'set NOPE_X before running, or give a default: env("NOPE_X", "value")',
    ),
    ("unknown-function", call("uper", "x"), 'did you mean "upper"?'),
    ("arity", call("upper"), "usage: upper(string)"),
]


@pytest.mark.parametrize(("expr", "hint"), [h[1:] for h in HINTS], ids=[h[0] for h in HINTS])
def test_function_hints(expr: ast.Node, hint: str) -> None:
    assert fails(expr, environ={}).hint == hint


def test_argument_errors_point_at_the_argument() -> None:
    expr = ast.Call("upper", (ast.Lit(5, line=3, col=14),), line=3, col=8)
    err = fails(expr)
    assert err.pos is not None
    assert (err.pos.line, err.pos.col) == (3, 14)


def test_unexpected_python_errors_still_become_expression_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The safety net: a bug inside a function must not escape as a KeyError.
    def broken(env: object, args: object) -> object:
        raise KeyError("oops")

    monkeypatch.setitem(FUNCTIONS, "upper", dataclasses.replace(FUNCTIONS["upper"], impl=broken))
    err = fails(ast.Call("upper", (ast.Lit("x"),), line=2, col=5), file="g.hcl")
    assert err.message == "internal error while evaluating the expression: KeyError: 'oops'"
    assert str(err.pos) == "g.hcl:2:5"


def test_arity_messages() -> None:
    assert arity_error("upper", 1) is None
    assert arity_error("upper", 2) == "upper() expects 1 argument, got 2"
    assert arity_error("lookup", 1) == "lookup() expects 2 to 3 arguments, got 1"
    assert arity_error("concat", 0) == "concat() expects at least 1 argument, got 0"
    assert arity_error("uuid", 1) == "uuid() expects 0 arguments, got 1"


def test_every_spec_has_an_implementation_or_is_lazy() -> None:
    for name, spec in FUNCTIONS.items():
        assert spec.name == name
        assert (spec.impl is None) == spec.lazy, name
        assert spec.usage.startswith(name), name


def test_expand_last_examples() -> None:
    assert ev(call("max", [3, 9, 4], expand=True)) == 9
    assert ev(call("format", "%s-%s", ["a", "b"], expand=True)) == "a-b"
    assert ev(call("min", 5, [3, 9], expand=True)) == 3
    err = fails(call("max", 5, expand=True))
    assert err.message == "max(): the argument before ... must be a list, got number"
    err = fails(call("upper", ["a", "b"], expand=True))
    assert err.message == "upper() expects 1 argument, got 2 after expanding ..."


# ------------------------------------------------------------ try and can


def test_try_returns_first_success() -> None:
    expr = call("try", ast.GetAttr(var("var"), "missing"), "fallback")
    assert ev(expr, roots={"var": {}}) == "fallback"


def test_try_all_fail() -> None:
    err = fails(call("try", call("upper", 1), call("lower", 1)))
    assert err.message.startswith("try(): no argument could be evaluated; the last failed with:")
    assert "lower(): argument 1 must be a string, got number" in err.message


def test_try_does_not_catch_limits() -> None:
    with pytest.raises(LimitExceeded):
        ev(call("try", call("range", 10**9), []))


@pytest.mark.parametrize(
    ("arg", "expected"),
    [(call("regex", "a", "abc"), True), (call("regex", "z", "abc"), False), (var("nope"), False)],
    ids=["match", "no-match", "unknown-name"],
)
def test_can(arg: ast.Node, expected: bool) -> None:
    assert ev(call("can", arg)) is expected


def test_can_does_not_catch_limits() -> None:
    with pytest.raises(LimitExceeded):
        ev(call("can", call("range", 10**9)))


def test_try_is_lazy() -> None:
    # The second argument would fail; it must never be evaluated.
    assert ev(call("try", "ok", call("upper", 1))) == "ok"


# --------------------------------------------------------- environment


def test_env_reads_the_given_environment() -> None:
    assert ev(call("env", "HOME_X"), environ={"HOME_X": "/h"}) == "/h"


def test_timestamp_is_rfc3339_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev(call("timestamp")))


def test_uuid_is_v4() -> None:
    value = ev(call("uuid"))
    assert uuid.UUID(value).version == 4
    assert value != ev(call("uuid"))


def test_file_reads_below_base_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("héllo\n", encoding="utf-8")
    assert ev(call("file", "sub/a.txt"), base_dir=str(tmp_path)) == "héllo\n"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.txt", "is outside the grid directory"),
        ("/etc/passwd", "is outside the grid directory"),
        ("missing.txt", 'file(): no file "missing.txt" in'),
        ("bin.dat", 'file(): "bin.dat" is not UTF-8 text'),
        ("link.txt", "is outside the grid directory"),
    ],
    ids=["dotdot", "absolute", "missing", "binary", "symlink-out"],
)
def test_file_errors(tmp_path: Path, path: str, message: str) -> None:
    base = tmp_path / "grid"
    base.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (base / "bin.dat").write_bytes(b"\xff\xfe\x00")
    (base / "link.txt").symlink_to(tmp_path / "outside.txt")
    err = fails(call("file", path), base_dir=str(base))
    assert message in err.message


def test_file_respects_max_string(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 2000)
    scope = Scope(base_dir=str(tmp_path), limits=Limits(max_string=1000))
    with pytest.raises(LimitExceeded):
        evaluate(call("file", "big.txt"), scope)


# -------------------------------------------------------------- growth


GROWTH = [
    ("format-width", call("format", "%999999999d", 1)),
    ("format-huge-width", call("format", "%99999999999999999999d", 1)),
    ("format-precision", call("format", "%.999999999f", 1.5)),
    ("join", call("join", "x" * 600, ["a"] * 2000)),
    ("replace", call("replace", "a" * 1000, "a", "b" * 2000)),
    ("replace-regex", call("replace", "a" * 1000, "/a/", "b" * 2000)),
    ("base64", call("base64encode", "x" * 900_000)),
    ("jsonencode", call("jsonencode", ["x" * 300_000] * 4)),
    ("range", call("range", 10**9)),
    ("range-float-step", call("range", 0, 1, 1e-300)),
    ("split", call("split", "", "x" * 1000)),
]


@pytest.mark.parametrize("expr", [g[1] for g in GROWTH], ids=[g[0] for g in GROWTH])
def test_growth_is_refused(expr: ast.Node) -> None:
    limits = Limits(max_string=1_048_576, max_items=500)
    with pytest.raises(LimitExceeded):
        evaluate(expr, Scope(limits=limits))


@pytest.mark.parametrize(
    "expr",
    [
        call("regex", "(a|aa)+$", "a" * 40 + "!"),
        call("regexall", "(a|aa)+$", "a" * 40 + "!"),
        call("replace", "a" * 40 + "!", "/(a|aa)+$/", "x"),
    ],
    ids=["regex", "regexall", "replace"],
)
def test_catastrophic_backtracking_is_stopped(expr: ast.Node) -> None:
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match="ran longer than 1s"):
        ev(expr)
    assert time.perf_counter() - start < 3


def test_regex_input_bounded() -> None:
    err = fails(call("regex", "(a+)+$", "a" * 200_000 + "b"))
    assert "allowed for regular expressions" in err.message
