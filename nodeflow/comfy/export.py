"""nodeflow workflows -> ComfyUI: the API format (a prompt ComfyUI can queue) and the editor's
UI format (what ComfyUI opens from a PNG's ``workflow`` chunk), through the same mapping table
as the importers. A node type ComfyUI has no counterpart for is a problem naming the node; a
workflow is only exported when every node maps. Subgraphs are flattened in the API format and
written as ComfyUI subgraph definitions in the UI format (nodeflow/comfy/export_subgraphs.py).
"""
from __future__ import annotations

import functools
import json
from collections import defaultdict
from typing import Any

import networkx as nx

from ..errors import Problem
from ..engine.graph import build_graph
from ..engine.modes import resolve_modes
from ..registry import Registry
from ..workflow import Workflow, as_link
from .api_format import is_api_link
from .mapping import (CONTROL, NOTE_TYPES, WIDGET_NAMES, NodeMapping, export_mapping_for,
                      node_widgets)

_NODE_WIDTH, _ROW = 315, 26
_MODE_NUMBERS = {"mute": 2, "bypass": 4}  # LiteGraph's modes, as ComfyUI saves them


def _flat(workflow: Workflow, registry: Registry) -> tuple[Workflow, list[Problem]]:
    """Subgraphs written out: ComfyUI runs the flat graph the same (inner ids are paths)."""
    from ..engine.subgraphs import flatten

    flat = flatten(workflow, registry)
    return flat.workflow, flat.problems


def export_api(workflow: Workflow, registry: Registry) -> tuple[dict, list[Problem]]:
    """(API-format prompt keyed by the nodeflow node ids, problems). Only usable when the
    problem list is empty. Subgraph nodes are written as their inner nodes (``sub/inner``),
    and muted and bypassed nodes are resolved, as ComfyUI's editor does before it queues a
    prompt."""
    flat, problems = _flat(workflow, registry)
    active, more = resolve_modes(flat, registry)
    prompt, rest = _prompt(active, registry)
    return prompt, problems + more + rest


def _prompt(workflow: Workflow, registry: Registry) -> tuple[dict, list[Problem]]:
    """Every node of ``workflow`` as an API-format entry, modes ignored."""
    problems: list[Problem] = []
    mappings = _mappings(workflow, registry, problems)
    prompt: dict[str, dict] = {}
    for node_id, spec in workflow.nodes.items():
        if node_id not in mappings:
            continue
        mapping = mappings[node_id]
        inputs = _comfy_inputs(node_id, spec, mapping, mappings, workflow.nodes, registry,
                               problems)
        entry: dict[str, Any] = {"inputs": inputs, "class_type": mapping.comfy_type}
        title = (spec.ui or {}).get("title")
        entry["_meta"] = {"title": title if isinstance(title, str) and title
                          else registry.get(spec.type).display_name}
        prompt[node_id] = entry
    return prompt, problems


def export_ui(workflow: Workflow, registry: Registry) -> tuple[dict, list[Problem]]:
    """(ComfyUI editor workflow, version 0.4 with numeric ids, problems). Subgraphs (the
    file's and components) become ComfyUI subgraph definitions (``definitions.subgraphs``,
    instances typed by the definition's uuid); a literal given to a subgraph node's input
    becomes a PrimitiveNode feeding it, as ComfyUI draws it."""
    from .export_subgraphs import collect_subgraphs, definition_json

    problems: list[Problem] = []
    kinds = collect_subgraphs(workflow, registry, problems)
    if problems:
        return {}, problems
    drawing = _draw(workflow.nodes, registry, kinds, None, problems)
    if problems:
        return {}, problems
    definitions = []
    for kind in kinds.values():
        inner = _draw(kind.definition.nodes, registry, kinds, kind, problems)
        definitions.append(definition_json(kind, inner))
    if problems:
        return {}, problems
    nodes, links = drawing.nodes, drawing.links
    nodes += _note_nodes(workflow, max((n["id"] for n in nodes), default=0))
    top_ui = workflow.ui or {}
    view = top_ui.get("view") or {}
    result = {
        "last_node_id": max((n["id"] for n in nodes), default=0),
        "last_link_id": len(links),
        "nodes": nodes, "links": links,
        "groups": [{"title": g.get("title", ""), "bounding": g.get("bounding"),
                    "color": g.get("color", "#3f789e"), "font_size": 24, "flags": {}}
                   for g in top_ui.get("groups") or [] if isinstance(g, dict)
                   and isinstance(g.get("bounding"), list)],
        "config": {},
        "extra": {"ds": {"scale": view.get("scale", 1.0),
                         "offset": view.get("offset", [0, 0])}},
        "version": 0.4,
    }
    if definitions:
        result["definitions"] = {"subgraphs": definitions}
    return result, []


