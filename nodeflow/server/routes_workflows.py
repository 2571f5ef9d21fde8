"""The user's saved workflows, as files under ``<base>/workflows/`` (subfolders allowed), and
the conversion of files dropped on the editor.

A name is a relative path; ".json" is added when missing. PUT takes a nodeflow workflow
(unknown node types are kept as placeholders, as the format allows), stamps what it requires
(nodeflow's version, the node packs and node versions) and writes it in nodeflow's stable
layout. POST /nodeflow/import turns a ComfyUI workflow (API or editor format), a PNG carrying
one, or a nodeflow file, into a nodeflow workflow with the problems and notes met on the way.
"""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

from aiohttp import web

from ..errors import WorkflowError
from ..requires import with_requirements
from ..workflow import dump_workflow, parse_workflow
from .bodies import read_json
from .errors import ApiError
from .files import PathRejected, confined
from .routing import RouteTable
from .state import REGISTRY, SETTINGS

routes = RouteTable("workflows")


def _path(request: web.Request) -> tuple[str, Path]:
    name = request.match_info["name"]
    if not name.endswith(".json"):
        name += ".json"
    try:
        return name, confined(request.app[SETTINGS].workflows_dir, name, what="name")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None


@routes.get("/workflows", "The names of the saved workflows",
            responses={200: ("Names, relative to the workflows folder", "WorkflowList")})
async def list_workflows(request: web.Request) -> web.Response:
    root = request.app[SETTINGS].workflows_dir
    return web.json_response({"workflows": await asyncio.to_thread(_list, root)})


def _list(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    real_root = root.resolve()
    names = []
    for dirpath, dirnames, filenames in os.walk(real_root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            path = Path(dirpath, filename)
            if filename.endswith(".json") and not filename.startswith(".") and \
                    path.resolve().is_relative_to(real_root):
                names.append(path.relative_to(real_root).as_posix())
    return sorted(names)


@routes.get("/workflows/{name:.+}", "A saved workflow",
            responses={200: ("The workflow file", "Workflow"),
                       400: ("A name that leaves the folder", "Error"),
                       404: ("No such workflow", "Error")})
async def get_workflow(request: web.Request) -> web.StreamResponse:
    name, path = _path(request)
    if not path.is_file():
        raise ApiError(404, f"no saved workflow {name!r}", "not_found")
    return web.FileResponse(path, headers={"Content-Type": "application/json"})


@routes.put("/workflows/{name:.+}", "Save a workflow (creates or replaces it)",
            body="Workflow",
            responses={200: ("Replaced", "Saved"), 201: ("Created", "Saved"),
                       400: ("Not a nodeflow workflow, or a name that leaves the folder",
                             "Error")})
async def put_workflow(request: web.Request) -> web.Response:
    name, path = _path(request)
    data = await read_json(request)
    try:
        text = dump_workflow(with_requirements(parse_workflow(data), request.app[REGISTRY]))
    except WorkflowError as exc:
        raise ApiError(400, "not a nodeflow workflow: " + "; ".join(map(str, exc.problems)),
                       "invalid_workflow",
                       problems=[p.to_json() for p in exc.problems]) from None
    created = not path.exists()
    await asyncio.to_thread(_write, path, text)
    return web.json_response({"name": name}, status=201 if created else 200)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


@routes.delete("/workflows/{name:.+}", "Delete a saved workflow",
               responses={200: ("Deleted", "Saved"), 404: ("No such workflow", "Error"),
                          400: ("A name that leaves the folder", "Error")})
async def delete_workflow(request: web.Request) -> web.Response:
    name, path = _path(request)
    if not path.is_file():
        raise ApiError(404, f"no saved workflow {name!r}", "not_found")
    path.unlink()
    return web.json_response({"name": name})


@routes.post("/nodeflow/import", "Convert a dropped file into a nodeflow workflow: a ComfyUI "
             "workflow (API or editor format, as JSON or {\"data\": <JSON>}), a PNG carrying "
             "one (raw bytes), or a nodeflow workflow",
             responses={200: (("The workflow, what could not be converted (problems), models "
                               "that are not installed (warnings) and notes"), None),
                        400: ("Not a workflow in any known format", "Error"),
                        413: ("Too large", "Error")})
async def import_file(request: web.Request) -> web.Response:
    from ..comfy.convert import import_workflow

    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {request.client_max_size} bytes",
                       "too_large") from None
    source = _unwrapped(body)
    registry, settings = request.app[REGISTRY], request.app[SETTINGS]
    try:
        imported = await asyncio.to_thread(import_workflow, source, registry, settings)
    except WorkflowError as exc:
        raise ApiError(400, "; ".join(map(str, exc.problems)), "invalid_workflow",
                       problems=[p.to_json() for p in exc.problems]) from None
    return web.json_response(imported.to_json())


def _unwrapped(body: bytes) -> bytes | object:
    """``{"data": <JSON>}`` gives its data; anything else is the file itself."""
    if body.lstrip()[:1] != b"{":
        return body
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body  # the importer words the error
    if isinstance(parsed, dict) and set(parsed) == {"data"} and not (
            isinstance(parsed["data"], dict) and "class_type" in parsed["data"]):
        return parsed["data"]
    return parsed
