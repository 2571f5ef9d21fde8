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
    instance = prompt_server.instance
    pack_app = getattr(instance, "app", None)
    recorded = list(getattr(pack_app, "defs", []))  # what packs added through .app
    latest = {}  # a pack imported again (a reload) registers its routes again: keep the last
    for route in [*instance.routes, *recorded]:
        if isinstance(route, web.RouteDef):
            latest[(route.method, route.path)] = route
        elif isinstance(route, web.StaticDef):
            latest[("static", route.prefix)] = route
    for route in latest.values():
        if isinstance(route, web.StaticDef):
            if any(r.resource is not None and getattr(r.resource, "canonical", "") == route.prefix
                   for r in app.router.routes()):
                log.warning("ComfyUI pack static folder %s collides; skipped", route.prefix)
                continue
            route.register(app.router)
            continue
        if (route.method, route.path) in taken or (route.method == "GET" and (
                "HEAD", route.path) in taken):
            log.warning("ComfyUI pack route %s %s collides with a nodeflow route; skipped",
                        route.method, route.path)
            continue
        app.router.add_route(route.method, route.path, route.handler, **route.kwargs)
    for hooks in ("on_startup", "on_shutdown", "on_cleanup", "cleanup_ctx"):
        getattr(app, hooks).extend(getattr(pack_app, hooks, []))
    app.on_startup.append(_broadcast_to_clients)


class _ServerView:
    """What ComfyUI packs read through PromptServer.instance: the running prompt and the
    queue (read on the store's own thread, from any thread)."""

    def __init__(self, app: web.Application):
        self._app = app

    def current(self) -> tuple[str, str | None] | None:
        from .state import WORKER

        running = self._app[WORKER].current
        return (running.item.prompt_id, running.item.client_id) if running else None

    def queue(self) -> tuple[list, list]:
        from .state import STORE

        store = self._app[STORE]
        return ([i.comfy_entry() for i in store.call_sync("running")],
                [i.comfy_entry() for i in store.call_sync("pending")])


async def _broadcast_to_clients(app: web.Application) -> None:
    from ..comfy_compat import runtime
    from .state import HUB

    loop, hub = asyncio.get_running_loop(), app[HUB]

    def broadcast(event: str, data, sid: str | None = None) -> None:
        loop.call_soon_threadsafe(hub.post, event, data, sid)
    runtime.BROADCAST.append(broadcast)
    runtime.SERVER.append(_ServerView(app))
