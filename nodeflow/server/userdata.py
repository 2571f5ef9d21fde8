"""The user folder of ComfyUI's frontend: ``<base>/user/default`` (one user, as ComfyUI without
``--multi-user``), with its settings file ``comfy.settings.json`` and the files the frontend
stores there (workflows/, templates, keybindings, ...).

Every name a client sends goes through :func:`files.confined`. A workflow the frontend saves
under ``workflows/`` is kept byte for byte, and also converted into a nodeflow workflow file
under ``<base>/workflows/comfyui/`` (same relative name), so ``nodeflow run`` and nodeflow's
own editor have it too.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import WorkflowError
from ..registry import Registry
from ..settings import Settings
from .errors import ApiError
from .files import PathRejected, confined

log = logging.getLogger("nodeflow.server")

USER = "default"
SETTINGS_FILE = "comfy.settings.json"
USER_CSS = "user.css"
"""The user's stylesheet, which the frontend's page asks for at every start."""
DEFAULT_SETTINGS = {
    # nodeflow is not a ComfyUI release: never ask api.comfy.org for newer ones
    "Comfy.Notification.ShowVersionUpdates": False,
    # the values the default navigation mode ("legacy") sets; without them, 1.27's first start
    # fails setting them before they are registered (an error on every fresh user folder)
    "Comfy.Canvas.LeftMouseClickBehavior": "panning",
    "Comfy.Canvas.MouseWheelScroll": "zoom",
}
"""Settings a user folder starts with; what the user stores replaces them."""
_SETTINGS_WRITE = threading.Lock()
"""The frontend stores several settings at once; each write reads, merges and replaces."""
WORKFLOWS = "workflows"
NODEFLOW_COPIES = "comfyui"
"""The subfolder of nodeflow's workflows folder that holds the converted copies."""


def user_dir(settings: Settings) -> Path:
    return settings.base_dir / "user" / USER


def user_path(settings: Settings, name: str) -> Path:
    """``name`` inside the user folder; 400 for a name that would leave it."""
    if not name or not name.strip("/"):
        raise ApiError(400, "a file name is needed", "invalid_path")
    try:
        return confined(user_dir(settings), name, what="file name")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None


def relative(settings: Settings, path: Path) -> str:
    return path.relative_to(user_dir(settings).resolve()).as_posix()


def file_info(path: Path, root: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "size": stat.st_size,
            "modified": stat.st_mtime, "created": stat.st_ctime}


def list_dir(settings: Settings, directory: str, *, recurse: bool, full_info: bool,
             split: bool) -> list:
    """ComfyUI's GET /userdata?dir=: the files under ``directory``, relative to it."""
    root = user_path(settings, directory)
    if not root.is_dir():
        raise ApiError(404, f"no folder {directory!r} in the user folder", "not_found")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if not recurse:
            dirnames.clear()
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            if path.resolve().is_relative_to(root):  # no link out of the folder
                found.append(path)
    if full_info:
        return [file_info(p, root) for p in found]
    names = [p.relative_to(root).as_posix() for p in found]
    if split:
        return [[name, *name.split("/")] for name in names]
    return names


def write_file(settings: Settings, registry: Registry, path: Path, data: bytes, *,
               overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ApiError(409, f"{relative(settings, path)!r} exists already", "exists")
    if path.is_dir():
        raise ApiError(400, f"{relative(settings, path)!r} is a folder", "invalid_path")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    sync_nodeflow_copy(settings, registry, path)


def delete_file(settings: Settings, registry: Registry, path: Path) -> None:
    if not path.is_file():
        raise ApiError(404, f"no file {relative(settings, path)!r}", "not_found")
    path.unlink()
    sync_nodeflow_copy(settings, registry, path)


def move_file(settings: Settings, registry: Registry, source: Path, dest: Path, *,
              overwrite: bool) -> None:
    if not source.is_file():
        raise ApiError(404, f"no file {relative(settings, source)!r}", "not_found")
    if dest.exists() and not overwrite:
        raise ApiError(409, f"{relative(settings, dest)!r} exists already", "exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    source.replace(dest)
    sync_nodeflow_copy(settings, registry, source)
    sync_nodeflow_copy(settings, registry, dest)


# -- settings ----------------------------------------------------------------------------------

def effective_settings(settings: Settings) -> dict:
    """The stored settings over :data:`DEFAULT_SETTINGS`."""
    return {**DEFAULT_SETTINGS, **read_settings(settings)}


def read_settings(settings: Settings) -> dict:
    path = user_dir(settings) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ApiError(500, f"the settings file {path} cannot be read: {exc}",
                       "bad_settings") from None
    return data if isinstance(data, dict) else {}


def store_settings(settings: Settings, changes: dict) -> None:
    path = user_dir(settings) / SETTINGS_FILE
    with _SETTINGS_WRITE:
        merged = {**read_settings(settings), **changes}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(merged, indent=4, ensure_ascii=False), encoding="utf-8")
        partial.replace(path)


# -- the nodeflow copy of a saved workflow -------------------------------------------------------

def nodeflow_copy_path(settings: Settings, path: Path) -> Path | None:
    """Where the nodeflow copy of user file ``path`` goes (None: not a saved workflow)."""
    workflows = (user_dir(settings) / WORKFLOWS).resolve()
    if path.suffix != ".json" or not path.is_relative_to(workflows):
        return None
    return settings.workflows_dir / NODEFLOW_COPIES / path.relative_to(workflows)


def sync_nodeflow_copy(settings: Settings, registry: Registry, path: Path) -> None:
    """Write (or remove, when ``path`` is gone or does not convert) the nodeflow copy."""
    target = nodeflow_copy_path(settings, path)
    if target is None:
        return
    converted = _converted(path, registry) if path.is_file() else None
    if converted is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(converted, encoding="utf-8")


def _converted(path: Path, registry: Registry) -> str | None:
    from ..comfy.convert import import_workflow

    try:
        imported = import_workflow(path.read_bytes(), registry)
    except (WorkflowError, ValueError) as exc:
        log.info("%s is not kept as a nodeflow workflow: %s", path.name, exc)
        return None
    if imported.problems:
        log.info("%s is not kept as a nodeflow workflow: %s", path.name,
                 "; ".join(map(str, imported.problems)))
        return None
    data = imported.workflow.model_dump(mode="json", exclude_unset=True)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

