"""Bypassed and muted nodes, as ComfyUI users know them, resolved before validation.

A muted node (``"mode": "mute"``, ComfyUI's mode 2 "Never") does not run at all. A bypassed node
(``"mode": "bypass"``, ComfyUI's mode 4) does not run either, but each of its outputs passes on
the value of its first linked input of the same type, so a LoRA or an upscale can be switched off
without rewiring. Both are resolved by rewriting the workflow: what runs is an ordinary graph.
An input fed by a muted node, or by a bypassed one with nothing of that type to pass on, is left
unconnected; where the input is required, that is a problem naming both nodes.
"""
from __future__ import annotations

from ..errors import Problem
from ..registry import Registry
from ..types import can_connect
from ..workflow import Link, NodeSpec, Workflow, as_link

MODES = ("bypass", "mute")


def resolve_modes(workflow: Workflow, registry: Registry) -> tuple[Workflow, list[Problem]]:
    """The workflow without its muted and bypassed nodes (their consumers rewired), and the
    problems that leaves; the workflow itself when no node has a mode."""
    inactive = {nid: spec for nid, spec in workflow.nodes.items() if spec.mode in MODES}
    if not inactive:
        return workflow, []
    problems: list[Problem] = []
    nodes: dict[str, NodeSpec] = {}
    for node_id, spec in workflow.nodes.items():
        if node_id in inactive:
            continue
        inputs = dict(spec.inputs)
        for name, value in spec.inputs.items():
            try:
                link = as_link(value)
            except ValueError:
                continue  # validation reports the malformed link
            if link is None or link.node not in inactive:
                continue
            source, why = _pass_through(link, workflow, inactive, registry)
            if source is not None:
                inputs[name] = source.model_dump()
                continue
            del inputs[name]
            node_def = registry.for_node(spec)
            wanted = node_def.inputs.get(name) if node_def else None
            if wanted is not None and wanted.required:
                problems.append(Problem(node_id, name, why, "inactive_input"))
        nodes[node_id] = spec.model_copy(update={"inputs": inputs})
    return workflow.model_copy(update={"nodes": nodes}), problems


def _pass_through(link: Link, workflow: Workflow, inactive: dict[str, NodeSpec],
                  registry: Registry) -> tuple[Link | None, str]:
    """Where the value of ``link`` comes from once inactive nodes are skipped, or None and why
    there is none. Bypassed nodes in a row are followed back; a loop of them ends the walk."""
    seen: set[str] = set()
    while link.node in inactive and link.node not in seen:
        seen.add(link.node)
        spec = inactive[link.node]
        if spec.mode == "mute":
            return None, f"comes from node '{link.node}', which is muted"
        node_def = registry.get(spec.type)
        output = node_def.output_names.get(link.output) if node_def else None
        if output is None:
            return None, f"comes from node '{link.node}', which is bypassed"
        upstream = _first_link_of_type(spec, node_def, output.socket.type_name, workflow,
                                       registry)
        if upstream is None:
            return None, (f"comes from node '{link.node}', which is bypassed and has no "
                          f"linked input of type {output.socket.type_name} to pass on")
        link = upstream
    if link.node in inactive:
        return None, f"comes from a loop of bypassed nodes ('{link.node}')"
    return link, ""


def _first_link_of_type(spec: NodeSpec, node_def, type_name: str, workflow: Workflow,
                        registry: Registry) -> Link | None:
    """The first input of ``spec`` (in declaration order) of wire type ``type_name`` that is
    linked to an output of that type."""
    for name, input_spec in node_def.inputs.items():
        if input_spec.socket.type_name != type_name:
            continue
        try:
            link = as_link(spec.inputs.get(name))
        except ValueError:
            continue
        if link is None:
            continue
        source = workflow.nodes.get(link.node)
        source_def = registry.get(source.type) if source else None
        out = source_def.output_names.get(link.output) if source_def else None
        if out is not None and can_connect(out.socket.type_name, input_spec.socket):
            return link
    return None
