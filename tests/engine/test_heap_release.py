"""After a long node the executor returns the heap's free memory to the system; after quick
nodes it does not (malloc_trim costs up to 10 ms, which a 1,000-node chain must not pay)."""
from __future__ import annotations

import ctypes.util
import platform

from nodeflow.engine import heap

from .test_executor import chain


def test_release_after_long_nodes_only(executor, monkeypatch):
    released = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: released.append(1))
    assert executor.run(chain()).status == "success"
    assert released == []  # four nodes of microseconds
    monkeypatch.setattr(heap, "LONG_NODE_S", 0.0)
    assert executor.run(chain(value=5)).status == "success"
    assert len(released) == 4  # every node that ran (none came from the cache)


def test_release_free_memory_reaches_glibc_where_it_is_there():
    if ctypes.util.find_library("c") and platform.libc_ver()[0] == "glibc":
        assert heap._TRIM is not None
    heap.release_free_memory()  # and never fails


def test_buffers_kept_for_reuse_are_dropped_before_the_trim(monkeypatch):
    order = []
    monkeypatch.setattr(heap, "_DROPS", [])
    monkeypatch.setattr(heap, "_TRIM", lambda pad: order.append("trim"))
    heap.on_release(lambda: order.append("drop"))
    heap.release_free_memory()
    assert order == ["drop", "trim"]


def test_buffers_kept_for_reuse_are_dropped_after_every_node(executor, monkeypatch):
    """Quick nodes too: a reused buffer lives only within the node that made it."""
    drops = []
    monkeypatch.setattr(heap, "_DROPS", [lambda: drops.append(1)])
    assert executor.run(chain(value=7)).status == "success"
    assert len(drops) == 4
