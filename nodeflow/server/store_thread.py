"""The queue store, used from the event loop without ever blocking it.

Every call runs on one thread of its own (so statements stay in order, as from a single
connection), while the loop keeps answering: a lock held by another process, a slow disk
or a history of 10,000 entries costs the caller time, never the other requests. Each call's
success or failure is what :attr:`AsyncStore.fault` reports to the health check.
"""
from __future__ import annotations

import asyncio
import functools
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import ApiError
from .faults import Fault, describe
from .queue_store import QueueStore
from .store_checks import probe_write

WRITES = frozenset({"add", "enqueue", "take_next", "finish", "delete_pending", "clear_pending",
                    "delete_history", "clear_history", "take", "requeue"})
"""Methods that write. While another process holds the lock reads still work, so only a
write that succeeds again shows that a write fault has passed."""


class StoreFailed(ApiError):
    """A store call failed for a reason the user can act on (disk full, locked, damaged)."""

    def __init__(self, fault: Fault):
        super().__init__(fault.status, fault.message, fault.kind)
        self.fault = fault


class AsyncStore:
    def __init__(self, store: QueueStore):
        self.store = store
        self.fault: Fault | None = None
        """Why the last call failed; None once such a call has succeeded again."""
        self._write_fault = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nodeflow-db")

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``store.method(*args, **kwargs)`` on the store's thread. Storage failures raise
        :class:`StoreFailed`; other exceptions (bugs, duplicate ids) pass through."""
        fn = functools.partial(getattr(self.store, method), *args, **kwargs)
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        except (sqlite3.Error, OSError) as exc:
            fault = describe(exc, self.store.path) or Fault(
                "storage_error", f"the queue database failed: {exc}", 503)
            self.fault, self._write_fault = fault, method in WRITES
            raise StoreFailed(fault) from exc
        damaged = self.fault is not None and self.fault.kind == "database_damaged"
        if not damaged and (method in WRITES or not self._write_fault):
            self.fault = None  # damage stays reported: only db-recover and a restart end it
        return result

    def call_sync(self, method: str, *args: Any) -> Any:
        """``store.method(*args)`` on the store's thread, waited for from any thread (for
        ComfyUI packs, whose queue reads are synchronous). Only for quick reads."""
        fn = functools.partial(getattr(self.store, method), *args)
        return self._pool.submit(fn).result()

    async def probe(self) -> Fault | None:
        """Whether a write could start now, asked on a connection of its own (so the answer
        never waits behind calls queued for the store's thread)."""
        try:
            await asyncio.to_thread(probe_write, self.store.path)
        except (sqlite3.Error, OSError) as exc:
            return describe(exc, self.store.path) or Fault(
                "storage_error", f"the queue database failed: {exc}", 503)
        return None

    async def close(self) -> None:
        """Close the connection on its own thread, after every call queued before it."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self.store.close)
        self._pool.shutdown(wait=True)
