"""Editor extensions shipped by node packs: ES modules the editor imports at start.

A pack with a ``web/`` folder (or ``WEB_DIRECTORY``) lists its top-level ``.js`` files here;
each is served from ``/extensions/<pack>/<file>``, confined to that folder. The editor imports
every listed module and calls its ``setup(nodeflow)`` (see docs/custom-nodes.md).
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .errors import ApiError
from .files import PathRejected, confined, static_response
from .routing import RouteTable
from .state import REGISTRY

routes = RouteTable("nodes")


def extension_urls(registry) -> list[str]:
    urls = []
    for pack in sorted(registry.packs.values(), key=lambda p: p.name):
        if pack.web_dir and Path(pack.web_dir).is_dir():
            root = Path(pack.web_dir)
            pattern = "**/*.js" if pack.kind == "comfyui" else "*.js"  # ComfyUI loads all
            urls += [f"/extensions/{pack.name}/{p.relative_to(root).as_posix()}"
                     for p in sorted(root.glob(pattern)) if p.is_file()]
    return urls


def comfy_extension_urls(registry) -> list[str]:
    """The URLs of ComfyUI packs' scripts (they register with ComfyUI's ``app`` once)."""
    comfy = {p.name for p in registry.packs.values() if p.kind == "comfyui"}
    return [url for url in extension_urls(registry) if url.split("/")[2] in comfy]


@routes.get("/nodeflow/extensions", "The editor extensions (ES modules) of the installed packs",
            responses={200: ('{"extensions": [module URLs], "comfyui": [those of ComfyUI '
                             'packs]}', None)})
async def list_extensions(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    urls = await asyncio.to_thread(extension_urls, registry)
    comfy = await asyncio.to_thread(comfy_extension_urls, registry)
    return web.json_response({"extensions": urls, "comfyui": comfy})


@routes.get("/extensions/{pack}/{path:.+}", "A file of a pack's editor extension",
            responses={200: ("The file", None), 404: ("No such file", "Error")})
async def get_extension_file(request: web.Request) -> web.StreamResponse:
    pack = request.app[REGISTRY].packs.get(request.match_info["pack"])
    if pack is None or not pack.web_dir:
        raise ApiError(404, "no such extension", "not_found")
    try:
        path = confined(Path(pack.web_dir), request.match_info["path"], what="path")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    if not path.is_file():
        raise ApiError(404, "no such extension file", "not_found")
    return static_response(path)
