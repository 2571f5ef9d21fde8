"""Paths confined to their folder, and files served with their real content type.

Every name a client sends (a /view filename, an upload's name and subfolder, a saved
workflow's name, a static file) goes through :func:`confined`: no NUL bytes, no backslashes,
no absolute paths, no ``..``, and after resolving symlinks the path must still lie inside
the folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

_DRIVE = re.compile(r"^[A-Za-z]:")
BACKSLASH_IS_A_CHARACTER = os.sep == "/" and os.altsep is None

# What /view shows inline. Anything else (html, svg, scripts) is sent as a download, so a file
# that lands in output/ can never run as a page of this origin.
VIEW_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".mp4": "video/mp4", ".webm": "video/webm", ".wav": "audio/wav", ".mp3": "audio/mpeg",
    ".flac": "audio/flac", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
}
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

# The editor's own files: a fixed table, so .js is text/javascript whatever the OS says.
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".ico": "image/x-icon", ".woff": "font/woff", ".woff2": "font/woff2",
    ".ttf": "font/ttf", ".wasm": "application/wasm", ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8", "": "text/plain; charset=utf-8",
}
OCTET_STREAM = "application/octet-stream"


class PathRejected(ValueError):
    """A client-given name that would leave its folder (or is not a usable name)."""


def check_name(part: str, what: str = "name", *, backslash: bool = False) -> list[str]:
    """The path segments of one client-given relative name; raises :class:`PathRejected`.

    ``backslash``: accept it as an ordinary character where it is one (POSIX), so a file a
    node saved with one in its name can be read back; names we create never get one."""
    if not isinstance(part, str):
        raise PathRejected(f"{what} must be a string")
    if "\0" in part:
        raise PathRejected(f"{what} contains a NUL byte")
    if "\\" in part and not (backslash and BACKSLASH_IS_A_CHARACTER):
        raise PathRejected(f"{what} contains a backslash")
    if "\\" in part and ".." in part.replace("/", "\\").split("\\"):
        raise PathRejected(f"{what} must not contain '..'")  # a traversal on Windows
    if part.startswith("/") or _DRIVE.match(part):
        raise PathRejected(f"{what} must be relative, not an absolute path")
    segments = [s for s in part.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise PathRejected(f"{what} must not contain '..'")
    return segments


def confined(root: Path, *parts: str, what: str = "name", backslash: bool = False) -> Path:
    """``root`` joined with ``parts``, resolved, and guaranteed to lie inside ``root``."""
    segments = [s for part in parts for s in check_name(part, what, backslash=backslash)]
    real_root = root.resolve()
    real = real_root.joinpath(*segments).resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise PathRejected(f"{what} points outside its folder")
    return real


def view_response(path: Path) -> web.FileResponse:
    """A file for /view: inline when its type is a safe one, else as a download."""
    content_type = VIEW_TYPES.get(path.suffix.lower())
    disposition = "inline" if content_type else "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": content_type or OCTET_STREAM,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(path.name, safe='')}"})


def static_response(path: Path) -> web.FileResponse:
    content_type = STATIC_TYPES.get(path.suffix.lower(), OCTET_STREAM)
    return web.FileResponse(path, headers={"Content-Type": content_type,
                                           "Cache-Control": "no-cache"})
