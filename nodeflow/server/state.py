"""The typed keys of the application's state (``app[SETTINGS]``, ``app[STORE]``, ...)."""
from __future__ import annotations

from aiohttp import web

from ..registry import Registry
from ..settings import Settings
from .config import ServerConfig
from .store_thread import AsyncStore
from .websocket import Hub
from .worker import Worker

SETTINGS = web.AppKey("settings", Settings)
CONFIG = web.AppKey("config", ServerConfig)
REGISTRY = web.AppKey("registry", Registry)
STORE = web.AppKey("store", AsyncStore)
HUB = web.AppKey("hub", Hub)
WORKER = web.AppKey("worker", Worker)
