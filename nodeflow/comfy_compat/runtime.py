"""What a running ComfyUI node reaches through module-level helpers instead of ``ctx``:
the node running now (progress bars, interrupts, ``send_sync``) and the server to message."""
from __future__ import annotations

import contextvars
import logging
from typing import Any, Callable

log = logging.getLogger("nodeflow.comfy_compat")

CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("comfy_compat_ctx", default=None)
"""The NodeContext of the ComfyUI node running now, if any."""

BROADCAST: list[Callable[[str, Any, str | None], None]] = []
"""Set by the server: sends a websocket message to every client (or one ``sid``)."""


SERVER: list[Any] = []
"""Set by the server: what runs and waits there (``current()`` -> (prompt_id, client_id) or
None; ``queue()`` -> (running, pending) as ComfyUI's queue entries)."""


def server() -> Any:
    return SERVER[-1] if SERVER else None


def current_ctx() -> Any:
    return CURRENT.get()


def send(event: str, data: Any, sid: str | None = None) -> None:
    """``PromptServer.instance.send_sync``: inside a node it is ``ctx.send``; elsewhere (a
    route handler, a thread of the pack) it goes to every editor client of the server."""
    ctx = CURRENT.get()
    if ctx is not None and sid is None:
        ctx.send(event, data)
    elif BROADCAST:
        BROADCAST[-1](event, data, sid)
    else:
        log.debug("send_sync(%r) with no server running: dropped", event)
