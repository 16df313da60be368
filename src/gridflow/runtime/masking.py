"""Keeping secrets out of logs, results and reports.

Like Airflow's secrets masker, gridflow does not try to follow a secret through
every expression that touches it; it remembers the secret *values* (sensitive
variables, sensitive runner inputs and outputs, connection passwords) and
replaces every occurrence of them in text it emits. Values shorter than
``MIN_SECRET_LENGTH`` are not masked by substring (masking "1" everywhere
would garble every number); they are still masked where they stand whole.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4


class Masker:
    """Remembers secret values and redacts them from strings and JSON data."""

    def __init__(self, on_secret: Callable[[str], None] | None = None) -> None:
        # on_secret: told every new secret string, e.g. to pass it on to
        # Airflow's own masker so task logs are redacted too.
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._on_secret = on_secret

    def add(self, value: Any) -> None:
        """Remember ``value`` (and every string inside it) as secret."""
        found: list[str] = []
        _strings(value, found)
        if not found:
            return
        with self._lock:
            fresh = {s for s in found if s and s not in self._secrets}
            if not fresh:
                return
            self._secrets.update(fresh)
            self._pattern = None
        if self._on_secret is not None:
            for secret in sorted(fresh):
                self._on_secret(secret)

    def add_all(self, values: Iterable[Any]) -> None:
        for value in values:
            self.add(value)

    def secrets_in(self, data: Any) -> list[str]:
        """The remembered secrets that occur in ``data`` (whole or inside a string)."""
        found: list[str] = []
        _strings(data, found)
        if isinstance(data, dict):
            found.extend(str(k) for k in data)
        with self._lock:
            secrets = list(self._secrets)
        return sorted(s for s in secrets if any(s in text for text in found))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None:
                long = sorted(
                    (s for s in self._secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True
                )
                if long:
                    self._pattern = re.compile("|".join(re.escape(s) for s in long))
            return self._pattern

    def redact_text(self, text: str) -> str:
        if not self._secrets:
            return text
        if text in self._secrets:
            return MASK
        pattern = self._compiled()
        return pattern.sub(MASK, text) if pattern else text

    def redact(self, data: Any) -> Any:
        """A copy of JSON-like ``data`` with every secret replaced by ``***``."""
        if not self._secrets:
            return data
        if isinstance(data, str):
            return self.redact_text(data)
        if isinstance(data, dict):
            return {self.redact_text(str(k)): self.redact(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact(v) for v in data]
        if isinstance(data, bool) or data is None:
            return data
        if isinstance(data, int | float) and str(data) in self._secrets:
            return MASK
        return data


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        out.append(str(value))
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _strings(v, out)


class MaskingFilter(logging.Filter):
    """A logging filter that redacts a Masker's secrets from every record."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if self.masker:
            record.msg = self.masker.redact_text(record.getMessage())
            record.args = None
        return True
