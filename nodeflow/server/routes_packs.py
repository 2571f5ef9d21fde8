"""HTTP routes of node packs, mounted on the server's app (so its Origin, token and error
middlewares apply to them as to every route).

A nodeflow pack's ``ROUTES`` (an aiohttp RouteTableDef) is served under ``/packs/<pack>/``.
A ComfyUI pack's routes (``PromptServer.instance.routes``) keep their own paths, which ComfyUI
clients call; one that collides with a nodeflow route is skipped with a warning. Messages sent
with ``PromptServer.instance.send_sync`` outside a running node go to every websocket client.
"""
from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from ..registry import Registry

log = logging.getLogger("nodeflow.server")


def mount_pack_routes(app: web.Application, registry: Registry) -> None:
    taken = {(r.method, getattr(r.resource, "canonical", None)) for r in app.router.routes()}
    for pack in registry.packs.values():
        for route in pack.routes:
            if isinstance(route, web.RouteDef):
                path = f"/packs/{pack.name}/{route.path.lstrip('/')}"
                app.router.add_route(route.method, path, route.handler, **route.kwargs)
    server = sys.modules.get("server")
    prompt_server = getattr(server, "PromptServer", None) if getattr(
        server, "__nodeflow_shim__", False) else None
    if prompt_server is None:
        return
    latest = {}  # a pack imported again (a reload) registers its routes again: keep the last
    for route in prompt_server.instance.routes:
        if isinstance(route, web.RouteDef):
            latest[(route.method, route.path)] = route
    for route in latest.values():
        if (route.method, route.path) in taken or (route.method == "GET" and (
                "HEAD", route.path) in taken):
            log.warning("ComfyUI pack route %s %s collides with a nodeflow route; skipped",
                        route.method, route.path)
            continue
        app.router.add_route(route.method, route.path, route.handler, **route.kwargs)
    app.on_startup.append(_broadcast_to_clients)


async def _broadcast_to_clients(app: web.Application) -> None:
    from ..comfy_compat import runtime
    from .state import HUB

    loop, hub = asyncio.get_running_loop(), app[HUB]

    def broadcast(event: str, data, sid: str | None = None) -> None:
        loop.call_soon_threadsafe(hub.post, event, data, sid)
    runtime.BROADCAST.append(broadcast)
