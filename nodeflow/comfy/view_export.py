"""A nodeflow workflow in ComfyUI's editor format, in the names of the ComfyUI view
(object_view.py), so ComfyUI's frontend opens any nodeflow workflow: mapped nodes under their
ComfyUI names, nodeflow-only nodes under their published names. Widget values follow the
view's input order, which is also the order the UI-format importer reads them in, so a
workflow opened, saved and imported again keeps its values.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..registry import Registry
from ..workflow import Workflow, as_link
from .mapping import export_mapping_for
from .object_view import WIDGET_TYPES, comfy_object_info, published_name

_WIDTH, _ROW, _GAP = 320, 26, 60
_MODES = {"mute": 2, "bypass": 4}


def comfy_type_of(nodeflow_type: str, registry: Registry) -> str:
    mapping = export_mapping_for(nodeflow_type)
    return mapping.comfy_type if mapping is not None else published_name(nodeflow_type)


def to_comfy_editor(workflow: Workflow, registry: Registry, settings: Any) -> dict:
    """The editor-format (version 0.4) workflow. Node types that are not installed stay
    under their own names, with their literal values by name, as ComfyUI keeps unknown nodes.
    A workflow with subgraphs opens flattened (the same nodes, run the same way)."""
    if workflow.subgraphs:
        from ..engine.subgraphs import flatten

        workflow = flatten(workflow, registry).workflow
    view = comfy_object_info(registry, settings)
    numbers = _numbers(list(workflow.nodes))
    links: list[list] = []
    out_links: dict[tuple[str, int], list[int]] = defaultdict(list)
    slot_of = {node_id: _output_slots(spec.type, registry)
               for node_id, spec in workflow.nodes.items()}
    positions = _layout(workflow)
    nodes = []
    for order, (node_id, spec) in enumerate(workflow.nodes.items()):
        comfy_type = comfy_type_of(spec.type, registry)
        info = view.get(comfy_type)
        mapping = export_mapping_for(spec.type)
        ui = spec.ui or {}
        inputs: list[dict] = []
        widgets: list[Any] = []
        upload = False
        if info is None:  # not installed here: keep what we know
            widgets = [v for v in spec.inputs.values() if as_link(v) is None]
            info = {"input": {}, "input_order": {}, "output": [], "output_name": []}
        for name in [*info["input_order"].get("required", []),
                     *info["input_order"].get("optional", [])]:
            kind, options = {**info["input"].get("required", {}),
                             **info["input"].get("optional", {})}[name]
            ours = mapping.input_name(name) if mapping is not None else name
            value = spec.inputs.get(ours)
            link = as_link(value)
            is_widget = (isinstance(kind, list) or kind in WIDGET_TYPES) and \
                not options.get("forceInput")
            if link is not None or not is_widget:
                slot = {"name": name, "type": "COMBO" if isinstance(kind, list) else kind,
                        "link": None}
                if is_widget:
                    slot["widget"] = {"name": name}
                if link is not None and link.node in numbers:
                    link_id = len(links) + 1
                    origin = slot_of[link.node].get(link.output, 0)
                    links.append([link_id, numbers[link.node], origin, numbers[node_id],
                                  len(inputs), slot["type"]])
                    out_links[(link.node, origin)].append(link_id)
                    slot["link"] = link_id
                inputs.append(slot)
            if not is_widget:
                continue
            if mapping is not None and name in mapping.dropped:
                widgets.append(mapping.fill.get(name, options.get("default")))
            elif value is None or link is not None:
                widgets.append(options.get("default"))
            else:
                convert = mapping.exported.get(ours) if mapping is not None else None
                widgets.append(convert(value) if convert is not None else value)
            if options.get("control_after_generate"):
                widgets.append((ui.get("controls") or {}).get(ours, "fixed"))
            upload = upload or bool(options.get("image_upload"))
        if upload:  # the frontend adds the picker button after the node's widgets
            widgets.append("image")
        outputs = [{"name": out_name, "type": out_type, "slot_index": index,
                    "links": out_links.get((node_id, index)) or None}
                   for index, (out_name, out_type) in enumerate(zip(info["output_name"],
                                                                    info["output"]))]
        height = _ROW * (len(inputs) + len(widgets) + len(outputs)) + 40
        node: dict[str, Any] = {
            "id": numbers[node_id], "type": comfy_type,
            "pos": ui.get("pos") or positions[node_id],
            "size": ui.get("size") or [_WIDTH, height],
            "flags": {"collapsed": True} if ui.get("collapsed") else {},
            "order": order, "mode": _MODES.get(spec.mode or "", 0),
            "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": comfy_type},
            "widgets_values": widgets}
        if isinstance(ui.get("title"), str) and ui["title"]:
            node["title"] = ui["title"]
        nodes.append(node)
    for node in nodes:
        for out in node["outputs"]:
            if out["links"]:
                out["links"].sort()
    view_ui = (workflow.ui or {}).get("view") or {}
    return {
        "last_node_id": max(numbers.values(), default=0),
        "last_link_id": len(links),
        "nodes": nodes, "links": links, "groups": [], "config": {},
        "extra": {"ds": {"scale": view_ui.get("scale", 1.0),
                         "offset": view_ui.get("offset", [0, 0])}},
        "version": 0.4,
    }


def _output_slots(nodeflow_type: str, registry: Registry) -> dict[str, int]:
    """nodeflow output name -> ComfyUI output index."""
    mapping = export_mapping_for(nodeflow_type)
    if mapping is not None and mapping.outputs:
        return {name: index for index, name in enumerate(mapping.outputs)}
    node_def = registry.get(nodeflow_type)
    return {o.name: i for i, o in enumerate(node_def.outputs)} if node_def else {}


def _numbers(ids: list[str]) -> dict[str, int]:
    """ComfyUI's numeric node ids: the ids themselves when they are all numbers."""
    if all(i.isdigit() for i in ids) and len({int(i) for i in ids}) == len(ids):
        return {i: int(i) for i in ids}
    return {node_id: index + 1 for index, node_id in enumerate(ids)}


def _layout(workflow: Workflow) -> dict[str, list[float]]:
    """Columns by distance from the sources, for nodes that carry no position."""
    depth: dict[str, int] = {}

    def column(node_id: str, seen: frozenset = frozenset()) -> int:
        if node_id in depth:
            return depth[node_id]
        sources = [link.node for v in workflow.nodes[node_id].inputs.values()
                   if (link := _link(v)) is not None and link.node in workflow.nodes
                   and link.node not in seen]
        depth[node_id] = 1 + max((column(s, seen | {node_id}) for s in sources), default=-1)
        return depth[node_id]

    rows: dict[int, int] = defaultdict(int)
    positions = {}
    for node_id in workflow.nodes:
        col = column(node_id)
        positions[node_id] = [50 + col * (_WIDTH + _GAP), 50 + rows[col] * 260]
        rows[col] += 1
    return positions


def _link(value: Any):
    try:
        return as_link(value)
    except ValueError:
        return None
