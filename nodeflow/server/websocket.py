"""The connected websocket clients, and one publisher that sends to them in order.

Messages about a prompt go to the client that queued it (by ``client_id``); a prompt queued
without one is announced to every client, as ComfyUI does. Queue status goes to all.
Everything is posted on the event loop into one outbox, so clients see messages in the order
they happened. Each client then has its own bounded backlog and sender: one that stops reading
is disconnected once its backlog is full (config.ws_buffer_*), and never slows the others.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from .json_safe import dumps
from .relay import PREVIEW

log = logging.getLogger("nodeflow.server")

_Message = tuple[str | None, str, Any]


@dataclass(eq=False)
class Client:
    """One socket with its own backlog and sender, so a client that stops reading only ever
    holds up itself."""
    sid: str
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    backlog: deque = field(default_factory=deque)
    backlog_bytes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task | None = None
    dropped: bool = False


class Hub:
    def __init__(self, max_messages: int = 1024, max_bytes: int = 8 * 1024**2) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.dropped = 0
        """Clients disconnected for falling behind, since the start."""
        self._clients: dict[str, Client] = {}
        self._open: set[Client] = set()  # replaced ones too, for shutdown
        self._outbox: asyncio.Queue[_Message] = asyncio.Queue()

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, sid: str, ws: web.WebSocketResponse,
            transport: asyncio.BaseTransport | None = None,
            first: tuple[str, Any] | None = None) -> None:
        """Register ``ws`` as client ``sid`` (replacing an older socket with that id).
        ``first`` (kind, data) goes straight into its backlog, so it comes before anything
        that was already in the outbox when the client connected."""
        client = Client(sid, ws, transport)
        client.idle.set()
        if first is not None:
            self._offer(client, _encode(*first))
        client.sender = asyncio.get_running_loop().create_task(self._send_forever(client),
                                                               name=f"nodeflow-ws-{sid[:20]}")
        self._clients[sid] = client
        self._open.add(client)

    def remove(self, sid: str, ws: web.WebSocketResponse) -> None:
        for client in [c for c in self._open if c.ws is ws]:
            self._forget(client)

    def post(self, kind: str, data: Any, sid: str | None = None) -> None:
        """Queue a message (JSON ``{"type", "data"}``, or bytes for a preview) for client
        ``sid``, or for everyone when ``sid`` is None. Call on the event loop."""
        self._outbox.put_nowait((sid, kind, data))

    async def publish_forever(self) -> None:
        """Encode each message once and hand it to its clients' backlogs; never waits for a
        client."""
        while True:
            sid, kind, data = await self._outbox.get()
            try:
                payload = _encode(kind, data)
            except ValueError:  # a circular value in a node's result: skip this message
                log.exception("could not encode a %s message", kind)
                continue
            targets = list(self._clients.values()) if sid is None else \
                [c for c in [self._clients.get(sid)] if c is not None]
            for client in targets:
                self._offer(client, payload)

    def _offer(self, client: Client, payload: str | bytes) -> None:
        size = len(payload)
        if len(client.backlog) >= self.max_messages or \
                client.backlog_bytes + size > self.max_bytes:
            self._drop(client)
            return
        client.backlog.append(payload)
        client.backlog_bytes += size
        client.idle.clear()
        client.ready.set()

    def _drop(self, client: Client) -> None:
        """Disconnect a client that fell behind: its messages are discarded and its
        connection is cut (a close frame would queue behind what it is not reading)."""
        self.dropped += 1
        log.warning("websocket client %s fell behind (%d messages, %d bytes not taken); "
                    "disconnected", client.sid, len(client.backlog), client.backlog_bytes)
        self._forget(client)
        if client.transport is not None:
            client.transport.abort()

    def _forget(self, client: Client) -> None:
        client.dropped = True
        client.backlog.clear()
        client.backlog_bytes = 0
        client.idle.set()
        client.ready.set()
        self._open.discard(client)
        if self._clients.get(client.sid) is client:
            del self._clients[client.sid]
        if client.sender is not None and client.sender is not asyncio.current_task():
            client.sender.cancel()

    async def _send_forever(self, client: Client) -> None:
        while not client.dropped:
            if not client.backlog:
                client.idle.set()
                client.ready.clear()
                await client.ready.wait()
                continue
            payload = client.backlog[0]
            await _send(client.ws, payload)
            if client.backlog and client.backlog[0] is payload:
                client.backlog.popleft()
                client.backlog_bytes -= len(payload)

    async def close_all(self, flush_s: float = 2.0) -> None:
        """Give every client up to ``flush_s`` to take what is queued for it, then close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_s
        while not self._outbox.empty() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        clients = list(self._open)
        waits = [c.idle.wait() for c in clients]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits],
                               timeout=max(deadline - loop.time(), 0))
        self._clients.clear()
        self._open.clear()
        for client in clients:
            self._forget(client)
            try:
                await asyncio.wait_for(client.ws.close(code=WSCloseCode.GOING_AWAY,
                                                       message=b"server shutdown"), 1.0)
            except asyncio.TimeoutError:  # a client that does not read: cut it
                if client.transport is not None:
                    client.transport.abort()


def _encode(kind: str, data: Any) -> str | bytes:
    """What goes on the wire: a preview's bytes as they are, anything else as ComfyUI's JSON
    ``{"type", "data"}``; ValueError for a value JSON cannot hold (a circular one)."""
    return data if kind == PREVIEW else dumps({"type": kind, "data": data})


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
