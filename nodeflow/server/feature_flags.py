"""ComfyUI's feature flags: a client opens the websocket by sending ``{"type":
"feature_flags", "data": {...}}``; the server answers with its own flags (ComfyUI's
comfy_api/feature_flags.py). nodeflow sends the plain binary preview frames (type 1), not the
ones with metadata, so ``supports_preview_metadata`` is false."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType, web

from .state import CONFIG, HUB


def server_features(app: web.Application) -> dict[str, Any]:
    return {"supports_preview_metadata": False,
            "max_upload_size": app[CONFIG].max_upload_bytes}


def client_message(app: web.Application, sid: str, message) -> None:
    """Answer what a client says on the websocket (only feature flags so far)."""
    if message.type != WSMsgType.TEXT:
        return
    try:
        data = json.loads(message.data)
    except ValueError:
        return
    if isinstance(data, dict) and data.get("type") == "feature_flags":
        app[HUB].post("feature_flags", server_features(app), sid)
