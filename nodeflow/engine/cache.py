"""The result cache: node outputs keyed by content, least recently used first out.

A key is a hash of the node's type, version, literal inputs and the keys of what feeds it,
never of node ids, so the same computation in another workflow (or after a rename) hits.
Sizes are estimated (tensors and arrays by their bytes) and kept under a byte budget.
"""
from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CacheEntry:
    outputs: dict[str, Any]
    ui: dict[str, Any] = field(default_factory=dict)
    size: int = 0


class ResultCache:
    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, outputs: dict[str, Any], ui: dict[str, Any]) -> None:
        size = sum(size_of(v) for v in outputs.values())
        if size > self.budget_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.total_bytes -= old.size
        self._entries[key] = CacheEntry(outputs, ui, size)
        self.total_bytes += size
        while self.total_bytes > self.budget_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.total_bytes -= evicted.size

    def clear(self) -> None:
        self._entries.clear()
        self.total_bytes = 0


def size_of(value: Any, _seen: set[int] | None = None) -> int:
    """Approximate bytes held by ``value``: tensors/arrays by their data, containers summed."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if hasattr(value, "size_bytes") and callable(value.size_bytes):
        return int(value.size_bytes())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, dict):
        return sum(size_of(v, seen) for v in value.values()) + sys.getsizeof(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(size_of(v, seen) for v in value) + sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(size_of(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if hasattr(value, "parameters") and callable(value.parameters):
        try:
            return sum(int(p.nbytes) for p in value.parameters())
        except Exception:  # not a torch module after all
            pass
    return sys.getsizeof(value)
