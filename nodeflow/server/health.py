"""Whether the server can do its job right now, for /system_stats and the readiness route.

Answering HTTP is not enough: the server is ready only while its worker is alive and not
stuck waiting on storage, the queue database takes writes, and the base folder has room.
Each problem is a sentence a person can act on.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from .faults import disk_full
from .state import CONFIG, HUB, SETTINGS, STORE, WORKER

PROBE_TIMEOUT_S = 1.0


async def health(app: web.Application, *, probe: bool = False) -> dict[str, Any]:
    """{"ready", "problems", "worker", "database", "disk"}. ``probe`` also tries to start a
    write (without waiting for another process's lock)."""
    problems: list[str] = []
    worker = app[WORKER].health() if WORKER in app else {"state": "starting", "alive": False}
    if not worker["alive"]:
        problems.append(f"the worker is not running (state: {worker['state']})")
    elif worker["state"] in ("waiting", "restarting"):
        problems.append(worker["last_error"] or f"the worker is {worker['state']}")
    database = await _database(app, probe)
    if database["fault"] and database["message"] not in problems:
        problems.append(database["message"])
    disk = _disk(app)
    if not disk["ok"]:
        problems.append(disk["message"])
    hub = app[HUB]
    return {"ready": not problems, "problems": problems, "worker": worker,
            "database": database, "disk": disk,
            "websocket": {"clients": len(hub), "dropped": hub.dropped}}


async def _database(app: web.Application, probe: bool) -> dict[str, Any]:
    if STORE not in app:
        return {"fault": "starting", "message": "the queue database is not open yet"}
    store = app[STORE]
    fault = store.fault
    if probe:
        try:
            fault = await asyncio.wait_for(store.probe(), PROBE_TIMEOUT_S) or fault
        except asyncio.TimeoutError:
            return {"fault": "database_busy", "message": "the queue database did not answer "
                                                         f"within {PROBE_TIMEOUT_S:.0f} s"}
    return {"fault": fault.kind if fault else None, "message": fault.message if fault else None}


def _disk(app: web.Application) -> dict[str, Any]:
    base = app[SETTINGS].base_dir
    minimum = app[CONFIG].min_free_disk_bytes
    try:
        stat = os.statvfs(base)
    except OSError as exc:
        return {"ok": False, "free_bytes": None, "message": f"cannot check {base}: {exc}"}
    free = stat.f_bavail * stat.f_frsize
    ok = free >= minimum
    return {"ok": ok, "free_bytes": free, "message": None if ok else disk_full(base).message}
