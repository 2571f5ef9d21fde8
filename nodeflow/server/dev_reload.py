"""``nodeflow serve --dev``: reload node packs when their files change.

Watched: every custom_nodes folder (a new pack appears there), and the source of every pack
that was loaded or failed to load from elsewhere: a pip pack's package folder, which for an
editable install is the tree being edited. Python files and the editor's files (.js, .css,
.html, .json) count, a ``web/`` folder that appears too. A background task polls modification
times (no extra dependency; fine for source folders).

On a change every pack loads again in a thread; once no prompt is running the new
definitions are swapped into the shared registry, the pack routes are rebuilt, the result
cache is emptied (the code behind a cached result may have changed) and every editor gets a
``nodeflow.nodes_changed`` websocket message: it fetches /object_info and its extensions again.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from aiohttp import web

from ..paths import shipped_dir
from ..plugins import custom_node_dirs, load_registry
from .routes_packs import PACK_ROUTES, forget_comfy_routes
from .state import CONFIG, HUB, REGISTRY, SETTINGS, WORKER

log = logging.getLogger("nodeflow.server")
NODES_CHANGED = "nodeflow.nodes_changed"
WATCHED_SUFFIXES = {".py", ".js", ".mjs", ".css", ".html", ".json"}
SKIPPED_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv", ".pytest_cache",
                ".mypy_cache", ".ruff_cache", "build", "dist"}


def watched_roots(app: web.Application) -> list[Path]:
    """The custom_nodes folders and every other pack's own file or folder (not the built-in
    packs, which change only with nodeflow)."""
    registry, settings = app[REGISTRY], app[SETTINGS]
    folders = custom_node_dirs(settings)
    builtin = shipped_dir("nodes")
    roots = list(folders)
    for source in sorted({*registry.sources.values(), *registry.node_sources.values()}):
        path = Path(source)
        if path.name == "__init__.py":
            path = path.parent
        if not path.exists() or path.is_relative_to(builtin) or any(
                path.is_relative_to(f) for f in folders) or path in roots:
            continue
        roots.append(path)
    return roots


def snapshot(roots: Iterable[Path]) -> dict[str, int]:
    """Modification time of every watched file under ``roots``, by path."""
    seen: dict[str, int] = {}
    for root in roots:
        if root.is_file():
            _stamp(seen, str(root))
            continue
        for folder, dirs, files in os.walk(root, followlinks=True):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
            for name in files:
                if os.path.splitext(name)[1] in WATCHED_SUFFIXES:
                    _stamp(seen, os.path.join(folder, name))
    return seen


def _stamp(seen: dict[str, int], path: str) -> None:
    try:
        seen[path] = os.stat(path).st_mtime_ns
    except OSError:  # deleted while we looked: the next poll sees it gone
        pass


async def reload_packs(app: web.Application) -> None:
    """Load every pack again and swap it in between prompts."""
    settings = app[SETTINGS]
    forget_comfy_routes()
    fresh = await asyncio.to_thread(load_registry, settings, reload_custom=True,
                                    reload_entry_points=True)
    worker = app[WORKER]
    while worker.current is not None:  # never change node definitions under a running prompt
        await asyncio.sleep(0.1)
    registry = app[REGISTRY]
    registry.replace_with(fresh)
    app[PACK_ROUTES].rebuild(app, registry)
    worker.executor.cache.clear()
    failures = registry.failures_json()
    log.info("node packs reloaded (%d node types, %d pack failures)",
             len(registry.nodes), len(failures))
    app[HUB].post(NODES_CHANGED, {"failures": failures})


async def watch_custom_nodes(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx entry: the watcher task runs only with ``--dev``."""
    if not app[CONFIG].dev:
        yield
        return

    async def loop() -> None:
        roots = watched_roots(app)
        seen = await asyncio.to_thread(snapshot, roots)
        log.info("--dev: watching %s", ", ".join(str(r) for r in roots))
        while True:
            await asyncio.sleep(app[CONFIG].reload_interval_s)
            now = await asyncio.to_thread(snapshot, roots)
            if now == seen:
                continue
            seen = now  # an edit made while reloading shows at the next poll
            try:
                await reload_packs(app)
            except Exception:  # a reload bug must not stop the server
                log.exception("reloading node packs failed")
            fresh_roots = watched_roots(app)  # a pack may have appeared, moved or gone
            if fresh_roots != roots:
                roots = fresh_roots
                seen = await asyncio.to_thread(snapshot, roots)

    task = asyncio.create_task(loop(), name="nodeflow-dev-reload")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