class _Source:
    """A link source that is not a mapped node: a subgraph node, or a subgraph's inputs."""

    def __init__(self, names: list[str], types: list[str]):
        self.outputs = tuple(names)
        self.types = list(types)


class _Drawing:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.io_links: dict[str, list[int]] = defaultdict(list)
        """Links from a subgraph's inputs (by input name) and to its outputs (by output)."""


def _draw(specs: dict, registry: Registry, kinds: dict, inside, problems: list[Problem]
          ) -> _Drawing:
    """One graph in ComfyUI's editor format: ``specs`` is the workflow's nodes or, when
    ``inside`` is a subgraph, its nodes (links from ``@inputs`` come from ComfyUI's input node
    -10, its outputs go to the output node -20)."""
    from .export_subgraphs import INPUT_NODE, OUTPUT_NODE

    workflow = Workflow.model_construct(nodeflow=1, nodes=specs)
    drawing = _Drawing()
    mappings: dict[str, Any] = {}
    for node_id, spec in specs.items():
        kind = kinds.get(spec.type)
        if kind is not None:
            mappings[node_id] = _Source([n for n, _ in kind.outputs], [t for _, t in kind.outputs])
            continue
        mapping = export_mapping_for(spec.type) or pack_mapping(registry.get(spec.type))
        if mapping is None or registry.get(spec.type) is None:
            problems.append(Problem(node_id, None, f"{spec.type} has no ComfyUI counterpart",
                                    "untranslatable"))
            continue
        mappings[node_id] = mapping
    if inside is not None:
        mappings["@inputs"] = _Source([n for n, _ in inside.inputs], [t for _, t in inside.inputs])
    if problems:
        return drawing
    numbers = _numbers(list(specs))
    order = {node_id: i for i, node_id in enumerate(_execution_order(workflow))}
    positions = _layout(workflow)
    next_id = [max(numbers.values(), default=0) + 1]
    out_links: dict[tuple[str, int], list[int]] = defaultdict(list)

    def link(origin: str, slot: int, target: int, target_slot: int, kind: str) -> int:
        link_id = len(drawing.links) + 1
        origin_number = INPUT_NODE if origin == "@inputs" else numbers.get(origin, origin)
        drawing.links.append([link_id, origin_number, slot, target, target_slot, kind])
        if origin == "@inputs":
            drawing.io_links[mappings["@inputs"].outputs[slot]].append(link_id)
        else:
            out_links[(origin, slot)].append(link_id)
        return link_id

    def source_type(source_id: str, index: int) -> str:
        source = mappings[source_id]
        if isinstance(source, _Source):
            return source.types[index]
        return registry.get(specs[source_id].type).outputs[index].socket.type_name

    for node_id, spec in specs.items():
        ui = spec.ui or {}
        kind = kinds.get(spec.type)
        pos = ui.get("pos") or positions[node_id]
        if kind is not None:
            node = _instance_node(node_id, spec, kind, mappings, numbers, pos, next_id,
                                  link, drawing, problems)
        else:
            node = _mapped_node(node_id, spec, mappings, specs, registry, numbers, pos, link,
                                source_type, problems)
        node["order"] = order[node_id]
        if isinstance(ui.get("title"), str) and ui["title"]:
            node["title"] = ui["title"]
        drawing.nodes.append(node)
    if inside is not None:
        for index, (name, _) in enumerate(inside.outputs):
            target = inside.definition.outputs[name]
            if target.node == "@inputs":
                slot = mappings["@inputs"].outputs.index(target.output)
                kind_name = mappings["@inputs"].types[slot]
            elif target.node in mappings:
                slot = mappings[target.node].outputs.index(target.output)
                kind_name = source_type(target.node, slot)
            else:
                problems.append(Problem(None, None, f"subgraph '{inside.name}': output '{name}' "
                                        f"links to node '{target.node}', which it does not have",
                                        "missing_node"))
                continue
            link_id = link(target.node, slot, OUTPUT_NODE, index, kind_name)
            drawing.io_links[name].append(link_id)
    for node in drawing.nodes:
        node_id = node.pop("_nodeflow_id", None)
        if node_id is None:
            continue
        for index, out in enumerate(node["outputs"]):
            out["links"] = sorted(out_links.get((node_id, index), [])) or None
    return drawing


