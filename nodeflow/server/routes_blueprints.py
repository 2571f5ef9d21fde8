"""ComfyUI's global subgraphs (subgraph blueprints): the ``subgraphs/*.json`` files that node
packs ship, offered in the frontend's node library (frontend 1.30 and later ask for them at
every start). The list names them; one is fetched with its text when the user places it.

An id is a hash of the pack and the file name, so it stays the same across restarts and says
nothing about the server's folders.
"""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from aiohttp import web

from .errors import ApiError
from .state import REGISTRY
from .routing import RouteTable

routes = RouteTable("comfyui")
SOURCE = "custom_node"


def pack_folder(origin: str) -> Path | None:
    """The folder of a pack that is a folder (a single-file pack has no subgraphs/)."""
    path = Path(origin)
    if path.is_dir():
        return path
    if path.name == "__init__.py":
        return path.parent
    return None


def blueprints(registry) -> dict[str, tuple[dict, Path]]:
    """id -> (the listed entry, its file) for every pack's subgraphs/*.json."""
    found: dict[str, tuple[dict, Path]] = {}
    for pack in sorted(registry.packs.values(), key=lambda p: p.name):
        folder = pack_folder(pack.origin)
        if folder is None or not (folder / "subgraphs").is_dir():
            continue
        root = (folder / "subgraphs").resolve()
        for path in sorted(root.glob("*.json")):
            if not path.is_file() or not path.resolve().is_relative_to(root):
                continue
            key = hashlib.sha256(f"{SOURCE}:{pack.name}/{path.name}".encode()).hexdigest()
            entry = {"source": SOURCE, "name": path.stem,
                     "info": {"node_pack": f"custom_nodes.{pack.name}"}}
            found[key] = (entry, path)
    return found


@routes.get("/global_subgraphs", "The subgraph blueprints that node packs ship (their "
            "subgraphs/*.json), by id", responses={200: ("id -> {source, name, info}", None)})
async def list_blueprints(request: web.Request) -> web.Response:
    found = await asyncio.to_thread(blueprints, request.app[REGISTRY])
    return web.json_response({key: entry for key, (entry, _) in found.items()})


@routes.get("/global_subgraphs/{id}", "One subgraph blueprint with its file's text (data)",
            responses={200: ("{source, name, info, data}", None),
                       404: ("No such blueprint", "Error")})
async def get_blueprint(request: web.Request) -> web.Response:
    key = request.match_info["id"]

    def read() -> dict | None:
        found = blueprints(request.app[REGISTRY]).get(key)
        if found is None:
            return None
        entry, path = found
        return {**entry, "data": path.read_text(encoding="utf-8")}

    blueprint = await asyncio.to_thread(read)
    if blueprint is None:
        raise ApiError(404, f"no subgraph blueprint {key!r}", "not_found")
    return web.json_response(blueprint)
