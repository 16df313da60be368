"""Annotated input types shared by the runners.

- ``Duration``: seconds as a float, written in grids as a number of seconds or
  a string such as ``"500ms"``, ``"2s"``, ``"1m30s"`` (parsed by
  :func:`gridflow.plan.durations.parse_duration`, so runners and grid options
  accept exactly the same spellings).
- :func:`json_field_allowed`: lets a model define a field named ``json``.
- ``Text``: a string; numbers and booleans are accepted and written as HCL
  would print them (``5``, ``1.5``, ``true``), so ``headers = { "X-N" = 5 }``
  works without ``tostring``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from gridflow.plan.durations import parse_duration


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Text = Annotated[str, BeforeValidator(_text)]


@contextlib.contextmanager
def json_field_allowed() -> Iterator[None]:
    """Define models with a field named ``json`` inside this block.

    ``json`` is the argument's name in grids (burstgridgo's), and field names
    are what the grid loader and the engines see, so an alias will not do.
    Pydantic warns that the field shadows ``BaseModel.json()``, a deprecated
    method nobody here calls; the field simply wins.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message='Field name "json" in ', category=UserWarning)
        yield
