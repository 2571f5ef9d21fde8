"""Upgrading nodes saved with an older major version of their type.

A pack registers ``@migration("Blur", from_version="1", to_version="2.0.0")`` functions; on load
each node saved at an older major version runs through the chain. What cannot be migrated stays
as it was, and validation says why, so no value is lost.
"""
from __future__ import annotations

from .declare import SEMVER
from .registry import Registry
from .workflow import Workflow


def upgrade_workflow(workflow: Workflow, registry: Registry) -> tuple[Workflow, list[str]]:
    """A copy of ``workflow`` with every migratable node upgraded (inside its subgraphs too),
    and one note per upgrade."""
    notes: list[str] = []
    nodes, changed = _upgrade_nodes(workflow.nodes, registry, notes, "")
    subgraphs = dict(workflow.subgraphs or {})
    for name, definition in (workflow.subgraphs or {}).items():
        inner, inner_changed = _upgrade_nodes(definition.nodes, registry, notes,
                                              f"subgraph '{name}', ")
        if inner_changed:
            subgraphs[name] = definition.model_copy(update={"nodes": inner})
            changed = True
    if not changed:
        return workflow, notes
    update: dict = {"nodes": nodes}
    if workflow.subgraphs is not None:
        update["subgraphs"] = subgraphs
    return workflow.model_copy(update=update), notes


def _upgrade_nodes(specs: dict, registry: Registry, notes: list[str], where: str
                   ) -> tuple[dict, bool]:
    nodes = dict(specs)
    changed = False
    for node_id, spec in specs.items():
        node_def = registry.get(spec.type)
        if node_def is None or node_def.subgraph is not None or spec.version is None \
                or not SEMVER.match(spec.version):
            continue
        version, inputs = spec.version, dict(spec.inputs)
        while int(version.split(".", 1)[0]) < node_def.major:
            step = registry.migrations.get((spec.type, int(version.split(".", 1)[0])))
            if step is None:
                break
            try:
                inputs = step.fn(dict(inputs))
            except Exception as exc:  # a pack's migration bug: keep the node as saved
                notes.append(f"{where}node '{node_id}': migration of {spec.type} from "
                             f"{version} failed ({type(exc).__name__}: {exc}); kept as saved")
                version, inputs = spec.version, dict(spec.inputs)
                break
            version = step.to_version
        if version != spec.version:
            notes.append(f"{where}node '{node_id}': {spec.type} upgraded from {spec.version} "
                         f"to {version}")
            nodes[node_id] = spec.model_copy(update={"version": version, "inputs": inputs})
            changed = True
    return nodes, changed
