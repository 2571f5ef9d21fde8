"""The registry: every installed node type, the packs they came from, and pack failures."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from .declare import Migration, NodeDef


@dataclass
class PackInfo:
    name: str
    version: str
    origin: str
    kind: str  # "builtin", "entry_point" or "custom"
    node_types: list[str] = field(default_factory=list)
    web_dir: str | None = None
    """The pack's editor extensions (ES modules), if it ships any."""
    import_output: str = ""
    """What the pack printed while it was imported (kept off stdout)."""
    routes: list = field(default_factory=list)
    """aiohttp route definitions, served under ``/packs/<name>/``."""
    comfy: dict | None = None
    """For a pack written for ComfyUI: classes found, failed classes with reasons,
    missing requirements, ComfyUI internals it reaches for."""


@dataclass(frozen=True)
class PackFailure:
    """A pack (or part of one) that could not be loaded, with a one-line reason."""

    pack: str
    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.pack} ({self.origin}): {self.reason}"


class Registry:
    """Node types by name. Built by :func:`nodeflow.plugins.load_registry`; tests build
    their own from small packs with :meth:`add_nodes`."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeDef] = {}
        self.packs: dict[str, PackInfo] = {}
        self.failures: list[PackFailure] = []
        self.migrations: dict[tuple[str, int], Migration] = {}
        self.sources: dict[str, str] = {}
        """Pack name -> the file or folder its code lives in (loaded or failed): what
        ``serve --dev`` watches."""
        self.node_sources: dict[str, str] = {}
        """Node type -> where the pack that defined it lives (two packs may share a name)."""

    def __contains__(self, type_name: str) -> bool:
        return type_name in self.nodes

    def get(self, type_name: str) -> NodeDef | None:
        return self.nodes.get(type_name)

    def for_node(self, spec: Any) -> NodeDef | None:
        """The type of workflow node ``spec`` with the input family members it uses
        (``image_1`` ... ``image_N``) as declared inputs."""
        node_def = self.nodes.get(spec.type)
        return node_def.for_inputs(spec.inputs) if node_def is not None else None

    def add_module(self, module: ModuleType, info: PackInfo) -> None:
        """Register every node and migration a pack module exposes as an attribute."""
        self.add_nodes(vars(module).values(), info)

    def add_nodes(self, objects: Iterable[Any], info: PackInfo) -> None:
        self.packs[info.name] = info
        here = self.sources.get(info.name) or info.origin
        seen: set[int] = set()
        duplicates: dict[tuple[str, str], list[str]] = {}  # (pack, where) -> type names
        for obj in objects:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, Migration):
                self.migrations[(obj.node_type, obj.from_major)] = obj
            elif isinstance(obj, NodeDef):
                existing = self.nodes.get(obj.type_name)
                if existing is not None:
                    earlier = (existing.pack or "?", self.node_sources.get(obj.type_name, "?"))
                    duplicates.setdefault(earlier, []).append(obj.type_name)
                    continue
                self.nodes[obj.type_name] = dataclasses.replace(obj, pack=info.name)
                self.node_sources[obj.type_name] = here
                info.node_types.append(obj.type_name)
        for earlier, names in duplicates.items():
            self.failures.append(PackFailure(info.name, info.origin,
                                             _duplicate_reason(earlier, (info.name, here),
                                                               names)))

    def replace_with(self, other: "Registry") -> None:
        """Take ``other``'s contents, keeping this object (the server and its executor share
        it): how hot reload swaps in freshly loaded packs."""
        self.nodes, self.packs = other.nodes, other.packs
        self.failures, self.migrations = other.failures, other.migrations
        self.sources, self.node_sources = other.sources, other.node_sources

    def schemas(self, settings: Any = None) -> dict[str, dict]:
        return {name: nd.schema(settings) for name, nd in self.nodes.items()}

    def failures_json(self) -> list[dict]:
        return [dataclasses.asdict(f) for f in self.failures]


def _duplicate_reason(earlier: tuple[str, str], later: tuple[str, str], names: list[str]) -> str:
    """One sentence naming both packs and both locations (a pack installed with pip and
    also linked into custom_nodes is the usual cause)."""
    (first_pack, first), (second_pack, second) = earlier, later
    quoted = ", ".join(f"'{n}'" for n in names)
    types = f"node type {quoted} is" if len(names) == 1 else f"node types {quoted} are"
    hint = (" (the same code loaded twice: remove one of the two installs)"
            if _same_place(first, second) else
            " (rename the types in one of the packs, or remove one)")
    return (f"{types} defined by pack '{first_pack}' at {first} and again by pack "
            f"'{second_pack}' at {second}; kept {'the one' if len(names) == 1 else 'those'} "
            f"from '{first_pack}'{hint}")


def _same_place(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError):
        return False
