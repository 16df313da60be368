"""The HCL function library available to grid expressions.

:data:`FUNCTIONS` maps each name to a :class:`FunctionSpec` with its arity so
the loader can reject unknown functions and wrong argument counts before a
run starts (:func:`arity_error`, :func:`gridflow.errors.suggest`).

Every implementation takes ``(env, args)``: ``env`` is a :class:`CallEnv`
(the work budget, ``file()``'s base directory, ``env()``'s environment) and
``args`` the evaluated arguments. Functions raise :class:`FunctionError`
(which may name the offending argument) or
:class:`~gridflow.errors.LimitExceeded`; the evaluator adds the source
position. Functions that grow values check the size *before* allocating.

``try`` and ``can`` are listed for their arity but are evaluated lazily by the
evaluator itself (``lazy=True``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import hashlib
import json
import math
import os
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import regex as _regex_mod
import yaml

from gridflow.errors import ExpressionError, LimitExceeded, suggest
from gridflow.expr.format import format_number, short_json, to_template_string, type_name
from gridflow.expr.values import ResourceHandle, StepInstances

if TYPE_CHECKING:
    from gridflow.expr.evaluator import Limits

__all__ = [
    "FUNCTIONS",
    "Budget",
    "CallEnv",
    "FunctionError",
    "FunctionSpec",
    "arity_error",
    "canonical",
    "check_number",
    "values_equal",
]

# Bounds that keep Python's own machinery cheap whatever the limits say:
# big integers (str() of >4300 digits raises; pow() can run for hours) and
# regular expressions (patterns are compiled per call).
MAX_INT_BITS = 1024
MAX_REGEX_PATTERN = 1000
MAX_REGEX_INPUT = 100_000
REGEX_TIMEOUT = 1.0  # seconds for one function call's matching


class FunctionError(ExpressionError):
    """A function rejected its arguments; ``arg`` is the 0-based culprit, if one."""

    def __init__(self, message: str, *, hint: str = "", arg: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.arg = arg


class Budget:
    """Counts work done in one ``evaluate()`` call and enforces :class:`Limits`."""

    __slots__ = ("limits", "work")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.work = 0

    def charge(self, amount: int) -> None:
        self.work += amount
        if self.work > self.limits.max_work:
            raise LimitExceeded(
                f"expression did more than {self.limits.max_work} units of work",
                hint="it builds too much data; use smaller range()s or fewer nested loops",
            )

    def check_string(self, length: int, what: str = "string") -> None:
        if length > self.limits.max_string:
            raise LimitExceeded(
                f"{what} would be {length} characters long, more than the limit of "
                f"{self.limits.max_string}",
                hint="build smaller strings; large data belongs in files or step outputs",
            )

    def check_items(self, count: int, what: str = "collection") -> None:
        if count > self.limits.max_items:
            raise LimitExceeded(
                f"{what} would have {count} elements, more than the limit of "
                f"{self.limits.max_items}",
                hint="build smaller collections; split the work across steps",
            )

    def string(self, text: str, what: str = "string") -> str:
        """Check and charge a string just produced."""
        self.check_string(len(text), what)
        self.charge(len(text))
        return text

    def items(self, count: int, what: str = "collection") -> None:
        """Check and charge a collection about to be produced."""
        self.check_items(count, what)
        self.charge(count)


@dataclasses.dataclass
class CallEnv:
    """What a function may use besides its arguments."""

    budget: Budget
    base_dir: str | None = None
    environ: Mapping[str, str] | None = None
    # With a seed, uuid() is derived from it (and a count of calls) instead of
    # random: engines that evaluate an instance's arguments again on a retry
    # (Airflow: every try is a new process) must see the same values.
    uuid_seed: str | None = None
    uuid_calls: int = 0


Impl = Callable[[CallEnv, Sequence[Any]], Any]


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """One library function: arity (``max_args=None``: variadic) and usage line."""

    name: str
    min_args: int
    max_args: int | None
    usage: str
    impl: Impl | None = None
    lazy: bool = False


def arity_error(name: str, count: int) -> str | None:
    """Why ``count`` arguments are wrong for function ``name``, or None if fine.

    ``name`` must be a key of :data:`FUNCTIONS`.
    """
    spec = FUNCTIONS[name]
    if spec.min_args <= count and (spec.max_args is None or count <= spec.max_args):
        return None
    if spec.max_args is None:
        want = f"at least {_plural(spec.min_args, 'argument')}"
    elif spec.min_args == spec.max_args:
        want = _plural(spec.min_args, "argument")
    else:
        want = f"{spec.min_args} to {spec.max_args} arguments"
    return f"{name}() expects {want}, got {count}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------- value helpers


def check_number(value: int | float) -> int | float:
    """Reject numbers gridflow cannot represent safely (huge ints, inf, NaN)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(
                "arithmetic result is not a finite number",
                hint="check for overflow, e.g. a very large pow() or multiplication",
            )
    elif value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(
            f"number is too large (more than {MAX_INT_BITS} bits)",
            hint="keep numbers below about 1e308",
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def values_equal(a: Any, b: Any) -> bool:
    """HCL equality: ``1 == 1.0``, but a bool is never equal to a number."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if _is_number(x) and _is_number(y):
            if x != y:
                return False
        elif isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x == y):
                return False
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, StepInstances) or isinstance(y, StepInstances):
            if x is not y:
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def canonical(value: Any) -> Any:
    """A hashable key such that ``values_equal(a, b)`` iff keys are equal."""
    if isinstance(value, bool):
        return ("b", value)
    if _is_number(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, list):
        return ("l", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("m", tuple((k, canonical(v)) for k, v in sorted(value.items())))
    return ("o", id(value))


def _plain(value: Any) -> Any:
    """A top-level StepInstances argument behaves as its list of instances."""
    if isinstance(value, StepInstances):
        return value.instance_list()
    return value


def _got(value: Any) -> str:
    return type_name(value)


def _want(fn: str, i: int, what: str, value: Any, hint: str = "") -> FunctionError:
    return FunctionError(
        f"{fn}(): argument {i + 1} must be {what}, got {_got(value)}", hint=hint, arg=i
    )


def _str(fn: str, args: Sequence[Any], i: int) -> str:
    value = args[i]
    if not isinstance(value, str):
        hint = (
            "convert it with tostring(...)" if _is_number(value) or isinstance(value, bool) else ""
        )
        raise _want(fn, i, "a string", value, hint)
    return value


def _num(fn: str, args: Sequence[Any], i: int) -> int | float:
    value = args[i]
    if not _is_number(value):
        hint = "convert it with tonumber(...)" if isinstance(value, str) else ""
        raise _want(fn, i, "a number", value, hint)
    return value  # type: ignore[no-any-return]


def _whole(fn: str, args: Sequence[Any], i: int) -> int:
    value = _num(fn, args, i)
    if isinstance(value, float):
        if not value.is_integer():
            raise _want(fn, i, "a whole number", value, f"{format_number(value)} has a fraction")
        return int(value)
    return value


def _bool(fn: str, args: Sequence[Any], i: int) -> bool:
    value = args[i]
    if not isinstance(value, bool):
        raise _want(fn, i, "a bool", value)
    return value


def _list(fn: str, args: Sequence[Any], i: int) -> list[Any]:
    value = _plain(args[i])
    if not isinstance(value, list):
        hint = "use values(...) to get a map's values as a list" if isinstance(value, dict) else ""
        raise _want(fn, i, "a list", value, hint)
    return value


def _map(fn: str, args: Sequence[Any], i: int) -> dict[str, Any]:
    value = args[i]
    if not isinstance(value, dict):
        raise _want(fn, i, "a map", value)
    return value


def _text(fn: str, i: int, value: Any) -> str:
    """A primitive turned into text where HCL converts automatically (join, sort)."""
    if isinstance(value, str):
        return value
    if _is_number(value) or isinstance(value, bool):
        return to_template_string(value)
    raise FunctionError(
        f"{fn}(): argument {i + 1} must contain only strings, found a {_got(value)}",
        arg=i,
    )


def _regex(fn: str, pattern: str, text: str, arg: int = 0) -> Any:
    """Compile ``pattern`` with the ``regex`` module, whose matching takes a timeout.

    Size bounds alone cannot stop catastrophic backtracking (``(a|aa)+$`` on 30
    characters), so every match runs under :data:`REGEX_TIMEOUT` (see
    :func:`_finditer`). ``regex`` is already a dependency of python-hcl2.
    """
    if len(pattern) > MAX_REGEX_PATTERN:
        raise FunctionError(
            f"{fn}(): the pattern is {len(pattern)} characters, more than {MAX_REGEX_PATTERN}",
            hint="use a shorter regular expression",
            arg=arg,
        )
    if len(text) > MAX_REGEX_INPUT:
        raise FunctionError(
            f"{fn}(): the input is {len(text)} characters, more than {MAX_REGEX_INPUT} "
            "allowed for regular expressions",
            hint="match against a smaller string, or use strcontains()/split() instead",
        )
    try:
        return _regex_mod.compile(pattern)
    except (_regex_mod.error, RecursionError, OverflowError, ValueError) as exc:
        raise FunctionError(
            f"{fn}(): invalid regular expression {short_json(pattern)}: {exc}",
            hint="check the pattern syntax (Python re flavour)",
            arg=arg,
        ) from exc


def _finditer(fn: str, compiled: Any, text: str) -> Iterator[Any]:
    """Every match, with the whole scan bounded by :data:`REGEX_TIMEOUT`."""
    try:
        yield from compiled.finditer(text, timeout=REGEX_TIMEOUT)
    except TimeoutError as exc:
        raise LimitExceeded(
            f"{fn}(): the regular expression ran longer than {REGEX_TIMEOUT:g}s on this input",
            hint="simplify the pattern; nested repetition such as (a|aa)+ backtracks exponentially",
        ) from exc


# ------------------------------------------------------------ string functions


def _length(env: CallEnv, args: Sequence[Any]) -> Any:
    value = args[0]
    if isinstance(value, str | list | dict | StepInstances):
        return len(value)
    raise _want("length", 0, "a string, list or map", value)


def _upper(env: CallEnv, args: Sequence[Any]) -> Any:
    return env.budget.string(_str("upper", args, 0).upper())


def _lower(env: CallEnv, args: Sequence[Any]) -> Any:
    return env.budget.string(_str("lower", args, 0).lower())


def _title(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("title", args, 0)
    out: list[str] = []
    prev_letter = False
    for ch in text:
        out.append(ch if prev_letter else ch.upper())
        prev_letter = ch.isalnum()
    return env.budget.string("".join(out))


def _trim(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("trim", args, 0).strip(_str("trim", args, 1))


def _trimspace(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("trimspace", args, 0).strip()


def _trimprefix(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("trimprefix", args, 0).removeprefix(_str("trimprefix", args, 1))


def _trimsuffix(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("trimsuffix", args, 0).removesuffix(_str("trimsuffix", args, 1))


def _chomp(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("chomp", args, 0).rstrip("\r\n")


def _strrev(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("strrev", args, 0)[::-1]


def _startswith(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("startswith", args, 0).startswith(_str("startswith", args, 1))


def _endswith(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("endswith", args, 0).endswith(_str("endswith", args, 1))


def _strcontains(env: CallEnv, args: Sequence[Any]) -> Any:
    return _str("strcontains", args, 1) in _str("strcontains", args, 0)


def _substr(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("substr", args, 0)
    offset = _whole("substr", args, 1)
    length = _whole("substr", args, 2)
    if offset < 0:
        offset = max(len(text) + offset, 0)
    if length < -1:
        raise FunctionError(
            f"substr(): argument 3 must be a length of 0 or more (or -1 for the rest), "
            f"got {length}",
            arg=2,
        )
    if offset > len(text):
        raise FunctionError(
            f"substr(): offset {offset} is past the end of a {len(text)}-character string",
            hint="use an offset from 0 to length(string)",
            arg=1,
        )
    return text[offset:] if length == -1 else text[offset : offset + length]


def _split(env: CallEnv, args: Sequence[Any]) -> Any:
    sep = _str("split", args, 0)
    text = _str("split", args, 1)
    if sep == "":
        env.budget.items(len(text), "split() result")
        return list(text)
    env.budget.items(text.count(sep) + 1, "split() result")
    return text.split(sep)


def _join(env: CallEnv, args: Sequence[Any]) -> Any:
    sep = _str("join", args, 0)
    parts: list[str] = []
    total = 0
    for i in range(1, len(args)):
        for item in _list("join", args, i):
            if item is None:
                raise FunctionError(
                    f"join(): argument {i + 1} contains null",
                    hint="remove nulls first with compact(...)",
                    arg=i,
                )
            piece = _text("join", i, item)
            total += len(piece) + (len(sep) if parts else 0)
            env.budget.check_string(total, "join() result")
            parts.append(piece)
    return env.budget.string(sep.join(parts), "join() result")


_GO_REPL = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([0-9]+|[A-Za-z_][A-Za-z0-9_]*))")


def _replace(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("replace", args, 0)
    search = _str("replace", args, 1)
    repl = _str("replace", args, 2)
    if len(search) >= 2 and search.startswith("/") and search.endswith("/"):
        return _replace_regex(env, text, search[1:-1], repl)
    if search == "":
        raise FunctionError(
            "replace(): argument 2 must not be empty",
            hint="give the substring to replace, or a /regex/",
            arg=1,
        )
    count = text.count(search)
    env.budget.check_string(len(text) + count * (len(repl) - len(search)), "replace() result")
    return env.budget.string(text.replace(search, repl), "replace() result")


def _replace_regex(env: CallEnv, text: str, pattern: str, repl: str) -> str:
    compiled = _regex("replace", pattern, text, arg=1)
    total = 0
    pieces: list[str] = []
    last = 0

    def group(m: Any, ref: str) -> str:
        try:
            value = m.group(int(ref) if ref.isdigit() else ref)
        except IndexError:
            return ""  # as Go's Expand: an unknown group expands to nothing
        return value or ""

    for m in _finditer("replace", compiled, text):
        expanded: list[str] = []
        pos = 0
        for ref in _GO_REPL.finditer(repl):
            expanded.append(repl[pos : ref.start()])
            if ref.group(1) == "$":
                expanded.append("$")
            else:
                expanded.append(group(m, ref.group(2) or ref.group(3)))
            pos = ref.end()
        expanded.append(repl[pos:])
        piece = text[last : m.start()] + "".join(expanded)
        total += len(piece)
        env.budget.check_string(total, "replace() result")
        pieces.append(piece)
        last = m.end()
    pieces.append(text[last:])
    total += len(text) - last
    env.budget.check_string(total, "replace() result")
    return env.budget.string("".join(pieces), "replace() result")


def _match_value(m: Any) -> Any:
    if m.re.groupindex:
        return {name: m.group(name) for name in m.re.groupindex}
    if m.re.groups:
        return list(m.groups())
    return m.group(0)


def _regex_fn(env: CallEnv, args: Sequence[Any]) -> Any:
    pattern = _str("regex", args, 0)
    text = _str("regex", args, 1)
    m = next(_finditer("regex", _regex("regex", pattern, text), text), None)
    if m is None:
        raise FunctionError(
            f"regex(): pattern {short_json(pattern)} does not match {short_json(text)}",
            hint="use can(regex(...)) to test for a match, or regexall() for a list",
        )
    return _match_value(m)


def _regexall(env: CallEnv, args: Sequence[Any]) -> Any:
    pattern = _str("regexall", args, 0)
    text = _str("regexall", args, 1)
    out: list[Any] = []
    for m in _finditer("regexall", _regex("regexall", pattern, text), text):
        out.append(_match_value(m))
        env.budget.items(1, "regexall() result")
    env.budget.check_items(len(out), "regexall() result")
    return out


def _urlencode(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("urlencode", args, 0)
    # Worst case every character becomes 4 UTF-8 bytes, each %XX.
    env.budget.check_string(min(len(text) * 12, len(text.encode("utf-8")) * 3), "urlencode()")
    return env.budget.string(urllib.parse.quote_plus(text, safe=""), "urlencode() result")


def _base64encode(env: CallEnv, args: Sequence[Any]) -> Any:
    data = _str("base64encode", args, 0).encode("utf-8", "surrogatepass")
    env.budget.check_string((len(data) + 2) // 3 * 4, "base64encode() result")
    return env.budget.string(base64.b64encode(data).decode("ascii"), "base64encode() result")


def _base64decode(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("base64decode", args, 0)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise FunctionError(
            f"base64decode(): {short_json(text)} is not valid base64",
            hint="give standard base64 (A-Z a-z 0-9 + /, padded with =)",
            arg=0,
        ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FunctionError(
            "base64decode(): the decoded bytes are not valid UTF-8 text",
            hint="base64decode() only returns text; binary data cannot be represented",
            arg=0,
        ) from exc


def _hash(name: str) -> Impl:
    def impl(env: CallEnv, args: Sequence[Any]) -> Any:
        data = _str(name, args, 0).encode("utf-8", "surrogatepass")
        return hashlib.new(name, data).hexdigest()

    return impl


# ------------------------------------------------------------------ format()

_VERB = re.compile(r"%(?:\[(\d+)\])?([-+ 0#]*)(\d*)(?:\.(\d*))?(?:\[(\d+)\])?([a-zA-Z%]?)")


def _format_one(
    env: CallEnv, fn: str, verb: str, flags: str, width: int | None, prec: int | None, value: Any
) -> str:
    if verb in "sv":
        if isinstance(value, str):
            text = value
        elif value is None and verb == "v":
            text = "null"
        elif isinstance(value, list | dict | StepInstances) and verb == "v":
            text = _jsonencode(env, [value])
        elif isinstance(value, list | dict | StepInstances) or value is None:
            raise FunctionError(
                f"{fn}(): %s needs a string, got {_got(value)}",
                hint="use %v or jsonencode(...) for collections",
            )
        else:
            text = to_template_string(value)
        if prec is not None:
            text = text[:prec]
    elif verb == "q":
        if not isinstance(value, str):
            if _is_number(value) or isinstance(value, bool):
                value = to_template_string(value)
            else:
                raise FunctionError(f"{fn}(): %q needs a string, got {_got(value)}")
        text = json.dumps(value, ensure_ascii=False)
    elif verb == "t":
        if not isinstance(value, bool):
            raise FunctionError(f"{fn}(): %t needs a bool, got {_got(value)}")
        text = "true" if value else "false"
    elif verb in "dboxX":
        if not _is_number(value):
            raise FunctionError(
                f"{fn}(): %{verb} needs a number, got {_got(value)}",
                hint="convert strings with tonumber(...)" if isinstance(value, str) else "",
            )
        if isinstance(value, float):
            if not value.is_integer():
                raise FunctionError(
                    f"{fn}(): %{verb} needs a whole number, got {format_number(value)}",
                    hint="use %f for fractions, or floor()/ceil() first",
                )
            value = int(value)
        spec = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        sign = "+" if "+" in flags else (" " if " " in flags else "")
        text = format(value, sign + spec)
    elif verb in "feEgG":
        if not _is_number(value):
            raise FunctionError(f"{fn}(): %{verb} needs a number, got {_got(value)}")
        if prec is None:
            prec = 6 if verb in "feE" else -1
        sign = "+" if "+" in flags else (" " if " " in flags else "")
        # A fixed-point float has at most ~310 integer digits; the precision
        # is what could grow, so it was checked against the limit already.
        if prec < 0:
            # Go's %g without a precision is the shortest exact form.
            text = format_number(value)
            if sign and not text.startswith("-"):
                text = sign + text
        else:
            text = format(float(value), f"{sign}.{prec}{verb}")
    else:
        raise FunctionError(
            f"{fn}(): unsupported verb %{verb}",
            hint="use %s %q %v %d %f %e %g %t %b %o %x %X, or %% for a percent sign",
        )
    if width is not None and len(text) < width:
        pad = width - len(text)
        if "-" in flags:
            text = text + " " * pad
        elif "0" in flags and verb in "dboxXfeEgG":
            sign = text[0] if text[:1] in ("-", "+", " ") else ""
            text = sign + "0" * pad + text[len(sign) :]
        else:
            text = " " * pad + text
    return text


def _format_impl(env: CallEnv, fn: str, spec: str, values: Sequence[Any]) -> str:
    out: list[str] = []
    total = 0
    pos = 0
    next_arg = 0
    used = 0
    while True:
        cut = spec.find("%", pos)
        literal = spec[pos:] if cut < 0 else spec[pos:cut]
        out.append(literal)
        total += len(literal)
        if cut < 0:
            break
        m = _VERB.match(spec, cut)
        assert m is not None  # the pattern matches any "%" (all parts optional)
        explicit, flags, width_s, prec_s, explicit2, verb = m.groups()
        pos = m.end()
        if verb == "%":
            out.append("%")
            total += 1
            continue
        if verb == "":
            raise FunctionError(
                f"{fn}(): format string ends in an incomplete verb {short_json(spec[cut:])}",
                hint="write %% for a literal percent sign",
                arg=0,
            )
        width = int(width_s) if width_s and len(width_s) < 10 else None
        prec = int(prec_s) if prec_s and len(prec_s) < 10 else (0 if prec_s == "" else None)
        for n, what in ((len(width_s), "width"), (len(prec_s or ""), "precision")):
            if n >= 10:
                env.budget.check_string(10**9, f"{fn}() {what}")
        if width is not None:
            env.budget.check_string(total + width, f"{fn}() result")
        if prec is not None and verb in "feEgG":
            env.budget.check_string(total + prec, f"{fn}() result")
        index = explicit or explicit2
        if index is not None:
            next_arg = int(index) - 1
        if next_arg < 0 or next_arg >= len(values):
            raise FunctionError(
                f"{fn}(): not enough arguments for the verb "
                f"{short_json(spec[cut:pos])} (number {next_arg + 1})",
                hint="give one value after the format string for each verb",
            )
        text = _format_one(env, fn, verb, flags, width, prec, values[next_arg])
        next_arg += 1
        used = max(used, next_arg)
        total += len(text)
        env.budget.check_string(total, f"{fn}() result")
        out.append(text)
    if used < len(values):
        raise FunctionError(
            f"{fn}(): too many arguments; the format string uses {used} of {len(values)}",
            hint="remove the extra values or add verbs such as %s to the format string",
        )
    return env.budget.string("".join(out), f"{fn}() result")


def _format(env: CallEnv, args: Sequence[Any]) -> Any:
    return _format_impl(env, "format", _str("format", args, 0), [_plain(a) for a in args[1:]])


def _formatlist(env: CallEnv, args: Sequence[Any]) -> Any:
    spec = _str("formatlist", args, 0)
    rest = [_plain(a) for a in args[1:]]
    length: int | None = None
    for i, value in enumerate(rest):
        if isinstance(value, list):
            if length is not None and len(value) != length:
                raise FunctionError(
                    f"formatlist(): argument {i + 2} has {len(value)} elements but an "
                    f"earlier list has {length}",
                    hint="every list argument must have the same length",
                    arg=i + 1,
                )
            length = len(value)
    if length is None:
        length = 1
    env.budget.items(length, "formatlist() result")
    out = []
    for n in range(length):
        row = [v[n] if isinstance(v, list) else v for v in rest]
        out.append(_format_impl(env, "formatlist", spec, row))
    return out


# -------------------------------------------------------- collection functions


def _contains(env: CallEnv, args: Sequence[Any]) -> Any:
    if isinstance(args[0], str):
        raise _want("contains", 0, "a list", args[0], "use strcontains() for substrings")
    items = _list("contains", args, 0)
    return any(values_equal(item, args[1]) for item in items)


def _keys(env: CallEnv, args: Sequence[Any]) -> Any:
    mapping = _map("keys", args, 0)
    env.budget.items(len(mapping), "keys() result")
    return sorted(mapping)


def _values(env: CallEnv, args: Sequence[Any]) -> Any:
    mapping = _map("values", args, 0)
    env.budget.items(len(mapping), "values() result")
    return [mapping[k] for k in sorted(mapping)]


def _lookup(env: CallEnv, args: Sequence[Any]) -> Any:
    mapping = _map("lookup", args, 0)
    key = _str("lookup", args, 1)
    if key in mapping:
        return mapping[key]
    if len(args) == 3:
        return args[2]
    hint = (
        suggest(key, mapping) or "give a default as the third argument: lookup(map, key, default)"
    )
    raise FunctionError(f'lookup(): the map has no key "{key}"', hint=hint, arg=1)


def _merge(env: CallEnv, args: Sequence[Any]) -> Any:
    out: dict[str, Any] = {}
    for i, value in enumerate(args):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _want("merge", i, "a map", value)
        env.budget.check_items(len(out) + len(value), "merge() result")
        out.update(value)
    env.budget.charge(len(out))
    return out


def _concat(env: CallEnv, args: Sequence[Any]) -> Any:
    out: list[Any] = []
    for i in range(len(args)):
        items = _list("concat", args, i)
        env.budget.items(len(items), "concat() result")
        env.budget.check_items(len(out) + len(items), "concat() result")
        out.extend(items)
    return out


def _flatten(env: CallEnv, args: Sequence[Any]) -> Any:
    out: list[Any] = []
    stack: list[Iterator[Any]] = [iter(_list("flatten", args, 0))]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > env.budget.limits.max_depth:
                    raise LimitExceeded(
                        f"flatten(): lists nested more than {env.budget.limits.max_depth} deep",
                        hint="flatten a shallower structure",
                    )
                stack.append(iter(item))
                break
            env.budget.items(1, "flatten() result")
            env.budget.check_items(len(out) + 1, "flatten() result")
            out.append(item)
        else:
            stack.pop()
    return out


def _distinct(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("distinct", args, 0)
    seen: set[Any] = set()
    out = []
    for item in items:
        key = canonical(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    env.budget.charge(len(items))
    return out


def _sort(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("sort", args, 0)
    env.budget.charge(len(items))
    return sorted(_text("sort", 0, item) for item in items)


def _reverse(env: CallEnv, args: Sequence[Any]) -> Any:
    if isinstance(args[0], str):
        raise _want("reverse", 0, "a list", args[0], "use strrev() to reverse a string")
    items = _list("reverse", args, 0)
    env.budget.charge(len(items))
    return items[::-1]


def _slice(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("slice", args, 0)
    start = _whole("slice", args, 1)
    end = _whole("slice", args, 2)
    if start < 0 or start > len(items):
        raise FunctionError(
            f"slice(): start index {start} is out of range for a list of {len(items)}",
            hint=f"use a start from 0 to {len(items)}",
            arg=1,
        )
    if end < start or end > len(items):
        raise FunctionError(
            f"slice(): end index {end} is out of range (start {start}, length {len(items)})",
            hint=f"use an end from {start} to {len(items)}; the end is exclusive",
            arg=2,
        )
    env.budget.charge(end - start)
    return items[start:end]


def _element(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("element", args, 0)
    index = _whole("element", args, 1)
    if not items:
        raise FunctionError("element(): cannot take an element of an empty list", arg=0)
    if index < 0:
        raise FunctionError(
            f"element(): index must not be negative, got {index}",
            hint="use a list index such as length(list) - 1 for the last element",
            arg=1,
        )
    return items[index % len(items)]


def _index(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("index", args, 0)
    for i, item in enumerate(items):
        if values_equal(item, args[1]):
            return i
    raise FunctionError(
        f"index(): {short_json(args[1])} is not in the list",
        hint="check with contains(list, value) first",
        arg=1,
    )


def _zipmap(env: CallEnv, args: Sequence[Any]) -> Any:
    keys = _list("zipmap", args, 0)
    vals = _list("zipmap", args, 1)
    if len(keys) != len(vals):
        raise FunctionError(
            f"zipmap(): {len(keys)} keys but {len(vals)} values",
            hint="both lists must have the same length",
        )
    env.budget.items(len(keys), "zipmap() result")
    return {_text("zipmap", 0, k): v for k, v in zip(keys, vals, strict=True)}


def _one(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("one", args, 0)
    if len(items) > 1:
        raise FunctionError(
            f"one(): the list has {len(items)} elements; it must have 0 or 1",
            hint="use element(list, 0) or list[0] to pick one",
            arg=0,
        )
    return items[0] if items else None


def _chunklist(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("chunklist", args, 0)
    size = _whole("chunklist", args, 1)
    if size < 0:
        raise FunctionError(f"chunklist(): size must not be negative, got {size}", arg=1)
    if size == 0:
        return [items]
    env.budget.items(len(items), "chunklist() result")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _coalesce(env: CallEnv, args: Sequence[Any]) -> Any:
    for value in args:
        if value is not None and value != "":
            return value
    raise FunctionError(
        "coalesce(): every argument is null or an empty string",
        hint="add a non-empty fallback as the last argument",
    )


def _coalescelist(env: CallEnv, args: Sequence[Any]) -> Any:
    for i in range(len(args)):
        items = _list("coalescelist", args, i)
        if items:
            return items
    raise FunctionError(
        "coalescelist(): every list is empty",
        hint="add a non-empty fallback list as the last argument",
    )


def _compact(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("compact", args, 0)
    env.budget.charge(len(items))
    out = []
    for item in items:
        if item is None or item == "":
            continue
        out.append(_text("compact", 0, item))
    return out


def _sortable(items: list[Any]) -> list[Any]:
    """Set order: numbers numerically, strings lexically, anything else by JSON text."""
    if all(_is_number(v) for v in items):
        return sorted(items)
    if all(isinstance(v, str) for v in items):
        return sorted(items)
    if all(isinstance(v, bool) for v in items):
        return sorted(items)
    if all(isinstance(v, str) or _is_number(v) or isinstance(v, bool) for v in items):
        # HCL unifies mixed primitives to strings.
        return sorted({to_template_string(v) for v in items})
    return sorted(items, key=lambda v: short_json(v, limit=1_000_000))


def _as_set(fn: str, args: Sequence[Any], i: int) -> list[Any]:
    items = _list(fn, args, i)
    seen: set[Any] = set()
    out = []
    for item in items:
        key = canonical(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _toset(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _as_set("toset", args, 0)
    env.budget.charge(len(items))
    return _sortable(items)


def _setunion(env: CallEnv, args: Sequence[Any]) -> Any:
    out: list[Any] = []
    for i in range(len(args)):
        items = _list("setunion", args, i)
        env.budget.items(len(items), "setunion() result")
        out.extend(items)
    return _sortable(_as_set("setunion", [out], 0))


def _setintersection(env: CallEnv, args: Sequence[Any]) -> Any:
    result = _as_set("setintersection", args, 0)
    env.budget.charge(len(result))
    for i in range(1, len(args)):
        keys = {canonical(v) for v in _list("setintersection", args, i)}
        env.budget.charge(len(keys))
        result = [v for v in result if canonical(v) in keys]
    return _sortable(result)


def _setsubtract(env: CallEnv, args: Sequence[Any]) -> Any:
    result = _as_set("setsubtract", args, 0)
    drop = {canonical(v) for v in _list("setsubtract", args, 1)}
    env.budget.charge(len(result) + len(drop))
    return _sortable([v for v in result if canonical(v) not in drop])


def _tolist(env: CallEnv, args: Sequence[Any]) -> Any:
    if args[0] is None:
        return None
    return _list("tolist", args, 0)


def _tomap(env: CallEnv, args: Sequence[Any]) -> Any:
    if args[0] is None:
        return None
    return _map("tomap", args, 0)


def _alltrue(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("alltrue", args, 0)
    for item in items:
        if not isinstance(item, bool):
            raise FunctionError(
                f"alltrue(): argument 1 must contain only bools, found a {_got(item)}", arg=0
            )
    return all(items)


def _anytrue(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("anytrue", args, 0)
    for item in items:
        if not isinstance(item, bool):
            raise FunctionError(
                f"anytrue(): argument 1 must contain only bools, found a {_got(item)}", arg=0
            )
    return any(items)


# ------------------------------------------------------------ number functions


def _range(env: CallEnv, args: Sequence[Any]) -> Any:
    nums = [_num("range", args, i) for i in range(len(args))]
    start: int | float
    limit: int | float
    if len(nums) == 1:
        start, limit = 0, nums[0]
    else:
        start, limit = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else (1 if limit >= start else -1)
    if step == 0:
        raise FunctionError("range(): step must not be 0", hint="use a positive or negative step")
    if (step > 0 and limit < start) or (step < 0 and limit > start):
        raise FunctionError(
            f"range(): step {format_number(step)} never reaches {format_number(limit)} "
            f"from {format_number(start)}",
            hint="use a negative step to count down, a positive one to count up",
        )
    span = (limit - start) / step
    count = max(math.ceil(span), 0) if math.isfinite(span) else math.inf
    # Decide before building anything: range(1e9) must fail at once.
    if count > env.budget.limits.max_items:
        raise LimitExceeded(
            f"range() would have {count if math.isfinite(count) else 'infinitely many'} "
            f"elements, more than the limit of {env.budget.limits.max_items}",
            hint="use a smaller range",
        )
    n = int(count)
    env.budget.charge(n)
    if all(isinstance(v, int) for v in (start, step)):
        return [start + i * step for i in range(n)]
    return [check_number(start + i * step) for i in range(n)]


def _minmax(name: str, pick: Callable[[list[Any]], Any]) -> Impl:
    def impl(env: CallEnv, args: Sequence[Any]) -> Any:
        nums = [_num(name, args, i) for i in range(len(args))]
        return pick(nums)

    return impl


def _abs(env: CallEnv, args: Sequence[Any]) -> Any:
    return abs(_num("abs", args, 0))


def _ceil(env: CallEnv, args: Sequence[Any]) -> Any:
    return math.ceil(_num("ceil", args, 0))


def _floor(env: CallEnv, args: Sequence[Any]) -> Any:
    return math.floor(_num("floor", args, 0))


def _signum(env: CallEnv, args: Sequence[Any]) -> Any:
    value = _num("signum", args, 0)
    return (value > 0) - (value < 0)


def _pow(env: CallEnv, args: Sequence[Any]) -> Any:
    base = _num("pow", args, 0)
    exp = _num("pow", args, 1)
    if base == 0 and exp < 0:
        raise FunctionError("pow(): 0 cannot be raised to a negative power", arg=1)
    if isinstance(base, int) and isinstance(exp, int) and exp >= 0:
        # Estimate the size first: 10**(10**9) would take minutes to build.
        if abs(base) > 1 and exp * max(abs(base).bit_length() - 1, 1) > MAX_INT_BITS:
            raise FunctionError(
                "pow(): the result is too large",
                hint="keep results below about 1e308",
            )
        return check_number(base**exp)
    try:
        result = math.pow(base, exp)
    except OverflowError as exc:
        raise FunctionError("pow(): the result is too large") from exc
    except ValueError as exc:
        raise FunctionError(
            f"pow(): {format_number(base)} to the power {format_number(exp)} is not a real number"
        ) from exc
    return check_number(result)


def _log(env: CallEnv, args: Sequence[Any]) -> Any:
    value = _num("log", args, 0)
    base = _num("log", args, 1)
    if value <= 0 or base <= 0 or base == 1:
        raise FunctionError(
            "log(): the number and base must be positive and the base must not be 1"
        )
    return check_number(math.log(value, base))


def _sum(env: CallEnv, args: Sequence[Any]) -> Any:
    items = _list("sum", args, 0)
    if not items:
        raise FunctionError("sum(): cannot sum an empty list", hint="use concat([0], list)", arg=0)
    total: int | float = 0
    for item in items:
        if not _is_number(item):
            raise FunctionError(
                f"sum(): argument 1 must contain only numbers, found a {_got(item)}", arg=0
            )
        total = check_number(total + item)
    env.budget.charge(len(items))
    return total


_INT_TEXT = re.compile(r"[+-]?[0-9a-zA-Z]+")


def _parseint(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("parseint", args, 0)
    base = _whole("parseint", args, 1)
    if not 2 <= base <= 62:
        raise FunctionError(f"parseint(): base must be from 2 to 62, got {base}", arg=1)
    if not _INT_TEXT.fullmatch(text) or len(text) > 1100:
        raise FunctionError(
            f"parseint(): {short_json(text)} is not a whole number in base {base}", arg=0
        )
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    value = 0
    for ch in body:
        d = digits.find(ch) if base > 36 else digits.find(ch.lower())
        if d < 0 or d >= base:
            raise FunctionError(
                f"parseint(): {short_json(text)} is not a whole number in base {base}", arg=0
            )
        value = value * base + d
    return check_number(sign * value)


_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str) -> int | float | None:
    """The number a string spells (decimal, optional exponent), or None."""
    stripped = text.strip()
    if len(stripped) > 400 or not _NUMBER_TEXT.fullmatch(stripped):
        return None
    try:
        if re.fullmatch(r"[+-]?[0-9]+", stripped):
            return check_number(int(stripped))
        value = float(stripped)
    except (ValueError, OverflowError, ExpressionError):
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _tonumber(env: CallEnv, args: Sequence[Any]) -> Any:
    value = args[0]
    if value is None or _is_number(value):
        return value
    if isinstance(value, str):
        number = parse_number(value)
        if number is not None:
            return number
        raise FunctionError(
            f"tonumber(): {short_json(value)} is not a number",
            hint='write numbers like "42", "-1.5" or "1e3"',
            arg=0,
        )
    raise _want("tonumber", 0, "a number or a string", value)


def _tostring(env: CallEnv, args: Sequence[Any]) -> Any:
    value = args[0]
    if value is None:
        return None
    if isinstance(value, str | bool) or _is_number(value):
        return to_template_string(value)
    raise _want("tostring", 0, "a string, number or bool", value, "use jsonencode(...)")


def _tobool(env: CallEnv, args: Sequence[Any]) -> Any:
    value = args[0]
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str):
        raise FunctionError(
            f'tobool(): {short_json(value)} is not "true" or "false"',
            hint='only the strings "true" and "false" convert to bools',
            arg=0,
        )
    raise _want("tobool", 0, "a bool or a string", value)


# -------------------------------------------------------------- encoding


def _json_ready(env: CallEnv, value: Any, fn: str) -> Any:
    """A copy fit for json.dumps (integral floats as ints), checked for size first."""
    max_depth = env.budget.limits.max_depth
    size = 0

    def conv(v: Any, depth: int) -> Any:
        nonlocal size
        if depth > max_depth:
            raise LimitExceeded(
                f"{fn}(): the value is nested more than {max_depth} levels deep",
                hint="encode a shallower value",
            )
        if isinstance(v, str):
            size += len(v) + 2
        elif isinstance(v, bool) or v is None:
            size += 5
        elif isinstance(v, int | float):
            check_number(v)
            size += 8
            if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
                v = int(v)
        elif isinstance(v, list | StepInstances):
            items = v.instance_list() if isinstance(v, StepInstances) else v
            size += len(items) + 2
            env.budget.check_string(size, f"{fn}() result")
            return [conv(item, depth + 1) for item in items]
        elif isinstance(v, dict):
            out: dict[str, Any] = {}
            size += 2
            for k, item in v.items():
                size += len(k) + 4
                env.budget.check_string(size, f"{fn}() result")
                out[k] = conv(item, depth + 1)
            return out
        elif isinstance(v, ResourceHandle):
            raise FunctionError(
                f"{fn}(): a resource reference cannot be encoded",
                hint="resources can only be passed in a step's uses block",
            )
        else:
            raise FunctionError(f"{fn}(): cannot encode a {_got(v)}")
        env.budget.check_string(size, f"{fn}() result")
        return v

    return conv(value, 0)


def _jsonencode(env: CallEnv, args: Sequence[Any]) -> str:
    ready = _json_ready(env, args[0], "jsonencode")
    try:
        text = json.dumps(ready, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise FunctionError(f"jsonencode(): cannot encode the value: {exc}", arg=0) from exc
    return env.budget.string(text, "jsonencode() result")


def _value_depth_ok(value: Any, max_depth: int) -> bool:
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > max_depth:
            return False
        if isinstance(v, list):
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, dict):
            stack.extend((item, depth + 1) for item in v.values())
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _jsondecode(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("jsondecode", args, 0)
    env.budget.charge(len(text))
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise LimitExceeded(
            "jsondecode(): the JSON is nested too deeply", hint="decode a shallower document"
        ) from exc
    except ValueError as exc:  # JSONDecodeError and the int-digits limit
        raise FunctionError(
            f"jsondecode(): invalid JSON: {exc}",
            hint="check the text with a JSON validator; strings need double quotes",
            arg=0,
        ) from exc
    if not _value_depth_ok(value, env.budget.limits.max_depth):
        raise LimitExceeded(
            f"jsondecode(): the JSON is nested more than {env.budget.limits.max_depth} levels",
            hint="decode a shallower document",
        )
    return _check_decoded(value)


def _check_decoded(value: Any) -> Any:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, int | float) and not isinstance(v, bool):
            try:
                check_number(v)
            except ExpressionError as exc:
                raise FunctionError(f"jsondecode(): {exc.message}", arg=0) from exc
    return value


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases: a few aliases can stand for a
    structure exponentially larger than the text (the "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def _from_yaml(value: Any, depth: int, max_depth: int) -> Any:
    """YAML's extra types as JSON data: dates as ISO text, keys as strings."""
    if depth > max_depth:
        raise LimitExceeded(
            f"yamldecode(): the YAML is nested more than {max_depth} levels",
            hint="decode a shallower document",
        )
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise FunctionError("yamldecode(): .inf and .nan are not supported numbers", arg=0)
        return check_number(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_from_yaml(v, depth + 1, max_depth) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not (k is None or isinstance(k, str | bool | int | float)):
                raise FunctionError(
                    "yamldecode(): map keys must be strings, numbers or bools", arg=0
                )
            key = "null" if k is None else to_template_string(k)
            out[key] = _from_yaml(v, depth + 1, max_depth)
        return out
    raise FunctionError(
        f"yamldecode(): values of YAML type {type(value).__name__} are not supported",
        hint="use strings, numbers, bools, null, lists and maps",
        arg=0,
    )


def _yamldecode(env: CallEnv, args: Sequence[Any]) -> Any:
    text = _str("yamldecode", args, 0)
    env.budget.charge(len(text))
    try:
        value = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader: no Python objects
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # ValueError: int digit limit
        raise FunctionError(
            f"yamldecode(): invalid YAML: {' '.join(str(exc).split())}",
            hint="check the text with a YAML linter; anchors and aliases are not supported",
            arg=0,
        ) from exc
    except RecursionError as exc:
        raise LimitExceeded(
            "yamldecode(): the YAML is nested too deeply", hint="decode a shallower document"
        ) from exc
    return _from_yaml(value, 0, env.budget.limits.max_depth)


def _yamlencode(env: CallEnv, args: Sequence[Any]) -> Any:
    ready = _json_ready(env, args[0], "yamlencode")
    try:
        text = yaml.safe_dump(
            ready, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**9
        )
    except (yaml.YAMLError, RecursionError) as exc:
        raise FunctionError(f"yamlencode(): cannot encode the value: {exc}", arg=0) from exc
    return env.budget.string(text, "yamlencode() result")


# ---------------------------------------------------------- environment access


def _timestamp(env: CallEnv, args: Sequence[Any]) -> Any:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(env: CallEnv, args: Sequence[Any]) -> Any:
    if env.uuid_seed is None:
        return str(uuid.uuid4())
    env.uuid_calls += 1
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gridflow:{env.uuid_seed}#{env.uuid_calls}"))


def _env(env: CallEnv, args: Sequence[Any]) -> Any:
    name = _str("env", args, 0)
    environ = os.environ if env.environ is None else env.environ
    if name in environ:
        return environ[name]
    if len(args) == 2:
        return args[1]
    raise FunctionError(
        f'env(): the environment variable "{name}" is not set',
        hint=f'set {name} before running, or give a default: env("{name}", "value")',
        arg=0,
    )


def _file(env: CallEnv, args: Sequence[Any]) -> Any:
    path = _str("file", args, 0)
    if env.base_dir is None:
        raise FunctionError(
            "file(): reading files is not available here",
            hint="file() works in grid files, relative to the grid's directory",
        )
    if "\x00" in path or path == "":
        raise FunctionError(f"file(): {short_json(path)} is not a valid path", arg=0)
    base = os.path.realpath(env.base_dir)
    full = os.path.realpath(os.path.join(base, path))
    if os.path.commonpath([base, full]) != base:
        raise FunctionError(
            f"file(): {short_json(path)} is outside the grid directory {base}",
            hint="keep files next to the grid and use a relative path without ..",
            arg=0,
        )
    limit = env.budget.limits.max_string
    try:
        with open(full, "rb") as fh:
            # UTF-8 needs at most 4 bytes a character; reading one byte past
            # that bound is enough to know the file is too big.
            data = fh.read(limit * 4 + 1)
    except FileNotFoundError as exc:
        raise FunctionError(
            f"file(): no file {short_json(path)} in {base}",
            hint="check the name; paths are relative to the grid's directory",
            arg=0,
        ) from exc
    except OSError as exc:
        raise FunctionError(
            f"file(): cannot read {short_json(path)}: {exc.strerror or exc}", arg=0
        ) from exc
    if len(data) > limit * 4:
        env.budget.check_string(len(data), "file() content")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FunctionError(
            f"file(): {short_json(path)} is not UTF-8 text",
            hint="file() reads text; use a text file",
            arg=0,
        ) from exc
    return env.budget.string(text, "file() content")


# -------------------------------------------------------------- the registry


def _spec(name: str, lo: int, hi: int | None, usage: str, impl: Impl | None = None) -> FunctionSpec:
    return FunctionSpec(name, lo, hi, usage, impl)


_SPECS = [
    _spec("abs", 1, 1, "abs(number)", _abs),
    _spec("alltrue", 1, 1, "alltrue(list)", _alltrue),
    _spec("anytrue", 1, 1, "anytrue(list)", _anytrue),
    _spec("base64decode", 1, 1, "base64decode(string)", _base64decode),
    _spec("base64encode", 1, 1, "base64encode(string)", _base64encode),
    FunctionSpec("can", 1, 1, "can(expression)", None, lazy=True),
    _spec("ceil", 1, 1, "ceil(number)", _ceil),
    _spec("chomp", 1, 1, "chomp(string)", _chomp),
    _spec("chunklist", 2, 2, "chunklist(list, size)", _chunklist),
    _spec("coalesce", 1, None, "coalesce(values...)", _coalesce),
    _spec("coalescelist", 1, None, "coalescelist(lists...)", _coalescelist),
    _spec("compact", 1, 1, "compact(list)", _compact),
    _spec("concat", 1, None, "concat(lists...)", _concat),
    _spec("contains", 2, 2, "contains(list, value)", _contains),
    _spec("distinct", 1, 1, "distinct(list)", _distinct),
    _spec("element", 2, 2, "element(list, index)", _element),
    _spec("endswith", 2, 2, "endswith(string, suffix)", _endswith),
    _spec("env", 1, 2, "env(name, default?)", _env),
    _spec("file", 1, 1, "file(path)", _file),
    _spec("flatten", 1, 1, "flatten(list)", _flatten),
    _spec("floor", 1, 1, "floor(number)", _floor),
    _spec("format", 1, None, "format(spec, values...)", _format),
    _spec("formatlist", 1, None, "formatlist(spec, values...)", _formatlist),
    _spec("index", 2, 2, "index(list, value)", _index),
    _spec("join", 2, None, "join(separator, lists...)", _join),
    _spec("jsondecode", 1, 1, "jsondecode(string)", _jsondecode),
    _spec("jsonencode", 1, 1, "jsonencode(value)", _jsonencode),
    _spec("keys", 1, 1, "keys(map)", _keys),
    _spec("length", 1, 1, "length(value)", _length),
    _spec("log", 2, 2, "log(number, base)", _log),
    _spec("lookup", 2, 3, "lookup(map, key, default?)", _lookup),
    _spec("lower", 1, 1, "lower(string)", _lower),
    _spec("max", 1, None, "max(numbers...)", _minmax("max", max)),
    _spec("md5", 1, 1, "md5(string)", _hash("md5")),
    _spec("merge", 0, None, "merge(maps...)", _merge),
    _spec("min", 1, None, "min(numbers...)", _minmax("min", min)),
    _spec("one", 1, 1, "one(list)", _one),
    _spec("parseint", 2, 2, "parseint(string, base)", _parseint),
    _spec("pow", 2, 2, "pow(base, exponent)", _pow),
    _spec("range", 1, 3, "range(limit) / range(start, limit, step?)", _range),
    _spec("regex", 2, 2, "regex(pattern, string)", _regex_fn),
    _spec("regexall", 2, 2, "regexall(pattern, string)", _regexall),
    _spec("replace", 3, 3, "replace(string, search, replacement)", _replace),
    _spec("reverse", 1, 1, "reverse(list)", _reverse),
    _spec("setintersection", 1, None, "setintersection(lists...)", _setintersection),
    _spec("setsubtract", 2, 2, "setsubtract(list, list)", _setsubtract),
    _spec("setunion", 1, None, "setunion(lists...)", _setunion),
    _spec("sha1", 1, 1, "sha1(string)", _hash("sha1")),
    _spec("sha256", 1, 1, "sha256(string)", _hash("sha256")),
    _spec("sha512", 1, 1, "sha512(string)", _hash("sha512")),
    _spec("signum", 1, 1, "signum(number)", _signum),
    _spec("slice", 3, 3, "slice(list, start, end)", _slice),
    _spec("sort", 1, 1, "sort(list)", _sort),
    _spec("split", 2, 2, "split(separator, string)", _split),
    _spec("startswith", 2, 2, "startswith(string, prefix)", _startswith),
    _spec("strcontains", 2, 2, "strcontains(string, substring)", _strcontains),
    _spec("strrev", 1, 1, "strrev(string)", _strrev),
    _spec("substr", 3, 3, "substr(string, offset, length)", _substr),
    _spec("sum", 1, 1, "sum(list)", _sum),
    _spec("timestamp", 0, 0, "timestamp()", _timestamp),
    _spec("title", 1, 1, "title(string)", _title),
    _spec("tobool", 1, 1, "tobool(value)", _tobool),
    _spec("tolist", 1, 1, "tolist(value)", _tolist),
    _spec("tomap", 1, 1, "tomap(value)", _tomap),
    _spec("tonumber", 1, 1, "tonumber(value)", _tonumber),
    _spec("toset", 1, 1, "toset(list)", _toset),
    _spec("tostring", 1, 1, "tostring(value)", _tostring),
    _spec("trim", 2, 2, "trim(string, characters)", _trim),
    _spec("trimprefix", 2, 2, "trimprefix(string, prefix)", _trimprefix),
    _spec("trimspace", 1, 1, "trimspace(string)", _trimspace),
    _spec("trimsuffix", 2, 2, "trimsuffix(string, suffix)", _trimsuffix),
    FunctionSpec("try", 1, None, "try(expressions...)", None, lazy=True),
    _spec("upper", 1, 1, "upper(string)", _upper),
    _spec("urlencode", 1, 1, "urlencode(string)", _urlencode),
    _spec("uuid", 0, 0, "uuid()", _uuid),
    _spec("values", 1, 1, "values(map)", _values),
    _spec("yamldecode", 1, 1, "yamldecode(string)", _yamldecode),
    _spec("yamlencode", 1, 1, "yamlencode(value)", _yamlencode),
    _spec("zipmap", 2, 2, "zipmap(keys, values)", _zipmap),
]

FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in _SPECS}
"""Every function an expression may call, by name."""
