"""Values an expression can see besides plain JSON data.

Expressions work on JSON-like data only: ``str``, ``int``, ``float``,
``bool``, ``None``, ``list`` and ``dict`` with string keys. Two more kinds
exist, both made by the runtime, never by expressions:

* :class:`StepInstances` — every instance of a fanned-out step. ``.output``
  is the list of outputs in instance order, ``.first_output`` the output of
  the first instance that succeeded, ``[i]`` / ``["key"]`` one instance and
  ``[*]`` all of them (each instance is ``{"output", "error", "status"}``).
* :class:`ResourceHandle` — a ``resource.<type>.<name>`` reference; only
  meaningful as a value in a step's ``uses`` block.

No Python attribute of these objects is reachable from an expression: the
evaluator asks them only through the methods below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceHandle:
    """Stands for the shared resource ``id`` (``"http_client.api"``)."""

    id: str


class StepInstances:
    """All instances of a fanned-out step, keyed by index (count) or key (for_each)."""

    __slots__ = ("_first_ok", "_instances", "_keyed", "_keys")

    def __init__(
        self,
        keys: Sequence[int | str],
        instances: Sequence[Mapping[str, Any]],
        *,
        first_ok: int | None = None,
        keyed: bool = False,
    ) -> None:
        if len(keys) != len(instances):
            raise ValueError("keys and instances differ in length")
        self._keys = list(keys)
        self._instances = [dict(i) for i in instances]
        self._first_ok = first_ok  # position of the first instance that succeeded
        self._keyed = keyed

    @property
    def keyed(self) -> bool:
        """True for ``for_each`` (string keys), False for ``count`` (indices)."""
        return self._keyed

    def __len__(self) -> int:
        return len(self._instances)

    def keys(self) -> list[int | str]:
        return list(self._keys)

    def instance_list(self) -> list[dict[str, Any]]:
        """``S[*]``: every instance object, in instance order."""
        return [dict(i) for i in self._instances]

    def outputs(self) -> list[Any]:
        """``S.output``: every instance's output, in instance order."""
        return [i.get("output") for i in self._instances]

    def first_output(self) -> Any:
        """``S.first_output``: the output of the first instance to succeed."""
        if self._first_ok is None:
            return None
        return self._instances[self._first_ok].get("output")

    def lookup(self, key: object) -> dict[str, Any] | None:
        """``S[key]``: one instance, or None when there is no such key."""
        if self._keyed:
            if isinstance(key, str) and key in self._keys:
                return dict(self._instances[self._keys.index(key)])
            return None
        if isinstance(key, bool) or not isinstance(key, int | float):
            return None
        if isinstance(key, float):
            if not key.is_integer():
                return None
            key = int(key)
        if 0 <= key < len(self._instances):
            return dict(self._instances[key])
        return None

    def as_data(self) -> list[dict[str, Any]] | dict[str, dict[str, Any]]:
        """Plain data: a list (count) or a map by key (for_each) of instances."""
        if self._keyed:
            return {str(k): dict(i) for k, i in zip(self._keys, self._instances, strict=True)}
        return self.instance_list()

    def __repr__(self) -> str:
        return f"StepInstances({len(self._instances)} instances)"
