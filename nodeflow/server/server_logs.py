"""The server's recent log lines for ComfyUI's frontend (its log panel): kept in memory, read
through /internal/logs, and sent as ``logs`` websocket messages to clients that subscribed."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

from aiohttp import web

from .state import HUB

KEEP = 300
SIZE = {"cols": 120, "rows": 40}
"""The terminal size ComfyUI reports with its log entries."""


class LogBuffer(logging.Handler):
    """A logging handler that keeps the last ``KEEP`` lines and forwards new ones."""

    def __init__(self, loop: asyncio.AbstractEventLoop, post) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.entries: deque[dict] = deque(maxlen=KEEP)
        self.subscribers: set[str] = set()
        self._loop = loop
        self._post = post

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created)),
                     "m": self.format(record) + "\n"}
        except Exception:  # noqa: BLE001 - logging's own contract: never raise from emit
            self.handleError(record)
            return
        self.entries.append(entry)
        for sid in list(self.subscribers):
            try:
                self._loop.call_soon_threadsafe(self._post, "logs",
                                                {"entries": [entry], "size": SIZE}, sid)
            except RuntimeError:  # the loop is closed: the server is stopping
                return

    def text(self) -> str:
        return "".join(e["m"] for e in self.entries)

    def raw(self) -> dict:
        return {"entries": list(self.entries), "size": SIZE}


LOGS = web.AppKey("logs", LogBuffer)


async def capture_logs(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: keep the log lines while the app runs."""
    handler = LogBuffer(asyncio.get_running_loop(), app[HUB].post)
    app[LOGS] = handler
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
