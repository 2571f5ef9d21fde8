"""What the routes call on a queue runner, shared by the one-process worker and the
cluster's head queue: wake it, and the queue count that status messages carry (both answer
/prompt's GET and broadcast "status" the same way)."""
from __future__ import annotations

import asyncio
from typing import Any

from .store_thread import AsyncStore, StoreFailed
from .websocket import Hub


class QueueStatus:
    """ComfyUI's exec_info for a queue kept in ``self.store``, broadcast on ``self.hub``; the
    runner's loop waits on ``self._wake``."""

    store: AsyncStore
    hub: Hub
    _wake: asyncio.Event
    _remaining: int = 0

    def wake(self) -> None:
        """A prompt was queued (or the queue changed): look again."""
        self._wake.set()

    async def notify(self) -> None:
        """The queue changed: look again, and tell every client."""
        self.wake()
        await self.broadcast_status()

    async def queue_info(self) -> dict[str, Any]:
        """ComfyUI's exec_info; the last known count while the database cannot answer."""
        try:
            self._remaining = await self.store.call("remaining")
        except StoreFailed:
            pass  # the health check reports the fault; the count is the last one known
        return self.last_queue_info()

    def last_queue_info(self) -> dict[str, Any]:
        """queue_info as of the last change (kept current by every status broadcast)."""
        return {"exec_info": {"queue_remaining": self._remaining}}

    async def broadcast_status(self) -> None:
        self.hub.post("status", {"status": await self.queue_info()})
