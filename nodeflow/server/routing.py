"""Route tables that carry their own documentation.

Each routes_*.py module fills one :class:`RouteTable`; the app registers every route at its
path and again under ``/api`` (as ComfyUI does), and openapi.py documents the same list, so
the OpenAPI document cannot miss a route.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    required: bool = False
    type: str = "string"


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    query: tuple[Param, ...] = ()
    body: str | None = None
    """The request body's schema (a name in openapi.SCHEMAS) or "multipart"."""
    responses: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    """status -> (description, schema name or None)."""
    api: bool = True
    """Also served under /api."""


class RouteTable:
    def __init__(self, tag: str):
        self.tag = tag
        self.routes: list[ApiRoute] = []

    def route(self, method: str, path: str, summary: str, *, query: tuple[Param, ...] = (),
              body: str | None = None,
              responses: dict[int, tuple[str, str | None]] | None = None,
              api: bool = True) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(ApiRoute(method, path, handler, summary, self.tag, query, body,
                                        responses or {200: ("OK", None)}, api))
            return handler
        return register

    def get(self, path: str, summary: str, **kwargs) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary, **kwargs)

    def post(self, path: str, summary: str, **kwargs) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary, **kwargs)

    def put(self, path: str, summary: str, **kwargs) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary, **kwargs)

    def delete(self, path: str, summary: str, **kwargs) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary, **kwargs)


def add_routes(app: web.Application, tables: list[RouteTable]) -> None:
    """Register every route (``/api`` variants first, so a catch-all never shadows them)."""
    routes = [r for table in tables for r in table.routes]
    for prefix in ("/api", ""):
        for route in routes:
            if prefix and not route.api:
                continue
            if route.method == "GET":
                app.router.add_get(prefix + route.path, route.handler)
            else:
                app.router.add_route(route.method, prefix + route.path, route.handler)
