"""The connected websocket clients, and one publisher that sends to them in order.

Messages about a prompt go to the client that queued it (by ``client_id``); a prompt queued
without one is announced to every client, as ComfyUI does. Queue status goes to all.
Everything is posted on the event loop into one outbox, so clients see messages in the order
they happened.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, web

from .relay import PREVIEW

log = logging.getLogger("nodeflow.server")

_Message = tuple[str | None, str, Any]


class Hub:
    def __init__(self) -> None:
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._open: set[web.WebSocketResponse] = set()  # replaced ones too, for shutdown
        self._outbox: asyncio.Queue[_Message] = asyncio.Queue()

    def __len__(self) -> int:
        return len(self._sockets)

    def add(self, sid: str, ws: web.WebSocketResponse) -> None:
        """Register ``ws`` as client ``sid`` (replacing an older socket with that id)."""
        self._sockets[sid] = ws
        self._open.add(ws)

    def remove(self, sid: str, ws: web.WebSocketResponse) -> None:
        self._open.discard(ws)
        if self._sockets.get(sid) is ws:
            del self._sockets[sid]

    def post(self, kind: str, data: Any, sid: str | None = None) -> None:
        """Queue a message (JSON ``{"type", "data"}``, or bytes for a preview) for client
        ``sid``, or for everyone when ``sid`` is None. Call on the event loop."""
        self._outbox.put_nowait((sid, kind, data))

    async def publish_forever(self) -> None:
        while True:
            sid, kind, data = await self._outbox.get()
            try:
                payload = data if kind == PREVIEW else json.dumps({"type": kind, "data": data},
                                                                  default=str)
            except ValueError:  # a circular value in a node's result: skip this message
                log.exception("could not encode a %s message", kind)
                continue
            targets = list(self._sockets.values()) if sid is None else \
                [ws for ws in [self._sockets.get(sid)] if ws is not None]
            for ws in targets:
                await _send(ws, payload)

    async def close_all(self) -> None:
        sockets = list(self._open)
        self._sockets.clear()
        self._open.clear()
        for ws in sockets:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def _send(ws: web.WebSocketResponse, payload: str | bytes) -> None:
    if ws.closed:
        return
    try:
        if isinstance(payload, bytes):
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload)
    except (ConnectionError, RuntimeError) as exc:  # the client went away mid-send
        log.debug("websocket send failed: %s", exc)
