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
    """Bytes of this entry's own containers and scalars; its tensors are counted once per
    cache in :attr:`ResultCache._held`, however many entries hold them."""
    leaves: tuple[int, ...] = ()


class ResultCache:
    """Entries share their tensors: a node's per-item results and its merged result hold the
    same ones, so a tensor's bytes count once while any entry holds it."""

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._held: dict[int, list[int]] = {}
        """id of a tensor (or other sized leaf) -> [entries holding it, its bytes]"""
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
        leaves: dict[int, int] = {}
        own = sum(_measure(v, leaves, set()) for v in outputs.values())
        if own + sum(leaves.values()) > self.budget_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._release(old)
        self._entries[key] = CacheEntry(outputs, ui, own, tuple(leaves))
        self.total_bytes += own
        for leaf, nbytes in leaves.items():
            held = self._held.setdefault(leaf, [0, nbytes])
            if held[0] == 0:
                self.total_bytes += nbytes
            held[0] += 1
        while self.total_bytes > self.budget_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._release(evicted)

    def _release(self, entry: CacheEntry) -> None:
        self.total_bytes -= entry.size
        for leaf in entry.leaves:
            held = self._held[leaf]
            held[0] -= 1
            if held[0] == 0:
                self.total_bytes -= held[1]
                del self._held[leaf]

    def clear(self) -> None:
        self._entries.clear()
        self._held.clear()
        self.total_bytes = 0


def size_of(value: Any) -> int:
    """Approximate bytes held by ``value``: tensors/arrays by their data, containers summed."""
    leaves: dict[int, int] = {}
    return _measure(value, leaves, set()) + sum(leaves.values())


def _measure(value: Any, leaves: dict[int, int], seen: set[int]) -> int:
    """Bytes of ``value``'s containers and scalars; its sized leaves (tensors, arrays, modules,
    objects with ``size_bytes()``) go into ``leaves`` by id instead, so a caller can count a
    leaf shared by several values once."""
    if id(value) in seen or id(value) in leaves:
        return 0
    seen.add(id(value))
    leaf = _leaf_bytes(value)
    if leaf is not None:
        leaves[id(value)] = leaf
        return 0
    if isinstance(value, dict):
        return sum(_measure(v, leaves, seen) for v in value.values()) + sys.getsizeof(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(_measure(v, leaves, seen) for v in value) + sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_measure(getattr(value, f.name), leaves, seen)
                   for f in dataclasses.fields(value))
    return sys.getsizeof(value)


def _leaf_bytes(value: Any) -> int | None:
    if hasattr(value, "size_bytes") and callable(value.size_bytes):
        return int(value.size_bytes())
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(value, "parameters") and callable(value.parameters):
        try:
            return sum(int(p.nbytes) for p in value.parameters())
        except Exception:  # not a torch module after all
            return None
    return None
