"""A bounded least-recently-used map: every in-memory cache of the writer is one of these.

The predecessor's cooldown dict grew forever; here each cache has a capacity from
settings and drops its least recently used entry when it is full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class LruMap(Generic[_K, _V]):
    """A map of at most ``capacity`` entries, least recently used evicted first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def split(self, keys: Iterable[_K]) -> tuple[dict[_K, _V], list[_K]]:
        """The values already known for ``keys``, and the keys that must be looked up."""
        found: dict[_K, _V] = {}
        missing: list[_K] = []
        for key in keys:
            known = self.get(key)
            if known is None:
                missing.append(key)
            else:
                found[key] = known
        return found, missing
