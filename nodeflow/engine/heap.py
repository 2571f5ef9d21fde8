"""Give the C heap's free memory back to the system after a long node.

glibc keeps the memory of freed allocations under its mmap threshold (which grows up to 32 MB
as large blocks are freed) in its heap for reuse. A model node leaves hundreds of MB there that
the next node's larger tensors cannot use, and all of it counts in the process's RSS: in an SD
1.5 fp32 run, 0.24 GB after sampling, which the 512 px VAE pass then stacks its activations on
(peak 5.17 GB for its encode without trimming, 4.99 GB with). malloc_trim returns it. It takes
0.1-10 ms, so it runs only after nodes that took a second or more; elsewhere (other C
libraries) this does nothing. Buffers that code keeps for reuse across calls (the Winograd
convolutions' workspace) are registered with ``on_release`` and dropped after every node, so
that they live only within the node that uses them.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LONG_NODE_S = 1.0
"""A node that ran at least this long has its freed heap memory returned after it."""


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_TRIM = _malloc_trim()


_DROPS: list[Callable[[], None]] = []


def on_release(drop: Callable[[], None]) -> None:
    """Call ``drop`` (which lets go of memory kept for reuse) whenever free memory is returned."""
    _DROPS.append(drop)


def drop_reused_buffers() -> None:
    """Let go of the buffers kept for reuse (``on_release``)."""
    for drop in _DROPS:
        drop()


def release_free_memory() -> None:
    """Drop the buffers kept for reuse, then return the heap's free pages to the system (glibc;
    a no-op elsewhere)."""
    drop_reused_buffers()
    if _TRIM is not None:
        _TRIM(0)


@contextmanager
def released_after_long_node() -> Iterator[None]:
    """Around one node's call: drop the buffers kept for reuse afterwards, and if it ran
    LONG_NODE_S or more (or failed after that long), return the heap's free pages too."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if time.perf_counter() - started >= LONG_NODE_S:
            release_free_memory()
        else:
            drop_reused_buffers()
