"""Node types: ComfyUI's /object_info, and nodeflow's own schema with pack load failures."""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..comfy.object_view import comfy_object_info
from .object_info import object_info
from .routing import RouteTable
from .state import CONFIG, REGISTRY, SETTINGS

routes = RouteTable("nodes")


@routes.get("/object_info", "Every node type in ComfyUI's shape (plus a \"nodeflow\" key "
            "with nodeflow's schema per node)", responses={200: ("Node types", "ObjectInfo")})
async def get_object_info(request: web.Request) -> web.Response:
    info = await asyncio.to_thread(_node_types, request.app)
    return web.json_response(info)


@routes.get("/object_info/{node_class}", "One node type ({} when it is not installed, "
            "as in ComfyUI)", responses={200: ("That node type, or {}", "ObjectInfo")})
async def get_object_info_node(request: web.Request) -> web.Response:
    name = request.match_info["node_class"]
    info = await asyncio.to_thread(_node_types, request.app)
    return web.json_response({name: info[name]} if name in info else {})


def _node_types(app: web.Application) -> dict[str, dict]:
    """nodeflow's names, or ComfyUI's with --frontend comfyui (comfy/object_view.py)."""
    if app[CONFIG].frontend == "comfyui":
        return comfy_object_info(app[REGISTRY], app[SETTINGS])
    return object_info(app[REGISTRY], app[SETTINGS])


@routes.get("/nodeflow/object_info", "nodeflow's node schemas, the packs, and the packs that "
            "failed to load", responses={200: ("Schemas, packs and errors", "NodeflowInfo")})
async def get_nodeflow_info(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    schemas = await asyncio.to_thread(registry.schemas, request.app[SETTINGS])
    return web.json_response({
        "nodes": schemas,
        "packs": [{"name": p.name, "version": p.version, "kind": p.kind, "origin": p.origin,
                   "nodes": p.node_types,
                   **({"import_output": p.import_output} if p.import_output else {})}
                  for p in registry.packs.values()],
        "errors": registry.failures_json(),
    })
