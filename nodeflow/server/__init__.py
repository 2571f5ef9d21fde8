"""`nodeflow serve`: the editor and the HTTP/websocket API, in ComfyUI's shapes.

``create_app`` (app.py) builds the aiohttp application that tests and ``serve`` (main.py) use.
One file per job: config and app state, security middlewares, confined file paths, the SQLite
queue, the worker thread, websocket fan-out, one routes_*.py per group of routes, and the
OpenAPI document built from the same route table.
"""
from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
