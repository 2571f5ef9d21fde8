"""The cluster's queue for the server: join Ray, create the workers, hand back the queue."""
from __future__ import annotations

import asyncio
import signal

from ..registry import Registry
from ..server.config import ServerConfig
from ..server.store_thread import AsyncStore
from ..server.websocket import Hub
from ..settings import Settings
from . import launch
from .head import ClusterQueue


async def cluster_queue(registry: Registry, settings: Settings, config: ServerConfig,
                        store: AsyncStore, hub: Hub) -> ClusterQueue:
    """Raises :class:`~.launch.ClusterUnavailable`."""
    import ray

    options: launch.ClusterOptions = config.cluster
    if not ray.is_initialized():
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        await asyncio.to_thread(launch.connect, options, settings)
        for number, handler in handlers.items():  # Ray's own would end the process at once,
            if handler is not None:               # skipping the graceful shutdown
                signal.signal(number, handler)
    actors = await asyncio.to_thread(launch.create_workers, settings, options)
    return ClusterQueue(store, hub, registry, settings, actors, paused=config.paused,
                        grace_s=config.shutdown_grace_s,
                        on_stop=lambda: asyncio.to_thread(launch.shutdown, actors))
