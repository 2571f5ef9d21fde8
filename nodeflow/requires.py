"""What a workflow needs to run: nodeflow's version and the node packs it uses.

Saving stamps ``requires`` and each node's type version, so that a file opened elsewhere can name
the pack to install for each missing node type, and migrations know what they upgrade::

    "requires": {"nodeflow": ">=0.1",
                 "packs": {"image_filters": {"version": "1.0.0", "nodes": ["GaussianBlur"]}}}

Built-in packs come with nodeflow and are not listed.
"""
from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from . import __version__
from .errors import Problem
from .registry import Registry
from .workflow import Workflow


def with_requirements(workflow: Workflow, registry: Registry) -> Workflow:
    """A copy stamped with ``requires`` and node versions (unknown types are left as saved)."""
    nodes = {}
    packs: dict[str, dict] = {}
    for node_id, spec in workflow.nodes.items():
        node_def = registry.get(spec.type)
        if node_def is None:
            nodes[node_id] = spec
            continue
        nodes[node_id] = spec.model_copy(update={"version": node_def.version})
        info = registry.packs.get(node_def.pack)
        if info is not None and info.kind != "builtin":
            entry = packs.setdefault(info.name, {"version": info.version, "nodes": []})
            if spec.type not in entry["nodes"]:
                entry["nodes"].append(spec.type)
    release = Version(__version__)
    requires = dict(workflow.requires or {})
    requires["nodeflow"] = f">={release.major}.{release.minor}"
    if packs:
        requires["packs"] = {name: packs[name] for name in sorted(packs)}
    else:
        requires.pop("packs", None)
    return workflow.model_copy(update={"nodes": nodes, "requires": requires})


def requirement_problems(workflow: Workflow) -> list[Problem]:
    """A ``requires.nodeflow`` that this nodeflow does not satisfy."""
    wanted = (workflow.requires or {}).get("nodeflow")
    if not isinstance(wanted, str):
        return []
    try:
        spec = SpecifierSet(wanted)
    except InvalidSpecifier:
        return [Problem(None, None, f"requires.nodeflow {wanted!r} is not a version "
                                    "specifier (like >=0.1)", "requires")]
    if Version(__version__) in spec:
        return []
    return [Problem(None, None, f"this workflow needs nodeflow {wanted}; this is nodeflow "
                                f"{__version__}", "requires")]
