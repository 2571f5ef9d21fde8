"""HTTP routes of node packs, behind the server's Origin, token and error middlewares like
every route.

A nodeflow pack's ``ROUTES`` (an aiohttp RouteTableDef) is served under ``/packs/<pack>/``.
A ComfyUI pack's routes (``PromptServer.instance.routes``, and what it added through
``PromptServer.instance.app``: routes, static folders, startup and cleanup hooks) keep their own
paths, which ComfyUI clients call; one that collides with a nodeflow route is skipped with a
warning. Messages sent
with ``PromptServer.instance.send_sync`` outside a running node go to every websocket client.

aiohttp freezes the app's router when the server starts, but ``serve --dev`` loads packs
again later: so pack routes live in a router of their own (:class:`PackRoutes`), rebuilt from
the registry on every reload and consulted by :func:`pack_routes_middleware`, the last
middleware.
"""
from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from ..registry import Registry

log = logging.getLogger("nodeflow.server")
EDITOR_CATCH_ALL = "/{path}"  # the editor's static files: pack routes come before it


class PackRoutes:
    """The pack routes in effect now."""

    def __init__(self) -> None:
        self.router = web.UrlDispatcher()
        self.broadcasting: tuple | None = None
        """(broadcast, server view) while this app is what ComfyUI packs message"""

    def rebuild(self, app: web.Application, registry: Registry) -> None:
        """Routes from the packs in ``registry`` replace the previous ones."""
        taken = {(r.method, r.resource.canonical) for r in app.router.routes()
                 if r.resource is not None and r.resource.canonical != EDITOR_CATCH_ALL}
        router = web.UrlDispatcher()
        for pack in registry.packs.values():
            for route in pack.routes:
                if isinstance(route, web.RouteDef):
                    path = f"/packs/{pack.name}/{route.path.lstrip('/')}"
                    router.add_route(route.method, path, route.handler, **route.kwargs)
        for route in comfy_routes():
            if isinstance(route, web.StaticDef):
                if any(canonical == route.prefix for _, canonical in taken):
                    log.warning("ComfyUI pack static folder %s collides; skipped", route.prefix)
                else:
                    route.register(router)
                continue
            if (route.method, route.path) in taken or (route.method == "GET" and (
                    "HEAD", route.path) in taken):
                log.warning("ComfyUI pack route %s %s collides with a nodeflow route; skipped",
                            route.method, route.path)
                continue
            router.add_route(route.method, route.path, route.handler, **route.kwargs)
        self.router = router
        if not self.broadcasting and _prompt_server() is not None:
            # a ComfyUI pack is loaded: send_sync reaches clients
            self.broadcasting = _broadcast_to_clients(app)

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo | None:
        if not len(self.router.resources()):
            return None
        match = await self.router.resolve(request)
        return None if match.http_exception is not None else match


PACK_ROUTES = web.AppKey("pack_routes", PackRoutes)


def _prompt_server():
    server = sys.modules.get("server")
    if not getattr(server, "__nodeflow_shim__", False):
        return None
    return getattr(server, "PromptServer", None)


def comfy_routes() -> list:
    """ComfyUI pack routes and static folders, the last registration of each winning."""
    prompt_server = _prompt_server()
    if prompt_server is None:
        return []
    instance = prompt_server.instance
    recorded = list(getattr(getattr(instance, "app", None), "defs", []))  # added through .app
    latest = {}
    for route in [*instance.routes, *recorded]:
        if isinstance(route, web.RouteDef):
            latest[(route.method, route.path)] = route
        elif isinstance(route, web.StaticDef):
            latest[("static", route.prefix)] = route
    return list(latest.values())


def forget_comfy_routes() -> None:
    """Before packs load again: the routes they register then are the only ones kept (a
    route a pack no longer registers disappears)."""
    prompt_server = _prompt_server()
    if prompt_server is not None:
        prompt_server.instance.routes = web.RouteTableDef()
        pack_app = getattr(prompt_server.instance, "app", None)
        if pack_app is not None:
            pack_app.defs.clear()  # the router records into this same list


@web.middleware
async def pack_routes_middleware(request: web.Request, handler) -> web.StreamResponse:
    routes = request.app.get(PACK_ROUTES)
    match = await routes.resolve(request) if routes is not None else None
    if match is None:
        return await handler(request)
    match.add_app(request.app)
    match.freeze()
    request._match_info = match  # what aiohttp's own dispatch sets; handlers read match_info
    request._cache.pop("match_info", None)  # the property caches the app router's miss
    return await match.handler(request)


def mount_pack_routes(app: web.Application) -> None:
    """Serve the packs' routes (and let ComfyUI packs message clients outside a node). The
    startup and cleanup hooks ComfyUI packs gave their app run with the server's; those of a
    pack first loaded by a --dev reload wait for the next start."""
    app[PACK_ROUTES] = PackRoutes()
    app.on_startup.append(_first_build)
    app.on_cleanup.append(_stop_broadcasting)
    prompt_server = _prompt_server()
    pack_app = getattr(getattr(prompt_server, "instance", None), "app", None)
    for hooks in ("on_startup", "on_shutdown", "on_cleanup", "cleanup_ctx"):
        getattr(app, hooks).extend(getattr(pack_app, hooks, []))


async def _first_build(app: web.Application) -> None:
    from .state import REGISTRY

    app[PACK_ROUTES].rebuild(app, app[REGISTRY])  # once every nodeflow route is known


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


def _broadcast_to_clients(app: web.Application) -> tuple:
    from ..comfy_compat import runtime
    from .state import HUB

    loop, hub = asyncio.get_running_loop(), app[HUB]

    def broadcast(event: str, data, sid: str | None = None) -> None:
        loop.call_soon_threadsafe(hub.post, event, data, sid)
    view = _ServerView(app)
    runtime.BROADCAST.append(broadcast)
    runtime.SERVER.append(view)
    return broadcast, view


async def _stop_broadcasting(app: web.Application) -> None:
    """A stopped app no longer receives pack messages (the one started before it, if any, does
    again), and the module-level lists do not grow with every app a process makes."""
    from ..comfy_compat import runtime

    registered = app[PACK_ROUTES].broadcasting
    if registered:
        runtime.BROADCAST.remove(registered[0])
        runtime.SERVER.remove(registered[1])
        app[PACK_ROUTES].broadcasting = None
