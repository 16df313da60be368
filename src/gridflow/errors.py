"""Every error gridflow raises on purpose, in one tree.

::

    GridflowError
     ├── LoadError            bad input files; carries Diagnostic records (exit 2)
     ├── UsageError           bad command-line input: flags, -var, var files (exit 2)
     ├── ExpressionError      an expression failed while being evaluated
     │    └── LimitExceeded   an expression tried to grow past a sandbox bound
     └── RunnerError          raised by a runner; its class decides what happens
          ├── RetryableError  transient: retried while attempts remain
          ├── WaitError       not ready yet: check again later, not a failure
          ├── ExpectedError   a failure the runner foresaw: no traceback is logged
          ├── StepTimeout     the step ran past its ``timeout``
          └── StepCancelled   the run was cancelled (fail-fast) while it ran

Retries are chosen by error *type*, never by message text. Context travels as
keyword attributes, and foreign library errors are converted once, where they
are caught, with ``raise ... from exc``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

__all__ = [
    "Diagnostic",
    "ExpectedError",
    "ExpressionError",
    "GridflowError",
    "LimitExceeded",
    "LoadError",
    "RetryableError",
    "RunnerError",
    "SourcePos",
    "StepCancelled",
    "StepTimeout",
    "UsageError",
    "WaitError",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SourcePos:
    """A place in a source file; lines and columns count from 1."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem in an input file, sortable by place (like a yamllint problem).

    ``code`` is a stable, kebab-case rule id (``unknown-runner``); ``hint`` says
    how to fix it, for example ``did you mean "http_request"?``.
    """

    file: str
    line: int
    col: int
    code: str
    message: str
    hint: str = ""

    @classmethod
    def at(cls, pos: SourcePos, code: str, message: str, hint: str = "") -> Diagnostic:
        return cls(pos.file, pos.line, pos.col, code, message, hint)

    @classmethod
    def not_utf8(cls, file: str, data: bytes, exc: UnicodeDecodeError, hint: str) -> Diagnostic:
        """Where ``data``, the bytes of ``file``, stops being UTF-8 text."""
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return cls(file, line, col, "not-utf8", "the file is not UTF-8 text", hint)

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: error: {self.message} [{self.code}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class GridflowError(Exception):
    """Base of every error gridflow raises on purpose."""


class UsageError(GridflowError):
    """The command line (flags, ``-var``, var files, profiles) is wrong."""


class LoadError(GridflowError):
    """One or more problems in the input files; never raised for a single one
    when more could be collected."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ExpressionError(GridflowError):
    """An expression could not be evaluated. ``pos`` points into the source."""

    def __init__(self, message: str, *, pos: SourcePos | None = None, hint: str = "") -> None:
        self.message = message
        self.pos = pos
        self.hint = hint
        text = f"{pos}: {message}" if pos else message
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    def to_diagnostic(self, fallback: SourcePos, code: str = "expression") -> Diagnostic:
        return Diagnostic.at(self.pos or fallback, code, self.message, self.hint)


class LimitExceeded(ExpressionError):
    """An expression tried to build a value past a sandbox bound."""


class RunnerError(GridflowError):
    """A runner failed. Subclasses say whether and how to try again."""

    kind: str = "error"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        self.message = message
        self.details = dict(details or {})
        super().__init__(message)


class RetryableError(RunnerError):
    """Transient failure: try again while attempts remain."""

    kind = "retryable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class WaitError(RunnerError):
    """Not ready yet: check again later without counting a failed attempt."""

    kind = "wait"

    def __init__(
        self,
        message: str,
        *,
        wait_for: float | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.wait_for = wait_for


class ExpectedError(RunnerError):
    """A failure the runner foresaw (bad status, failed assertion): logged
    without a traceback."""

    kind = "expected"


class StepTimeout(RunnerError):
    """The step ran past its timeout."""

    kind = "timeout"


class StepCancelled(RunnerError):
    """The run was cancelled while this step ran."""

    kind = "cancelled"


def suggest(name: str, candidates: Sequence[str] | Iterable[str]) -> str:
    """Return ``did you mean "x"?`` for the closest candidate, or ``""``."""
    import difflib

    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""