def _instance_node(node_id, spec, kind, mappings, numbers, pos, next_id, link, drawing,
                   problems) -> dict:
    slots = []
    for index, (name, kind_name) in enumerate(kind.inputs):
        slot: dict[str, Any] = {"name": name, "localized_name": name, "type": kind_name,
                                "link": None}
        slots.append(slot)
        declared = kind.definition.inputs[name]
        if name in spec.inputs:
            value = spec.inputs[name]
        elif "default" in declared.model_fields_set:
            value = declared.default  # ComfyUI would use the inner widget's value instead
        else:
            continue
        try:
            source = as_link(value)
        except ValueError as exc:
            problems.append(Problem(node_id, name, str(exc), "bad_link"))
            continue
        if source is not None:
            if source.node not in mappings:
                continue  # reported, or a link to a node that is not there (validation says so)
            outputs = mappings[source.node].outputs
            if source.output not in outputs:
                problems.append(Problem(node_id, name, f"links to output '{source.output}' of "
                                                       f"node '{source.node}', which ComfyUI "
                                                       "does not have", "missing_output"))
                continue
            slot["link"] = link(source.node, outputs.index(source.output), numbers[node_id],
                                index, kind_name)
            continue
        primitive = next_id[0]
        next_id[0] += 1
        link_id = len(drawing.links) + 1
        drawing.links.append([link_id, primitive, 0, numbers[node_id], index, kind_name])
        slot["link"] = link_id
        drawing.nodes.append({
            "id": primitive, "type": "PrimitiveNode",
            "pos": [pos[0] - 260, pos[1] + 90 * index], "size": [210, 82], "flags": {},
            "order": 0, "mode": 0, "inputs": [],
            "outputs": [{"name": kind_name, "type": kind_name, "links": [link_id],
                         "widget": {"name": name}}],
            "title": name, "properties": {"Run widget replace on values": False},
            "widgets_values": [value]})
    outputs = [{"name": name, "localized_name": name, "type": kind_name, "links": None}
               for name, kind_name in kind.outputs]
    return {"_nodeflow_id": node_id, "id": numbers[node_id], "type": kind.uuid, "pos": pos,
            "size": [225, _ROW * (len(slots) + len(outputs)) + 30], "flags": {}, "order": 0,
            "mode": _MODE_NUMBERS.get(spec.mode, 0), "inputs": slots, "outputs": outputs,
            "properties": {}, "widgets_values": []}


