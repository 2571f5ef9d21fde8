"""Loading node packs: the built-in ones, pip-installed ones and the user's custom_nodes.

All three go through :func:`load_pack_path` / :func:`load_entry_point` into one
:class:`~nodeflow.registry.Registry`. A pack that fails to import is recorded with a one-line
reason and everything else keeps loading.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import re
import sys
import traceback
from pathlib import Path

from .declare import NodeDef
from .paths import shipped_dir
from .registry import PackFailure, PackInfo, Registry
from .settings import Settings

log = logging.getLogger("nodeflow.plugins")
ENTRY_POINT_GROUP = "nodeflow.nodes"
_MODULE_PREFIX = {"builtin": "nodeflow_builtin_", "custom": "nodeflow_custom_"}


def load_registry(settings: Settings | None = None, *, builtin: bool = True,
                  entry_points: bool = True, custom: bool = True,
                  reload_custom: bool = False, reload_entry_points: bool = False) -> Registry:
    """Everything installed, in a fixed order: built-in packs, pip packs, custom_nodes.
    ``reload_custom`` imports the custom_nodes files again even if already imported;
    ``reload_entry_points`` does the same for pip packs (``serve --dev``)."""
    registry = Registry()
    if builtin:
        for path in pack_paths(shipped_dir("nodes")):
            load_pack_path(registry, path, kind="builtin")
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                         key=lambda e: e.name):
            load_entry_point(registry, ep, reload=reload_entry_points)
    if custom and settings is not None:
        for folder in custom_node_dirs(settings):
            for path in pack_paths(folder):
                load_pack_path(registry, path, kind="custom", reload=reload_custom,
                               settings=settings)
        from .engine.components import add_components

        add_components(registry, settings.components_dir)
    return registry


def custom_node_dirs(settings: Settings) -> list[Path]:
    """``<base>/custom_nodes``, then the custom_nodes folders of extra_model_paths.yaml/.json
    (a malformed file is reported by the model loaders, not here)."""
    from .diffusion.checkpoint_errors import CheckpointError
    from .diffusion.checkpoint_paths import extra_model_dirs

    try:
        extra = extra_model_dirs(settings.base_dir, "custom_nodes")
    except CheckpointError:
        extra = []
    return [settings.custom_nodes_dir, *(d for d in extra if d != settings.custom_nodes_dir)]


def pack_paths(folder: Path) -> list[Path]:
    """Python files and package folders in ``folder`` that look like packs, sorted."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or path.name.endswith(".disabled"):
            continue
        if (path.is_file() and path.suffix == ".py") or (path / "__init__.py").is_file():
            found.append(path)
    return found


def load_pack_path(registry: Registry, path: Path, *, kind: str, reload: bool = False,
                   settings: Settings | None = None) -> bool:
    """Import a pack from a .py file or a package folder and register its nodes. A folder
    written for ComfyUI (it exports ``NODE_CLASS_MAPPINGS`` or ``comfy_entrypoint``) goes
    through :mod:`nodeflow.comfy_compat`."""
    name = path.stem if path.is_file() else path.name
    registry.sources[name] = str(path)
    if kind == "custom":
        from . import comfy_compat

        if comfy_compat.is_comfy_pack(path):
            return comfy_compat.load_comfy_pack(registry, path, settings, reload=reload)
    module_name = _MODULE_PREFIX[kind] + re.sub(r"\W", "_", name)
    try:
        with captured_output() as output:
            module = _import_path(module_name, path, reload=reload)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of a pack is the pack's
        registry.failures.append(PackFailure(name, str(path), _short_reason(exc, path)))
        return False
    version = str(getattr(module, "__version__", "0.0.0"))
    if kind == "builtin":
        from . import __version__
        version = __version__
    registry.add_module(module, PackInfo(name, version, str(path), kind,
                                         web_dir=extension_dir(module),
                                         import_output=output.getvalue(),
                                         routes=pack_routes(module)))
    return True


