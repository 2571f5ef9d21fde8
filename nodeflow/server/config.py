"""What a server instance is allowed to do: where it listens, its token, its limits."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name, IPv6 with or without brackets) is loopback."""
    host = host.strip().lower().strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """The address the server binds; when it is loopback, requests must name a loopback Host
    (no DNS rebinding)."""
    token: str | None = None
    """When set, every request needs it (Authorization: Bearer, ?token= or the cookie)."""
    max_body_bytes: int = 16 * 1024**2
    """JSON bodies (prompts, saved workflows)."""
    max_upload_bytes: int = 50 * 1024**2
    max_upload_pixels: int = 8192 * 8192
    history_limit: int = 10_000
    paused: bool = False
    """Accept prompts but run none (tests, maintenance)."""
    shutdown_grace_s: float = 10.0
    """How long shutdown waits for the running prompt to stop after interrupting it."""
    shutdown_flush_s: float = 2.0
    """How long shutdown waits for clients to take their last messages before closing."""
    db_busy_timeout_s: float = 2.0
    """How long a database write waits for another process's lock before it is reported."""
    ws_buffer_messages: int = 1024
    ws_buffer_bytes: int = 8 * 1024**2
    """A websocket client that falls this far behind (messages or bytes not yet sent) is
    disconnected, so it never holds up the others; it reconnects and asks /queue, /history."""
    min_free_disk_bytes: int = 16 * 1024**2
    """Below this much free space in the base folder the server reports itself not ready."""
    dev: bool = False
    """Reload custom_nodes/ when its files change (``nodeflow serve --dev``)."""
    reload_interval_s: float = 1.0
    web_dir: Path | None = None
    """The editor's static files; None means the shipped web/ folder."""
    frontend: str = "nodeflow"
    """``comfyui``: ComfyUI's frontend (comfyui-frontend-package) at / and /object_info in
    ComfyUI's names; nodeflow's editor stays at /nodeflow/."""
    cluster: Any = None
    """``serve --ray``: a :class:`nodeflow.cluster.launch.ClusterOptions`; prompts then run on
    worker actors of a Ray cluster instead of in this process."""
    warm_imports: bool = True
    """Once serving, import the model stack (torch, diffusers, transformers) in the
    background, so the first run does not wait for it; a ``--ray`` head never does."""

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.host)
