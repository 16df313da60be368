"""Shared pieces of the HTTP runners: status sets and auth arguments.

``StatusSet`` is how ``expect_status`` (http_request), ``status`` (assert,
wait) are written in grids: a code (``200``), a class (``"2xx"``), a range
(``"200-299"``), or a list of those. Parsing happens while the step's inputs
are validated, so a typo is reported before any request is made.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{3})\s*-\s*(\d{3})$")
_CODE = re.compile(r"^\d{3}$")

_HOW = 'write a code (200), a class ("2xx"), a range ("200-299") or a list of those'


@dataclasses.dataclass(frozen=True)
class StatusSet:
    """A set of HTTP status codes, remembered as the user wrote it."""

    items: tuple[str, ...]  # normalised: "200", "2xx", "200-299"
    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, int) or isinstance(code, bool):
            return False
        return any(lo <= code <= hi for lo, hi in self.ranges)

    def __str__(self) -> str:
        return " or ".join(self.items)

    def to_json(self) -> list[int | str]:
        return [int(i) if _CODE.match(i) else i for i in self.items]

    @classmethod
    def parse(cls, value: Any) -> StatusSet:
        """Parse a status spec; raises ValueError saying what is wrong and how to fix it."""
        if isinstance(value, StatusSet):
            return value
        values = value if isinstance(value, list | tuple) else [value]
        if not values:
            raise ValueError(f"the list of statuses is empty; {_HOW}")
        items: list[str] = []
        ranges: list[tuple[int, int]] = []
        for v in values:
            item, lo, hi = _parse_one(v)
            items.append(item)
            ranges.append((lo, hi))
        return cls(tuple(items), tuple(ranges))


def _parse_one(value: Any) -> tuple[str, int, int]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{json.dumps(value, default=str)} is not a status; {_HOW}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value:g} is not a status code; {_HOW}")
        value = int(value)
    if isinstance(value, int):
        return _code(value), value, value
    text = value.strip()
    if _CODE.match(text):
        code = int(text)
        return _code(code), code, code
    if m := _CLASS.match(text):
        digit = int(m.group(1))
        return f"{digit}xx", digit * 100, digit * 100 + 99
    if m := _RANGE.match(text):
        lo, hi = int(m.group(1)), int(m.group(2))
        _code(lo)
        _code(hi)
        if lo > hi:
            raise ValueError(f'status range "{text}" is empty: write the lower code first')
        return f"{lo}-{hi}", lo, hi
    raise ValueError(f'"{value}" is not a status; {_HOW}')


def _code(code: int) -> str:
    if not 100 <= code <= 599:
        raise ValueError(f"{code} is not an HTTP status code: codes run from 100 to 599")
    return str(code)


StatusSpec = Annotated[
    StatusSet,
    PlainValidator(StatusSet.parse),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "array"}]}),
]


class BearerAuth(BaseModel):
    """``auth = { type = "bearer", token = "..." }``"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token: str = Field(min_length=1)

    def header(self) -> str:
        return f"Bearer {self.token}"


class BasicAuth(BaseModel):
    """``auth = { type = "basic", username = "...", password = "..." }``"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str
    password: str = ""

    def header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


Auth = Annotated[BearerAuth | BasicAuth, Field(discriminator="type")]


def lower_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Header names lower-cased, so merging and overriding ignore case."""
    return {k.lower(): v for k, v in (headers or {}).items()}