def _mapped_node(node_id, spec, mappings, specs, registry, numbers, pos, link, source_type,
                 problems) -> dict:
    mapping = mappings[node_id]
    node_def = registry.for_node(spec)
    entry = _comfy_inputs(node_id, spec, mapping, mappings, specs, registry, problems)
    ui = spec.ui or {}
    inputs: list[dict] = []
    widgets: list[Any] = []
    linked_widgets: dict[str, int] = {}
    for nf_name, input_spec in node_def.inputs.items():
        comfy_name = mapping.comfy_input_name(nf_name)
        value = entry.get(comfy_name)
        is_link = as_link(spec.inputs.get(nf_name)) is not None and comfy_name in entry
        widget = input_spec.socket.is_literal()
        if node_def.is_extra(nf_name) and not is_link:
            continue  # a value its extension's widget holds: after the node's own widgets
        if not widget or is_link:
            slot = {"name": comfy_name, "type": input_spec.socket.type_name, "link": None}
            if widget:
                slot["widget"] = {"name": comfy_name}
            if is_link:
                slot["link"] = link(value[0], value[1], numbers[node_id], len(inputs),
                                    source_type(value[0], value[1]))
                if widget:
                    linked_widgets[comfy_name] = slot["link"]
            inputs.append(slot)
    for name in mapping.widgets:
        if name == CONTROL:
            seed = mapping.input_name(mapping.widgets[mapping.widgets.index(name) - 1])
            widgets.append((ui.get("controls") or {}).get(seed, "fixed"))
            continue
        value = entry.get(name)
        if name in linked_widgets:  # a linked widget keeps a value slot in ComfyUI
            nf_name = mapping.input_name(name)
            default = node_def.inputs[nf_name].field.default \
                if nf_name in node_def.inputs else None
            value = _comfy_value(mapping, nf_name, default)
        widgets.append(value)
    properties = {"Node name for S&R": mapping.comfy_type}
    if "comfy" in node_def.extra_schema:  # a pack's node: then its extension's widgets
        widgets += _extension_widgets(ui)
        held = [name for name, value in spec.inputs.items() if _held(node_def, name, value)]
        if held:  # ComfyUI's format has no names for them: kept in the node's properties
            widgets += [spec.inputs[name] for name in held]
            properties[WIDGET_NAMES] = held
    outputs = [{"name": out.socket.type_name, "type": out.socket.type_name, "links": None,
                "slot_index": index} for index, out in enumerate(node_def.outputs)]
    width, height = ui.get("size") or [_NODE_WIDTH, _ROW * (len(inputs) + len(widgets)
                                                            + len(outputs)) + 30]
    return {
        "_nodeflow_id": node_id, "id": numbers[node_id], "type": mapping.comfy_type, "pos": pos,
        "size": [width, height], "flags": {"collapsed": True} if ui.get("collapsed") else {},
        "order": 0, "mode": _MODE_NUMBERS.get(spec.mode, 0), "inputs": inputs,
        "outputs": outputs, "properties": properties, "widgets_values": widgets}


def _held(node_def, name: str, value: Any) -> bool:
    """Whether input ``name`` holds a value of a widget the pack's extension draws: an
    undeclared input of an any-name node, or a pack's own type, given a literal."""
    spec = node_def.inputs.get(name)
    if spec is None or as_link(value) is not None:
        return False
    return node_def.is_extra(name) or (spec.json_value and not spec.socket.is_literal())


def _extension_widgets(ui: dict) -> list:
    """The values of widgets a pack's editor extension added (``ui.widgets``, by name, in the
    order the editor holds them; or as imported from ComfyUI, ``ui.comfy_widgets``), which
    ComfyUI keeps after the node's own in ``widgets_values``."""
    named = ui.get("widgets")
    if isinstance(named, dict) and named:
        return list(named.values())
    kept = ui.get("comfy_widgets")
    return list(kept) if isinstance(kept, list) else []


def comfy_chunks(workflow: Workflow, registry: Registry) -> dict[str, str]:
    """ComfyUI's PNG text chunks (``prompt``: API format, ``workflow``: UI format) for
    ``workflow``, or nothing when some node has no ComfyUI counterpart."""
    prompt, problems = export_api(workflow, registry)
    if problems:
        return {}
    ui, problems = export_ui(workflow, registry)
    if problems:
        return {}
    return {"prompt": json.dumps(prompt, ensure_ascii=False),
            "workflow": json.dumps(ui, ensure_ascii=False)}


@functools.lru_cache(maxsize=1)
def builtin_registry() -> Registry:
    """The built-in packs' node types (every type the mapping table names is built in).
    Cheap after the first call: the packs are already imported."""
    from ..plugins import load_registry

    return load_registry(None, entry_points=False, custom=False)


# -- pieces ----------------------------------------------------------------------------------

def pack_mapping(node_def) -> NodeMapping | None:
    """Nodes of ComfyUI packs export under their own names, inputs and outputs."""
    if node_def is None or "comfy" not in node_def.extra_schema:
        return None
    return NodeMapping(node_def.type_name, node_def.type_name,
                       tuple(o.name for o in node_def.outputs), widgets=node_widgets(node_def))


def _mappings(workflow: Workflow, registry: Registry, problems: list[Problem]
              ) -> dict[str, NodeMapping]:
    found = {}
    for node_id, spec in workflow.nodes.items():
        mapping = export_mapping_for(spec.type) or pack_mapping(registry.get(spec.type))
        if mapping is None or registry.get(spec.type) is None:
            problems.append(Problem(node_id, None, f"{spec.type} has no ComfyUI counterpart",
                                    "untranslatable"))
            continue
        found[node_id] = mapping
    return found


