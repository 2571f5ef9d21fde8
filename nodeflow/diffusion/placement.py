"""Which models sit on the compute device under a VRAM budget (``--vram-budget``).

Without a budget models load straight onto the compute device and stay there. With one they
load into RAM (the offload device) and a node moves the ones it needs onto the compute device
when it uses them; they stay there across runs while the models on the device fit the budget.
When the next model would not fit, the least recently used models that the running node does
not use go back to RAM. A model larger than the whole budget is refused with one sentence
(nothing streams weights block by block).

Both devices are parameters, so the accounting runs the same where both are the CPU (tests).
"""
from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable

import torch

from nodeflow.errors import NodeError

_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2,
          "gb": 1024**3, "gib": 1024**3, "tb": 1024**4, "tib": 1024**4}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def check_budget_text(text: str) -> str:
    """``text`` if it reads as a budget (for the command line), else ValueError saying why."""
    parse_budget(text, lambda: 1)
    return text


def parse_budget(text: str, device_total: Callable[[], int]) -> int:
    """Bytes of a budget: ``6GB`` / ``6000MB`` / ``512MiB`` (binary units: 1 GB = 1024**3
    bytes, as GPU tools count), or a bare number up to 1 (``0.5``): that fraction of the
    compute device's memory, asked of ``device_total()`` only then."""
    match = _BUDGET.match(str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"--vram-budget {text!r}: give bytes with a unit (6GB, 6000MB) or a "
                         "fraction of the device's memory (0.5)")
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit and number <= 1:
        if number <= 0:
            raise ValueError(f"--vram-budget {text!r}: a fraction must be above 0")
        return int(device_total() * number)
    if not unit:
        raise ValueError(f"--vram-budget {text!r}: a bare number is a fraction of the device's "
                         "memory (0 to 1); give bytes with a unit, e.g. 6GB")
    return int(number * _UNITS[unit])


def device_memory(device: str) -> int:
    """Total memory of ``device``: the GPU's own, or this machine's RAM for the CPU."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of the parameters and buffers, each storage counted once."""
    seen: set[int] = set()
    total = 0
    for tensor in (*module.parameters(), *module.buffers()):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def size_text(n: int) -> str:
    """Bytes for a message: GB (binary, as the budget counts them), MB below 1 GB."""
    return f"{n / 1024**3:.2f} GB" if n >= 1024**3 else f"{n / 1024**2:.2f} MB"


@dataclass
class _Resident:
    ref: weakref.ref
    name: str
    size: int
    tensors: frozenset[int]  # ids of its parameters and buffers (a LoRA copy shares most)


class ModelPlacer:
    """Moves models between ``offload`` (RAM) and ``compute`` within ``budget_bytes``."""

    def __init__(self, budget_bytes: int, compute: str, offload: str = "cpu"):
        self.budget_bytes = budget_bytes
        self.compute = compute
        self.offload = offload
        self._resident: OrderedDict[int, _Resident] = OrderedDict()  # by id(module), LRU first
        self._user: Hashable = None  # the node running now
        self._in_use: set[int] = set()  # what it has asked for: never offloaded for it
        self._lock = threading.RLock()
        self.moves_in = 0
        self.moves_out = 0

    @property
    def resident_bytes(self) -> int:
        return sum(r.size for r in self._resident.values())

    def resident_names(self) -> list[str]:
        """Models on the compute device, least recently used first."""
        with self._lock:
            self._forget_dropped()
            return [r.name for r in self._resident.values()]

    def use(self, module: torch.nn.Module, name: str, user: Hashable) -> torch.nn.Module:
        """``module`` on the compute device for ``user`` (a running node), making room by
        offloading least recently used models that ``user`` has not asked for."""
        with self._lock:
            self._forget_dropped()
            if user != self._user:
                self._user, self._in_use = user, set()
            key = id(module)
            self._in_use.add(key)
            if key in self._resident:
                self._resident.move_to_end(key)
                return module
            size = module_bytes(module)
            if size > self.budget_bytes:
                raise NodeError(f"{name} takes {size_text(size)}, more than the whole --vram-budget of "
                                f"{size_text(self.budget_bytes)}; raise the budget or run without one")
            while self.resident_bytes + size > self.budget_bytes:
                victim = next((k for k in self._resident if k not in self._in_use), None)
                if victim is None:
                    held = ", ".join(f"{r.name} ({size_text(r.size)})" for r in self._resident.values())
                    raise NodeError(f"{name} ({size_text(size)}) does not fit in the --vram-budget of "
                                    f"{size_text(self.budget_bytes)} beside {held}, which this node "
                                    "also uses; raise the budget")
                self._offload(victim)
            module.to(self.compute)
            self.moves_in += 1
            tensors = frozenset(map(id, (*module.parameters(), *module.buffers())))
            self._resident[key] = _Resident(weakref.ref(module), name, size, tensors)
            return module

    def _offload(self, key: int) -> None:
        """Move a model back to RAM; a resident model sharing tensors with it (the model a
        LoRA copy was made from) was moved in part with it, so it goes back whole."""
        entry = self._resident.pop(key)
        module = entry.ref()
        if module is not None:
            module.to(self.offload)
            self.moves_out += 1
        for other in [k for k, r in self._resident.items() if r.tensors & entry.tensors]:
            self._offload(other)

    def _forget_dropped(self) -> None:
        """Models the model cache dropped no longer hold device memory."""
        for key in [k for k, r in self._resident.items() if r.ref() is None]:
            del self._resident[key]


_MAKING = threading.Lock()


def placer_for(ctx) -> ModelPlacer | None:
    """The process's placer when the settings carry a VRAM budget (made on first use and kept
    with the model cache), else None: models then load straight onto the compute device (also
    for a load outside a run, whose context has no settings)."""
    text = getattr(getattr(ctx, "settings", None), "vram_budget", None)
    if not text:
        return None
    models = ctx.models
    with _MAKING:
        placer = getattr(models, "placement", None)
        if placer is None:
            from .runtime import pick_device

            compute = pick_device()
            try:
                budget = parse_budget(text, lambda: device_memory(compute))
            except ValueError as exc:
                raise NodeError(str(exc)) from None
            placer = models.placement = ModelPlacer(budget, compute)
        return placer


def place(ctx, module: torch.nn.Module, name: str) -> torch.nn.Module:
    """``module`` where the running node computes with it (a no-op without a budget)."""
    placer = placer_for(ctx)
    if placer is None:
        return module
    return placer.use(module, name, (ctx.run_id, ctx.node_id))
