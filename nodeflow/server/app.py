"""The application factory: ``create_app(settings)`` for ``serve`` and for tests.

State lives in typed keys (state.py). The queue store, the websocket publisher and the worker
start and stop in one cleanup context; websockets are closed on shutdown.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from ..engine.executor import Executor
from ..registry import Registry
from ..settings import Settings
from . import (
    routes_blueprints,
    routes_editor,
    routes_examples,
    routes_extensions,
    routes_files,
    routes_nodes,
    routes_comfy_frontend,
    routes_jobs,
    routes_queue,
    routes_system,
    routes_workflows,
    routes_ws,
)
from .config import ServerConfig
from .dev_reload import watch_custom_nodes
from .errors import error_middleware
from .queue_store import QueueStore
from .store_thread import AsyncStore
from .routes_packs import mount_pack_routes, pack_routes_middleware
from .routing import add_routes
from .security import add_security_headers, origin_guard, token_guard
from .server_logs import capture_logs
from .warm_imports import warm_model_imports
from .state import CONFIG, HUB, REGISTRY, SETTINGS, STORE, WORKER
from .websocket import Hub
from .worker import Worker

log = logging.getLogger("nodeflow.server")

# the editor's catch-all static route comes last
ROUTE_TABLES = [routes_queue.routes, routes_jobs.routes, routes_nodes.routes, routes_files.routes,
                routes_blueprints.routes,
                routes_workflows.routes, routes_examples.routes, routes_comfy_frontend.routes,
                routes_extensions.routes, routes_system.routes, routes_ws.routes,
                routes_comfy_frontend.editor_routes, routes_editor.routes]


def create_app(settings: Settings, *, registry: Registry | None = None,
               config: ServerConfig | None = None) -> web.Application:
    """The server for ``settings``' base folder. Without ``registry`` every installed pack is
    loaded (none of them may import torch at import time)."""
    if registry is None:
        from ..plugins import load_registry

        registry = load_registry(settings)
    config = config or ServerConfig()
    if config.frontend == "comfyui" and config.web_dir is None:
        config = replace(config, web_dir=routes_comfy_frontend.frontend_dir())
    app = web.Application(middlewares=[error_middleware, origin_guard, token_guard,
                                       pack_routes_middleware],
                          client_max_size=config.max_body_bytes)
    app[SETTINGS] = settings
    app[CONFIG] = config
    app[REGISTRY] = registry
    app[HUB] = Hub(config.ws_buffer_messages, config.ws_buffer_bytes)
    app.on_response_prepare.append(add_security_headers)
    add_routes(app, ROUTE_TABLES)
    mount_pack_routes(app)
    app.cleanup_ctx.append(queue_and_worker)
    app.cleanup_ctx.append(watch_custom_nodes)
    app.cleanup_ctx.append(capture_logs)
    app.on_shutdown.append(close_websockets)
    return app


async def queue_and_worker(app: web.Application) -> AsyncIterator[None]:
    """Raises :class:`StoreUnusable` (a damaged or foreign database) before serving."""
    settings, config, hub = app[SETTINGS], app[CONFIG], app[HUB]
    store = await asyncio.to_thread(QueueStore, settings.queue_db, config.history_limit,
                                    config.db_busy_timeout_s)
    for prompt_id in store.recovered:
        log.warning("prompt %s was running when the server stopped; marked failed", prompt_id)
    async_store = AsyncStore(store)
    if config.cluster is not None:  # `serve --ray`: the only place that imports ray
        from ..cluster.serve import cluster_queue

        worker = await cluster_queue(app[REGISTRY], settings, config, async_store, hub)
    else:
        worker = Worker(async_store, hub, Executor(app[REGISTRY], settings),
                        paused=config.paused, grace_s=config.shutdown_grace_s)
        if config.warm_imports:
            warm_model_imports()
    app[STORE] = async_store
    app[WORKER] = worker
    publisher = asyncio.create_task(hub.publish_forever(), name="nodeflow-websocket")
    worker.start()
    yield
    await worker.stop()
    publisher.cancel()
    await asyncio.gather(publisher, return_exceptions=True)
    await async_store.close()


async def close_websockets(app: web.Application) -> None:
    """Stop the worker first, so clients hear that their run was interrupted (and how it
    ended) before their sockets close."""
    if WORKER in app:
        await app[WORKER].stop()
    await app[HUB].close_all(flush_s=app[CONFIG].shutdown_flush_s)
