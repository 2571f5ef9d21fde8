"""``server.PromptServer.instance`` for ComfyUI packs.

Packs register HTTP routes at import time, before any server exists, through ``.routes`` (a
RouteTableDef) or ``.app`` (``app.add_routes``, ``app.router.add_get``/``add_static``, startup
hooks). :class:`PackApp` records all of it, and ``nodeflow serve`` mounts it on its own app behind
its Host/Origin/token rules (nodeflow/server/routes_packs.py). Middlewares are refused: a pack
must not sit in front of every request. ``client_id``, ``last_node_id``, ``last_prompt_id`` and
``prompt_queue`` read the running prompt and the server's queue (read only).
"""
from __future__ import annotations

from typing import Any

from . import runtime
from .missing import Missing, MissingComfyAPI, missing_attribute

_METHODS = ("get", "post", "put", "patch", "delete", "head")


class _Router:
    """``app.router``: each ``add_*`` records a route definition for the server to mount."""

    def __init__(self, defs: list):
        self._defs = defs

    def add_route(self, method: str, path: str, handler: Any, **kwargs: Any) -> None:
        from aiohttp import web

        self._defs.append(web.RouteDef(method.upper(), path, handler, kwargs))

    def add_static(self, prefix: str, path: Any, **kwargs: Any) -> None:
        from aiohttp import web

        self._defs.append(web.static(prefix, path, **kwargs))

    def add_view(self, path: str, handler: Any, **kwargs: Any) -> None:
        self.add_route("*", path, handler, **kwargs)

    def routes(self) -> list:
        return list(self._defs)

    def __getattr__(self, name: str) -> Any:
        method = name[len("add_"):] if name.startswith("add_") else ""
        if method in _METHODS:
            return lambda path, handler, **kw: self.add_route(method, path, handler, **kw)
        return missing_attribute("server.PromptServer.instance.app.router", name)


class PackApp:
    """``PromptServer.instance.app``: what packs add to ComfyUI's aiohttp app, recorded."""

    def __init__(self) -> None:
        self.defs: list = []
        """Route and static definitions, in the order packs added them."""
        self.router = _Router(self.defs)
        self.on_startup: list = []
        self.on_shutdown: list = []
        self.on_cleanup: list = []
        self.cleanup_ctx: list = []
        self.frozen = False
        self._state: dict[Any, Any] = {}

    def add_routes(self, routes: Any) -> list:
        self.defs.extend(routes)
        return []

    def __getitem__(self, key: Any) -> Any:
        return self._state[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._state[key] = value

    def __contains__(self, key: Any) -> bool:
        return key in self._state

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)

    @property
    def middlewares(self) -> Missing:
        return missing_attribute("server.PromptServer.instance.app", "middlewares")

    def __getattr__(self, name: str) -> Any:
        return missing_attribute("server.PromptServer.instance.app", name)


class PromptQueueView:
    """``PromptServer.instance.prompt_queue``, read only: ComfyUI's queue entries
    ``[number, prompt_id, prompt, extra_data, outputs]`` of the running and pending prompts."""

    def get_current_queue(self) -> tuple[list, list]:
        server = runtime.server()
        return server.queue() if server is not None else ([], [])

    get_current_queue_volatile = get_current_queue

    def get_tasks_remaining(self) -> int:
        running, pending = self.get_current_queue()
        return len(running) + len(pending)

    @property
    def currently_running(self) -> dict[int, list]:
        return dict(enumerate(self.get_current_queue()[0]))

    def __getattr__(self, name: str) -> Any:
        return missing_attribute("server.PromptServer.instance.prompt_queue", name)


class PromptServer:
    """``server.PromptServer``: routes, the app, messages (``send_sync``) and what is running."""

    instance: "PromptServer"

    def __init__(self) -> None:
        from aiohttp import web

        self.routes = web.RouteTableDef()
        self.app = PackApp()
        self.prompt_queue = PromptQueueView()
        self.supports = ["custom_nodes_from_web"]
        self.sockets: dict = {}

    @property
    def client_id(self) -> str | None:
        """The client that queued the running prompt (None outside a server run)."""
        server = runtime.server()
        current = server.current() if server is not None else None
        return current[1] if current else None

    @property
    def last_node_id(self) -> str | None:
        ctx = runtime.current_ctx()
        return ctx.node_id if ctx is not None else None

    @property
    def last_prompt_id(self) -> str | None:
        ctx = runtime.current_ctx()
        if ctx is not None:
            return ctx.run_id
        server = runtime.server()
        current = server.current() if server is not None else None
        return current[0] if current else None

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        runtime.send(event, data, sid)

    async def send(self, event: str, data: Any, sid: str | None = None) -> None:
        runtime.send(event, data, sid)

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        runtime.send(event, data, sid)

    def add_on_prompt_handler(self, handler: Any) -> None:
        raise MissingComfyAPI("server.PromptServer.add_on_prompt_handler")

    def __getattr__(self, name: str) -> Any:
        return missing_attribute("server.PromptServer.instance", name)
