"""The editor: web/index.html at /, and the files under web/ with fixed content types.

When web/ has no index.html (a checkout without the editor yet) / answers 404 with a short
page that says so and points at the API.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..paths import shipped_dir
from .errors import ApiError
from .files import PathRejected, confined, static_response
from .routing import RouteTable
from .state import CONFIG

routes = RouteTable("editor")

MISSING_EDITOR = """<!doctype html>
<html><head><meta charset="utf-8"><title>nodeflow</title></head>
<body><h1>nodeflow</h1>
<p>The editor's files (web/index.html) are not installed, so there is nothing to show here.
The API works: see <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


def web_dir(app: web.Application) -> Path:
    return app[CONFIG].web_dir or shipped_dir("web")


@routes.get("/", "The editor", responses={200: ("index.html", None),
                                          404: ("The editor is not installed", None)},
            api=False)
async def index(request: web.Request) -> web.StreamResponse:
    path = web_dir(request.app) / "index.html"
    if not path.is_file():
        return web.Response(status=404, text=MISSING_EDITOR, content_type="text/html",
                            charset="utf-8")
    return static_response(path)


@routes.get("/{path:.+}", "The editor's static files", api=False,
            responses={200: ("The file", None), 404: ("No such file", "Error")})
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    try:
        path = confined(web_dir(request.app), name, what="path")
    except PathRejected:
        raise ApiError(404, "not found", "not_found") from None
    if not path.is_file():
        raise ApiError(404, "not found", "not_found")
    return static_response(path)
