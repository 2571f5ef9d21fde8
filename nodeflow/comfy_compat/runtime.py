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


PREVIEW_IMAGE, UNENCODED_PREVIEW_IMAGE = 1, 2
"""ComfyUI's ``server.BinaryEventTypes`` for images: encoded bytes, or [format, PIL image,
max size]."""


def send(event: Any, data: Any, sid: str | None = None) -> None:
    """``PromptServer.instance.send_sync``: inside a node it is ``ctx.send``; elsewhere (a
    route handler, a thread of the pack) it goes to every editor client of the server. A
    binary preview image (an int event) is the running node's preview."""
    ctx = CURRENT.get()
    if isinstance(event, int) and not isinstance(event, bool):
        _preview(ctx, event, data)
        return
    if ctx is not None and sid is None:
        ctx.send(event, data)
    elif BROADCAST:
        BROADCAST[-1](event, data, sid)
    else:
        log.debug("send_sync(%r) with no server running: dropped", event)


def _preview(ctx: Any, event: int, data: Any) -> None:
    import io

    from PIL import Image

    image = None
    if event == UNENCODED_PREVIEW_IMAGE and isinstance(data, (list, tuple)) and len(data) > 1:
        image = data[1]
    elif event == PREVIEW_IMAGE and isinstance(data, (list, tuple)) and len(data) > 1:
        image = Image.open(io.BytesIO(data[1]))
    if ctx is None or not isinstance(image, Image.Image):
        log.debug("binary event %r outside a node or without an image: dropped", event)
        return
    ctx.progress(1, 1, image)
