"""About the server: /system_stats (ComfyUI's shape), model lists, the OpenAPI document.

None of these imports torch: device details are reported once a run has loaded it.
"""
from __future__ import annotations

import asyncio
import importlib.metadata
import os
import sys
from typing import Any

from aiohttp import web

from .. import __version__
from ..diffusion.checkpoint_paths import KINDS
from .errors import ApiError
from .health import health
from .routing import RouteTable
from .state import SETTINGS

routes = RouteTable("system")
MODEL_KINDS = tuple(k for k in KINDS if k != "custom_nodes")


@routes.get("/system_stats", "The system and compute devices",
            responses={200: ("System and devices", "SystemStats")})
async def system_stats(request: web.Request) -> web.Response:
    total, free = _ram()
    torch = _loaded_torch()
    return web.json_response({
        "system": {
            "os": os.name,
            "ram_total": total,
            "ram_free": free,
            "comfyui_version": f"nodeflow-{__version__}",
            "nodeflow_version": __version__,
            "python_version": sys.version,
            "pytorch_version": _torch_version(),
            "pytorch_loaded": torch is not None,
            "embedded_python": False,
            "argv": _argv(),
        },
        "devices": _devices(torch),
        "nodeflow": await health(request.app),
    })


@routes.get("/ready", "Readiness: 200 while the worker runs and the queue database and the "
            "disk take writes; 503 with the reasons otherwise",
            responses={200: ("Ready", "Health"), 503: ("Not ready, and why", "Health")})
async def ready(request: web.Request) -> web.Response:
    state = await health(request.app, probe=True)
    return web.json_response(state, status=200 if state["ready"] else 503)


def _loaded_torch() -> Any:
    """torch once its import has finished: while a run is importing it, sys.modules already
    holds a half-initialised module whose attributes are missing."""
    torch = sys.modules.get("torch")
    spec = getattr(torch, "__spec__", None)
    if torch is None or getattr(spec, "_initializing", False):
        return None
    if not callable(getattr(getattr(torch, "cuda", None), "is_initialized", None)):
        return None
    return torch


def _argv() -> list[str]:
    """The command line, without the access token's value."""
    argv = list(sys.argv)
    for i, arg in enumerate(argv):
        if arg == "--token" and i + 1 < len(argv):
            argv[i + 1] = "***"
        elif arg.startswith("--token="):
            argv[i] = "--token=***"
    return argv


def _ram() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0


def _torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def _devices(torch: Any) -> list[dict]:
    """CUDA devices once torch has initialised CUDA (never initialised from here)."""
    if torch is not None and torch.cuda.is_initialized():
        devices = []
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            devices.append({"name": torch.cuda.get_device_name(index), "type": "cuda",
                            "index": index, "vram_total": total, "vram_free": free,
                            "torch_vram_total": torch.cuda.memory_reserved(index),
                            "torch_vram_free": torch.cuda.memory_reserved(index)
                            - torch.cuda.memory_allocated(index)})
        return devices
    return [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0, "vram_free": 0,
             "torch_vram_total": 0, "torch_vram_free": 0}]


@routes.get("/models", "The model kinds", responses={200: ("Kinds", "NameList")})
async def model_kinds(request: web.Request) -> web.Response:
    return web.json_response(list(MODEL_KINDS))


@routes.get("/models/{kind}", "The models of one kind (names as nodes take them)",
            responses={200: ("Model names", "NameList"), 404: ("Unknown kind", "Error")})
async def models(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind not in MODEL_KINDS:
        raise ApiError(404, f"unknown model kind {kind!r}; kinds are "
                            f"{', '.join(MODEL_KINDS)}", "not_found")
    from ..diffusion.checkpoint_errors import CheckpointError
    from ..diffusion.checkpoint_paths import available_models

    base = request.app[SETTINGS].base_dir
    try:
        names = await asyncio.to_thread(available_models, base, kind)
    except CheckpointError as exc:
        raise ApiError(500, str(exc), "model_folders") from None
    return web.json_response([str(n) for n in names])


@routes.get("/openapi.json", "This document", responses={200: ("OpenAPI 3.1", None)})
async def openapi(request: web.Request) -> web.Response:
    from .app import ROUTE_TABLES
    from .openapi import openapi_document

    return web.json_response(openapi_document(ROUTE_TABLES, __version__))
