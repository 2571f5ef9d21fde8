"""Joining (or starting) the Ray cluster and creating the worker actors.

Ray does the placement (``num_gpus=1`` per GPU worker), the restarts (``max_restarts``) and
the shipping of the user's custom_nodes folder (``runtime_env`` working_dir). Token
authentication (Ray 2.60's default for new clusters): the token comes from ``RAY_AUTH_TOKEN``,
the file named by ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``; a wrong or missing one is
reported as one sentence that says where to put it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import Settings

log = logging.getLogger("nodeflow.cluster")
NAMESPACE = "nodeflow"
SHIPPED_EXCLUDES = ["__pycache__", "*.pyc", ".git", "node_modules", "*.safetensors",
                    "*.ckpt", "*.pt", "*.bin"]


class ClusterUnavailable(Exception):
    """The Ray cluster cannot be joined or started; the message says why and what to do."""


@dataclass(frozen=True)
class ClusterOptions:
    address: str | None = None
    """None: start a local cluster with every GPU found; else a `ray start` cluster's address."""
    cpu_workers: int | None = None
    """``--ray-workers N``: N CPU workers (besides one per GPU)."""
    max_restarts: int = -1
    """How often Ray restarts a worker whose process died (-1: always)."""


def connect(options: ClusterOptions, settings: Settings) -> None:
    """ray.init for the head (the job: its runtime_env ships custom_nodes to every worker);
    raises :class:`ClusterUnavailable`."""
    import ray
    from ray.exceptions import AuthenticationError

    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "logging_level": logging.WARNING,
                              "runtime_env": shipped_custom_nodes(settings.custom_nodes_dir)}
    if options.address:
        kwargs["address"] = options.address
    else:
        kwargs.update(address="local", include_dashboard=False,
                      num_cpus=max(os.cpu_count() or 1, options.cpu_workers or 0))
    try:
        ray.init(**kwargs)
    except (AuthenticationError, ConnectionError, RuntimeError, ValueError) as exc:
        if _refused_token(exc):
            raise ClusterUnavailable(
                f"the Ray cluster at {options.address or 'this machine'} refused this "
                "process's token: copy the cluster's token (`ray get-auth-token` on the "
                "machine that ran `ray start --head`) into ~/.ray/auth_token here, or set "
                "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH") from None
        if not options.address:
            raise ClusterUnavailable(f"cannot start a local Ray cluster: {_first_line(exc)}") \
                from None
        raise ClusterUnavailable(f"cannot join the Ray cluster at {options.address}: "
                                 f"{_first_line(exc)} (is `ray start` running there, and its "
                                 "ports open?)") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _refused_token(exc: BaseException | None) -> bool:
    """Whether Ray gave up because the cluster refused our token (Ray wraps that in a
    ConnectionError after retrying for about 20 s)."""
    from ray.exceptions import AuthenticationError

    while exc is not None:
        if isinstance(exc, AuthenticationError) or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def worker_slots(options: ClusterOptions) -> list[tuple[str, dict[str, Any]]]:
    """(name, actor resources): one per GPU in the cluster, plus the CPU workers asked for;
    one CPU worker when there is neither."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    slots = [(f"gpu-{i}", {"num_gpus": 1, "num_cpus": 0}) for i in range(gpus)]
    cpus = options.cpu_workers if options.cpu_workers is not None else (0 if gpus else 1)
    slots += [(f"cpu-{i}", {"num_gpus": 0, "num_cpus": 1}) for i in range(cpus)]
    return slots


def create_workers(settings: Settings, options: ClusterOptions) -> list[tuple[str, Any]]:
    """The worker actors (named ``nodeflow-worker-<slot>`` in the ``nodeflow`` namespace)."""
    import ray

    from .actor import WorkerActor

    head_node = ray.get_runtime_context().get_node_id()
    shipped = bool(ray.get_runtime_context().runtime_env.get("working_dir"))
    actor_class = ray.remote(WorkerActor)
    worker_options = {
        "head_base": str(settings.base_dir), "head_node_id": head_node,
        "shipped_custom_nodes": shipped,
        "settings": {"allow_pickle": settings.allow_pickle, "precision": settings.precision,
                     "vram_budget": settings.vram_budget,
                     "max_pixels": settings.max_pixels,
                     "max_text_chars": settings.max_text_chars,
                     "cache_budget_bytes": settings.cache_budget_bytes,
                     "model_budget_bytes": settings.model_budget_bytes,
                     "compile": settings.compile}}
    actors = []
    for name, resources in worker_slots(options):
        handle = actor_class.options(
            name=f"nodeflow-worker-{name}", max_restarts=options.max_restarts,
            max_task_retries=0, **resources).remote(worker_options)
        actors.append((name, handle))
    log.info("nodeflow: %d workers on the Ray cluster (%s)", len(actors),
             ", ".join(n for n, _ in actors))
    return actors


def shipped_custom_nodes(folder: Path) -> dict[str, Any] | None:
    """The job's runtime_env: the user's custom_nodes folder, shipped to every worker (which
    starts in its copy)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    return {"working_dir": str(folder), "excludes": SHIPPED_EXCLUDES}


def shutdown(actors: list[tuple[str, Any]]) -> None:
    import ray

    for _, actor in actors:
        try:
            ray.get(actor.shutdown.remote(), timeout=5)
        except Exception:  # a worker that is gone has nothing to clean  # noqa: BLE001
            pass
        ray.kill(actor, no_restart=True)
    ray.shutdown()
