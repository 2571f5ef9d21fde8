"""Components: subgraph files in ``<base>/components/`` that any workflow uses as a node type.

A component file is a subgraph definition with a name and a semver version::

    {"nodeflow": 1, "component": "Upscale twice", "version": "1.0.0",
     "description": "...", "category": "components",
     "inputs": {"image": {"type": "IMAGE"}}, "outputs": {"image": {"node": "b", "output": "image"}},
     "nodes": {...}}

Each (name, version) is one file (any file name ending in .json). A workflow node of type
"Upscale twice" uses the newest version, or the one its ``version`` names (exactly). The
registry lists each component once, as a node type with the newest version's inputs and
outputs, so the editor and ``/object_info`` offer it like any node.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import ConfigDict

from ..declare import SEMVER, InputSpec, NodeDef, OutputSpec, type_name_problem
from ..errors import NodeError
from ..fields import REQUIRED, FieldSpec
from ..registry import PackFailure, PackInfo, Registry
from .subgraphs import _semver_key, output_type
from ..types import socket_by_name
from ..workflow import SubgraphDef

PACK = "components"


class ComponentFile(SubgraphDef):
    model_config = ConfigDict(extra="forbid", strict=True)
    nodeflow: Literal[1]
    component: str
    version: str


def read_component(path: Path) -> ComponentFile:
    """Parse one component file; raises ValueError with a one-line reason."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read it: {exc}") from None
    try:
        component = ComponentFile.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise ValueError(f"{where}: {err.get('msg')}") from None
    problem = type_name_problem(component.component)
    if problem:
        raise ValueError(problem)
    if not SEMVER.match(component.version):
        raise ValueError(f"version {component.version!r} is not semver (like 1.0.0)")
    return component


def add_components(registry: Registry, folder: Path) -> None:
    """Register every component in ``folder``; a bad file is a pack failure, not a crash."""
    if not folder.is_dir():
        return
    found: dict[str, dict[str, ComponentFile]] = {}
    info = PackInfo(PACK, "0.0.0", str(folder), "custom")
    for path in sorted(folder.glob("*.json")):
        try:
            component = read_component(path)
        except ValueError as exc:
            registry.failures.append(PackFailure(PACK, str(path), str(exc)))
            continue
        versions = found.setdefault(component.component, {})
        if component.version in versions:
            registry.failures.append(PackFailure(PACK, str(path), f"component "
                                                 f"'{component.component}' {component.version} "
                                                 "is defined twice; kept the first file"))
            continue
        versions[component.version] = component
    if not found:
        return
    registry.packs.setdefault(PACK, info)
    for name, versions in found.items():
        latest = max(versions, key=_semver_key)
        node_def = component_node(name, versions, latest, registry)
        if name in registry.nodes:
            registry.failures.append(PackFailure(PACK, str(folder), f"component '{name}' has "
                                                 "the name of an installed node type; kept the "
                                                 f"one from '{registry.nodes[name].pack}'"))
            continue
        registry.nodes[name] = node_def
        registry.packs[PACK].node_types.append(name)


def component_node(name: str, versions: dict[str, SubgraphDef], latest: str,
                   registry: Registry) -> NodeDef:
    """A node type standing for a component (its newest version's interface)."""
    definition = versions[latest]
    inputs = {}
    for input_name, decl in definition.inputs.items():
        has_default = "default" in decl.model_fields_set
        socket = socket_by_name(decl.type)
        default = decl.default if has_default else REQUIRED
        optional = has_default and decl.default is None
        inputs[input_name] = InputSpec(input_name, socket,
                                       FieldSpec(default=default,
                                                 tooltip=decl.description or ""), optional)
    outputs = [OutputSpec(out, socket_by_name(output_type(definition, out, registry)))
               for out in definition.outputs]

    def expanded_before_running(**_: Any) -> None:
        raise NodeError(f"component '{name}' should have been expanded before running")

    return NodeDef(type_name=name, fn=expanded_before_running, version=latest,
                   category=definition.category or "components", display_name=name,
                   description=definition.description or "", inputs=inputs, outputs=outputs,
                   returns_tuple=len(outputs) > 1, pack=PACK, subgraph=dict(versions))
