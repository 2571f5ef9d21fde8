"""The example workflows that ship with nodeflow (the repository's workflows/ folder), for the
editor's first visit and its workflows panel. Read-only; names confined to the folder."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from ..paths import shipped_dir
from .errors import ApiError
from .files import PathRejected, confined
from .routing import RouteTable

routes = RouteTable("workflows")


def _names(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.glob("*.json") if p.is_file())


@routes.get("/examples", "The example workflows shipped with nodeflow",
            responses={200: ('{"examples": [file names]}', None)})
async def list_examples(request: web.Request) -> web.Response:
    return web.json_response({"examples": await asyncio.to_thread(_names, shipped_dir("workflows"))})


@routes.get("/examples/{name:.+}", "One example workflow file, as it ships",
            responses={200: ("The workflow", "Workflow"), 404: ("No such example", "Error")})
async def get_example(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        path = confined(shipped_dir("workflows"), name, what="name")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    if path.suffix != ".json" or not path.is_file():
        raise ApiError(404, f"no example named {name!r}", "not_found")
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    return web.Response(text=text, content_type="application/json")
