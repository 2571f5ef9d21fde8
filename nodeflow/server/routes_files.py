"""Images in and out: /view serves files from output/, input/ or temp/; /upload/image puts
an image into input/ (or temp/, output/). Both stay inside their folder."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from ..settings import Settings
from .errors import ApiError
from .files import PathRejected, confined, view_response
from .routing import Param, RouteTable
from .state import CONFIG, SETTINGS
from .uploads import check_image, read_upload, store_upload, upload_target

routes = RouteTable("files")

FOLDER_TYPES = ("output", "input", "temp")
_ANNOTATED = re.compile(r"^(.*) \[(output|input|temp)\]$")


def folder_of(settings: Settings, kind: str) -> Path:
    if kind not in FOLDER_TYPES:
        raise ApiError(400, f"type must be one of {', '.join(FOLDER_TYPES)}, not {kind!r}")
    return {"output": settings.output_dir, "input": settings.input_dir,
            "temp": settings.temp_dir}[kind]


@routes.get("/view", "A file from output/, input/ or temp/, with its real content type",
            query=(Param("filename", "the file's name ('name.png [input]' also selects the "
                                     "folder, as in ComfyUI)", required=True),
                   Param("type", "output (default), input or temp"),
                   Param("subfolder", "a folder inside that one")),
            responses={200: ("The file", None), 400: ("A name that leaves its folder", "Error"),
                       404: ("No such file", "Error")})
async def view(request: web.Request) -> web.StreamResponse:
    filename = request.query.get("filename")
    if not filename:
        raise ApiError(400, "filename is required")
    kind = request.query.get("type") or "output"
    annotated = _ANNOTATED.match(filename)
    if annotated:
        filename, kind = annotated.group(1), annotated.group(2)
    root = folder_of(request.app[SETTINGS], kind)
    try:
        path = confined(root, request.query.get("subfolder", ""), filename, what="filename",
                        backslash=True)
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    if not path.is_file():
        raise ApiError(404, f"no file {filename!r} in {kind}", "not_found")
    return view_response(path)


@routes.post("/upload/image", "Upload an image (multipart field 'image'; optional 'type', "
             "'subfolder', 'overwrite')", body="multipart",
             responses={200: ("Where it was stored", "Uploaded"),
                        400: ("Not an image, or a name that leaves its folder", "Error"),
                        413: ("Larger than the byte or pixel limit", "Error")})
async def upload_image(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    upload = await read_upload(request, "image", config.max_upload_bytes)
    kind = upload.fields.get("type") or "input"
    root = folder_of(request.app[SETTINGS], kind)
    subfolder = upload.fields.get("subfolder", "")
    overwrite = upload.fields.get("overwrite", "").lower() in ("true", "1")

    def check_and_store() -> str:
        upload_target(root, subfolder, upload.filename)
        check_image(upload.data, config.max_upload_pixels)
        return store_upload(root, subfolder, upload.filename, upload.data, overwrite)

    try:
        name = await asyncio.to_thread(check_and_store)
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})