@contextlib.contextmanager
def captured_output():
    """What a pack prints while it imports (banners, dependency notes) is kept for
    ``nodeflow nodes`` and the log, never written to stdout (it would break ``--json``)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer
    text = buffer.getvalue()
    if text.strip():
        log.info("pack import output:\n%s", text.rstrip())


def pack_routes(module) -> list:
    """A pack's HTTP routes: an aiohttp ``RouteTableDef`` named ``ROUTES`` in its module,
    served under ``/packs/<pack>/`` with the server's security rules."""
    routes = getattr(module, "ROUTES", None)
    if routes is None:
        return []
    from aiohttp import web

    return list(routes) if isinstance(routes, web.RouteTableDef) else []


def load_entry_point(registry: Registry, ep: importlib.metadata.EntryPoint, *,
                     reload: bool = False) -> bool:
    """Import a pip pack through its entry point. ``reload`` imports its top-level package
    again (an editable install whose source changed)."""
    dist = getattr(ep, "dist", None)
    origin = f"{dist.name if dist else '?'} ({ep.value})"
    top = ep.value.split(":", 1)[0].split(".", 1)[0].strip()
    source = entry_point_source(top)
    if source is not None:
        registry.sources[ep.name] = source
    if reload and top and top != __name__.split(".", 1)[0]:
        _forget(top)
    try:
        with captured_output() as output:
            obj = ep.load()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of a pack is the pack's
        registry.failures.append(PackFailure(ep.name, origin, _short_reason(exc, None)))
        return False
    module = sys.modules.get(ep.module, obj)
    info = PackInfo(ep.name, dist.version if dist else "0.0.0", origin, "entry_point",
                    web_dir=extension_dir(module), import_output=output.getvalue(),
                    routes=pack_routes(module))
    if isinstance(obj, (list, tuple)):
        registry.add_nodes(obj, info)
    elif isinstance(obj, NodeDef):  # "pack:OneNode"
        registry.add_nodes([obj], info)
    else:
        registry.add_module(obj, info)
    return True


def entry_point_source(top: str) -> str | None:
    """Where a pip pack's code lives (its package folder, or its module file), found without
    importing it: for an editable install that is the source tree being edited."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return locations[0]
    return spec.origin if spec.origin and Path(spec.origin).is_file() else None


def extension_dir(module) -> str | None:
    """The folder of editor extensions a pack ships: ``WEB_DIRECTORY`` (relative to the
    module's folder) if the module names one, else a ``web/`` folder beside a package's
    ``__init__.py``."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    folder = Path(file).resolve().parent
    named = getattr(module, "WEB_DIRECTORY", None)
    if isinstance(named, str):
        web = (folder / named).resolve()
        return str(web) if web.is_dir() and web.is_relative_to(folder) else None
    if Path(file).name == "__init__.py" and (folder / "web").is_dir():
        return str(folder / "web")
    return None


def _import_path(module_name: str, path: Path, *, reload: bool):
    init = path / "__init__.py" if path.is_dir() else path
    existing = sys.modules.get(module_name)
    if existing is not None and not reload and getattr(existing, "__file__", None) == str(init):
        return existing
    _forget(module_name)
    locations = [str(path)] if path.is_dir() else None
    spec = importlib.util.spec_from_file_location(module_name, init,
                                                  submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        _forget(module_name)
        raise
    return module


def _forget(module_name: str) -> None:
    for key in [k for k in sys.modules if k == module_name or k.startswith(module_name + ".")]:
        del sys.modules[key]


def _short_reason(exc: BaseException, path: Path | None) -> str:
    """One line: the exception and where in the pack it happened."""
    if isinstance(exc, SyntaxError):
        where = f" ({Path(exc.filename or '?').name}, line {exc.lineno})"
        return f"SyntaxError: {exc.msg}{where}"
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        root = str(path.parent if path.is_file() else path)
        frames = [f for f in frames if f.filename.startswith(root)]
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return text
