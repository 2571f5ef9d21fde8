"""Loaded models (UNets, text encoders, VAEs), shared by every run of a process.

Nodes pass light references through links and load the real weights here on first use, keyed
by what they are (file, modification time, patches, device, precision). Past the byte budget
the least recently used model is dropped; it is reloaded from disk when needed again.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

from .cache import size_of

T = TypeVar("T")


def default_model_budget() -> int:
    """60% of this machine's memory (8 GiB where that cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.6)
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


class ModelCache:
    def __init__(self, budget_bytes: int | None = None):
        self.budget_bytes = default_model_budget() if budget_bytes is None else budget_bytes
        self._models: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()
        self.total_bytes = 0
        self.loads = 0
        self.placement: Any = None
        """With a VRAM budget, what decides which of these models sit on the compute device
        (nodeflow.diffusion.placement); None without one."""

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model for ``key``, calling ``load()`` only if it is not in memory."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key][0]
            model = load()
            self.loads += 1
            size = size_of(model)
            self._models[key] = (model, size)
            self.total_bytes += size
            while self.total_bytes > self.budget_bytes and len(self._models) > 1:
                _, (_, dropped) = self._models.popitem(last=False)
                self.total_bytes -= dropped
            return model

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.total_bytes = 0
