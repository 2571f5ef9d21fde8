"""Running node packs written for ComfyUI, unmodified.

A folder in ``custom_nodes/`` whose ``__init__.py`` exports ``NODE_CLASS_MAPPINGS`` (V1 or
V3 classes) or ``comfy_entrypoint`` (a V3 ``ComfyExtension``) is a ComfyUI pack. Before it is
imported, the ComfyUI modules it expects are installed (:mod:`.shims`); its classes are then
declared as ordinary NodeDefs (:mod:`.wrap`) under their ComfyUI names. Classes that cannot be
declared are recorded one line each; what the pack prints goes to the log; its
``requirements.txt`` is checked, never installed.
"""
from __future__ import annotations

import asyncio
import importlib.metadata
import re
import sys
import threading
from pathlib import Path
from typing import Any

from ..registry import PackFailure, PackInfo, Registry
from ..settings import Settings
from .missing import USED, MissingComfyAPI
from .wrap import Unsupported, node_def, v1_spec

_MARKERS = re.compile(r"NODE_CLASS_MAPPINGS|comfy_entrypoint")


def is_comfy_pack(path: Path) -> bool:
    init = path / "__init__.py" if path.is_dir() else path
    try:
        return bool(_MARKERS.search(init.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def load_comfy_pack(registry: Registry, path: Path, settings: Settings | None, *,
                    reload: bool = False) -> bool:
    from ..plugins import _import_path, _short_reason, captured_output, extension_dir
    from . import shims

    settings = settings or Settings()
    shims.install(settings)
    name = path.stem if path.is_file() else path.name
    module_name = "nodeflow_comfy_" + re.sub(r"\W", "_", name)
    pack_dir = str(path if path.is_dir() else path.parent)
    if str(path.parent) not in sys.path:  # as in ComfyUI, where custom_nodes is on sys.path
        sys.path.append(str(path.parent))
    try:
        with captured_output() as output:
            module = _import_path(module_name, path, reload=reload)
            classes = dict(getattr(module, "NODE_CLASS_MAPPINGS", None) or {})
            display = dict(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {})
            entry = getattr(module, "comfy_entrypoint", None)
            if callable(entry):
                for cls in _run(_extension_nodes(entry)):
                    classes.setdefault(cls.define_schema().node_id, cls)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of a pack is the pack's
        registry.failures.append(PackFailure(name, str(path), _short_reason(exc, path)))
        return False
    info = PackInfo(name, str(getattr(module, "__version__", "0.0.0")), str(path), "comfyui",
                    web_dir=extension_dir(module), import_output=output.getvalue())
    failed: dict[str, str] = {}
    defs = []
    for type_name, cls in classes.items():
        try:
            defs.append(declare(str(type_name), cls, display.get(type_name), registry, name))
        except (Unsupported, MissingComfyAPI) as exc:
            failed[str(type_name)] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad class must not hide the others
            failed[str(type_name)] = f"{type(exc).__name__}: {exc}"
    registry.add_nodes(defs, info)
    nodes_mod = sys.modules["nodes"]
    nodes_mod.NODE_CLASS_MAPPINGS.update(classes)
    nodes_mod.NODE_DISPLAY_NAME_MAPPINGS.update(display)
    internals = sorted({api for mod, apis in USED.items()
                        if mod == module_name or mod.startswith(module_name + ".")
                        for api in apis})
    info.comfy = {"classes": len(classes), "failed": failed, "internals": internals,
                  "missing_requirements": missing_requirements(Path(pack_dir))}
    for type_name, reason in failed.items():
        registry.failures.append(PackFailure(name, str(path), f"class '{type_name}': {reason}"))
    return True


def declare(type_name: str, cls: Any, display_name: str | None, registry: Registry,
            pack: str):
    from .api import is_v3, v3_spec

    if not isinstance(cls, type):
        raise Unsupported(f"{cls!r} is not a class")
    spec = v3_spec(cls, display_name) if is_v3(cls) else v1_spec(type_name, cls, display_name)
    spec.type_name = type_name
    internals = _internals_of(cls)
    if internals:
        spec.extra["needs_internals"] = internals
    return node_def(spec, registry, pack)


_COMFY_NAME = re.compile(r"\b((?:comfy|comfy_extras|comfy_execution|comfy_api|latent_preview|"
                         r"node_helpers|server)(?:\.\w+)+)")


def _internals_of(cls: type) -> list[str]:
    """The ComfyUI APIs named in the class's own code that nodeflow does not provide."""
    import inspect

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return sorted(USED.get(cls.__module__, ()))
    return sorted(name for name in set(_COMFY_NAME.findall(source)) if _is_missing(name))


def _is_missing(dotted: str) -> bool:
    """Whether ``dotted`` names something the shims lack (without importing anything)."""
    from .missing import Missing

    parts = dotted.split(".")
    obj = sys.modules.get(parts[0])
    if obj is None:
        return False
    for i in range(1, len(parts)):
        module = sys.modules.get(".".join(parts[: i + 1]))
        obj = module if module is not None else getattr(obj, parts[i], None)
        if obj is None:
            return False
        if isinstance(obj, Missing) or getattr(obj, "__nodeflow_missing__", False) is True:
            return True
    return False


async def _extension_nodes(entry) -> list:
    extension = await entry()
    await extension.on_load()
    return list(await extension.get_node_list())


def _run(coro):
    """Run a coroutine to the end from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - handed back below
            box["error"] = exc
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def missing_requirements(pack_dir: Path) -> list[str]:
    """Lines of the pack's requirements.txt whose distribution is not installed."""
    req = pack_dir / "requirements.txt"
    if not req.is_file():
        return []
    missing = []
    for line in req.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        match = _REQ.match(line)
        if not line or line.startswith("-") or not match:
            continue
        try:
            importlib.metadata.distribution(match.group(1))
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
    return missing
