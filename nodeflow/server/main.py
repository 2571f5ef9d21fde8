"""``nodeflow serve``: bind, print where to open the editor, run until Ctrl-C."""
from __future__ import annotations

import logging
import secrets
import sys

from aiohttp import web

from ..cluster.launch import ClusterUnavailable  # no ray: that is imported with --ray only
from ..settings import Settings
from .config import ServerConfig, is_loopback
from .store_checks import StoreUnusable

log = logging.getLogger("nodeflow.server")


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8188,
          token: str | None = None, dev: bool = False, frontend: str = "nodeflow",
          cluster: object = None) -> int:
    """Run the server; returns the exit code (1 when the queue database cannot be used: the
    message says why and how to recover). Binding beyond loopback needs an access token: the
    one given, else a new one that is printed. ``cluster``: ClusterOptions for ``--ray``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
        print(f"nodeflow: {host} is reachable from other machines, so every request needs "
              f"this access token:\n  {token}", file=sys.stderr)
    if dev:
        print(f"nodeflow: --dev: reloading node packs in {settings.custom_nodes_dir} when "
              "they change", file=sys.stderr)
    from .app import create_app
    from .routes_comfy_frontend import FrontendMissing

    try:
        app = create_app(settings, config=ServerConfig(host=host, token=token, dev=dev,
                                                       frontend=frontend, cluster=cluster))
    except FrontendMissing as exc:
        print(f"nodeflow serve: --frontend {frontend}: {exc}", file=sys.stderr)
        return 2
    shown = f"[{host}]" if ":" in host else host
    link = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")

    def ready(_message: str) -> None:
        print(f"nodeflow: serving the editor at {link}", file=sys.stderr, flush=True)

    try:
        web.run_app(app, host=host, port=port, print=ready, access_log=None)
    except StoreUnusable as exc:
        print(f"nodeflow serve: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        if cluster is None or exc.name != "ray":
            raise
        print("nodeflow serve: --ray needs Ray: pip install 'nodeflow[ray]'", file=sys.stderr)
        return 2
    except ClusterUnavailable as exc:
        print(f"nodeflow serve --ray: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"nodeflow serve: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    from .warm_imports import exit_if_importing

    exit_if_importing(0)  # a server stopped within seconds of its start: no wait for torch
    return 0