def _comfy_inputs(node_id: str, spec, mapping: NodeMapping, mappings: dict[str, NodeMapping],
                  node_ids, registry: Registry, problems: list[Problem]) -> dict[str, Any]:
    node_def = registry.for_node(spec)
    inputs: dict[str, Any] = {}
    for name in spec.inputs:
        if name not in node_def.inputs:
            problems.append(Problem(node_id, name, f"unknown input of {spec.type}",
                                    "unknown_input"))
    for name, input_spec in node_def.inputs.items():
        comfy_name = mapping.comfy_input_name(name)
        if name not in spec.inputs:
            if input_spec.required or not input_spec.socket.is_literal():
                continue  # an unconnected socket; ComfyUI reports it as nodeflow would
            inputs[comfy_name] = _comfy_value(mapping, name, input_spec.field.default)
            continue
        value = spec.inputs[name]
        try:
            link = as_link(value)
        except ValueError as exc:
            problems.append(Problem(node_id, name, str(exc), "bad_link"))
            continue
        if link is None:
            if isinstance(value, list) and (not input_spec.json_value or is_api_link(value)):
                problems.append(Problem(node_id, name, "a list value cannot be exported: "
                                        "ComfyUI reads a list as a link", "wrong_type"))
                continue
            inputs[comfy_name] = _comfy_value(mapping, name, value)
            continue
        source = mappings.get(link.node)
        if link.node not in mappings and link.node not in node_ids:
            problems.append(Problem(node_id, name, f"links to node '{link.node}', which is not "
                                                   "in the workflow", "missing_node"))
            continue
        if source is None:
            continue  # the source is reported: it has no ComfyUI counterpart
        if link.output not in source.outputs:
            problems.append(Problem(node_id, name, f"links to output '{link.output}' of node "
                                                   f"'{link.node}', which ComfyUI does not have",
                                    "missing_output"))
            continue
        inputs[comfy_name] = [link.node, source.outputs.index(link.output)]
    for comfy_name, value in mapping.fill.items():
        inputs.setdefault(comfy_name, value)
    return inputs


def _comfy_value(mapping: NodeMapping, name: str, value: Any) -> Any:
    convert = mapping.exported.get(name)
    return convert(value) if convert is not None else value


def _numbers(node_ids: list[str]) -> dict[str, int]:
    """ComfyUI's editor wants integer ids: numeric nodeflow ids keep their number, the others
    take the next free ones in file order."""
    numbers = {n: int(n) for n in node_ids if n.isdigit() and int(n) > 0}
    if len(set(numbers.values())) != len(numbers):
        numbers = {}
    next_free = max(numbers.values(), default=0) + 1
    for node_id in node_ids:
        if node_id not in numbers:
            numbers[node_id] = next_free
            next_free += 1
    return numbers


def _execution_order(workflow: Workflow) -> list[str]:
    graph = build_graph(workflow)
    try:
        return list(nx.lexicographical_topological_sort(graph, key=list(workflow.nodes).index))
    except (nx.NetworkXUnfeasible, ValueError):
        return list(workflow.nodes)


def _layout(workflow: Workflow) -> dict[str, list[int]]:
    """Columns by depth for nodes saved without a position."""
    graph = build_graph(workflow)
    depth: dict[str, int] = {}
    for node_id in _execution_order(workflow):
        depth[node_id] = 1 + max((depth.get(p, 0) for p in graph.predecessors(node_id)),
                                 default=-1)
    rows: dict[int, int] = defaultdict(int)
    positions = {}
    for node_id in workflow.nodes:
        column = depth.get(node_id, 0)
        positions[node_id] = [40 + column * 360, 40 + rows[column] * 260]
        rows[column] += 1
    return positions


def _note_nodes(workflow: Workflow, last_id: int) -> list[dict]:
    """The notes an import kept in ``ui.notes``, as ComfyUI note nodes again."""
    nodes = []
    for note in (workflow.ui or {}).get("notes") or []:
        if not isinstance(note, dict) or note.get("type") not in NOTE_TYPES:
            continue
        last_id += 1
        node = {"id": last_id, "type": note["type"], "pos": note.get("pos") or [0, 0],
                "size": note.get("size") or [400, 200], "flags": {}, "order": 0, "mode": 0,
                "inputs": [], "outputs": [], "properties": {},
                "widgets_values": [note.get("text", "")]}
        if isinstance(note.get("title"), str):
            node["title"] = note["title"]
        nodes.append(node)
    return nodes
