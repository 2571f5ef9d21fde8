"""ComfyUI internals nodeflow does not provide (model patching, sampler internals, ...).

Importing them works, so a pack loads; *using* them raises :class:`MissingComfyAPI`, a
NodeError that names the API. Every name a pack reaches for is recorded against the module
that reached for it, so ``nodeflow nodes`` can mark its nodes "needs ComfyUI internals".
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections import defaultdict
from typing import Any

from ..errors import NodeError

USED: dict[str, set[str]] = defaultdict(set)
"""Module name of the pack code -> ComfyUI APIs it reached for that nodeflow lacks."""


class MissingComfyAPI(NodeError):
    def __init__(self, api: str):
        self.api = api
        super().__init__(f"needs ComfyUI internals: {api} is not provided by nodeflow "
                         "(see 'Using ComfyUI custom nodes' in docs/custom-nodes.md)")


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith(("nodeflow.comfy_compat", "importlib")) or name == __name__):
            return name
        frame = frame.f_back
    return "?"


def record(api: str) -> None:
    USED[_caller()].add(api)


def missing_attribute(owner: str, name: str) -> "Missing":
    """``owner.name`` for an object nodeflow provides only in part: recorded, and Missing
    (private names raise AttributeError, so copy, pickle and hasattr probes behave)."""
    if name.startswith("__"):
        raise AttributeError(name)
    record(f"{owner}.{name}")
    return Missing(f"{owner}.{name}")


class Missing:
    """Stands for a ComfyUI object nodeflow lacks; any use raises MissingComfyAPI."""

    __slots__ = ("_api",)

    def __init__(self, api: str):
        object.__setattr__(self, "_api", api)

    def __getattr__(self, name: str) -> "Missing":
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        api = f"{self._api}.{name}"
        record(api)
        return Missing(api)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise MissingComfyAPI(self._api)

    def __mro_entries__(self, bases: tuple) -> tuple:
        api = self._api

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise MissingComfyAPI(api)
        return (type(f"Missing[{api}]", (), {"__init__": refuse, "__nodeflow_missing__": api}),)

    def _refuse(self, *args: Any) -> Any:
        raise MissingComfyAPI(self._api)

    __iter__ = __len__ = __getitem__ = __bool__ = __int__ = __float__ = _refuse
    __add__ = __radd__ = __mul__ = __contains__ = __setattr__ = _refuse

    def __repr__(self) -> str:
        return f"<ComfyUI internals {self._api} (not provided by nodeflow)>"


def missing_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"ComfyUI's {name}: not provided by nodeflow")
    mod.__path__ = []  # a package, so its submodules import too
    mod.__nodeflow_shim__ = True
    mod.__nodeflow_missing__ = True

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        api = f"{name}.{attr}"
        record(api)
        return Missing(api)
    mod.__getattr__ = __getattr__
    return mod


def partial_module(name: str, doc: str) -> types.ModuleType:
    """A shim module: what nodeflow provides is set on it; anything else is Missing."""
    mod = missing_module(name)
    mod.__doc__ = doc
    mod.__nodeflow_missing__ = False
    return mod


class MissingFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ComfyUI modules nodeflow lacks (``comfy.sd``, ``comfy_extras.*``, ...)
    give a module of :class:`Missing` names instead of ImportError."""

    PREFIXES = ("comfy.", "comfy_extras", "comfy_execution.", "comfy_api.", "latent_preview",
                "node_helpers", "comfy_api_nodes", "comfy_config")

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname == "comfy_extras" or fullname.startswith(self.PREFIXES):
            if fullname.split(".")[0] in {p.rstrip(".") for p in self.PREFIXES}:
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        record(spec.name)
        return missing_module(spec.name)

    def exec_module(self, module) -> None:
        pass
