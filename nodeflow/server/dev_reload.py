"""``nodeflow serve --dev``: reload custom node packs when their files change.

A background task polls the modification times of the .py files under custom_nodes/ (no extra
dependency, fine for a folder of sources). On a change it loads every pack again in a thread,
and once no prompt is running swaps the new definitions into the shared registry, empties the
result cache (the code behind a cached result may have changed) and tells every editor with a
``nodeflow.nodes_changed`` websocket message so it fetches /object_info again.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from ..plugins import load_registry
from .state import CONFIG, HUB, REGISTRY, SETTINGS, WORKER

log = logging.getLogger("nodeflow.server")
NODES_CHANGED = "nodeflow.nodes_changed"


def snapshot(folder: Path) -> dict[str, int]:
    """Modification time of every Python file in ``folder``, by path."""
    if not folder.is_dir():
        return {}
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts}


async def reload_packs(app: web.Application) -> None:
    """Load every pack again and swap it in between prompts."""
    settings = app[SETTINGS]
    fresh = await asyncio.to_thread(load_registry, settings, reload_custom=True)
    worker = app[WORKER]
    while worker.current is not None:  # never change node definitions under a running prompt
        await asyncio.sleep(0.1)
    app[REGISTRY].replace_with(fresh)
    worker.executor.cache.clear()
    failures = app[REGISTRY].failures_json()
    log.info("custom nodes reloaded (%d node types, %d pack failures)",
             len(app[REGISTRY].nodes), len(failures))
    app[HUB].post(NODES_CHANGED, {"failures": failures})


async def watch_custom_nodes(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx entry: the watcher task runs only with ``--dev``."""
    if not app[CONFIG].dev:
        yield
        return
    folder = app[SETTINGS].custom_nodes_dir

    async def loop() -> None:
        seen = snapshot(folder)
        while True:
            await asyncio.sleep(app[CONFIG].reload_interval_s)
            now = snapshot(folder)
            if now != seen:
                seen = now
                try:
                    await reload_packs(app)
                except Exception:  # a reload bug must not stop the server
                    log.exception("reloading custom nodes failed")

    task = asyncio.create_task(loop(), name="nodeflow-dev-reload")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
