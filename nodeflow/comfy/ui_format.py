"""ComfyUI editor workflows (the UI format) -> nodeflow workflows.

The UI format is a LiteGraph drawing: ``nodes`` is a list of ``{id, type, pos, size, flags,
mode, inputs, outputs, widgets_values, ...}`` where literal values sit in ``widgets_values`` by
position, and ``links`` are ``[id, from_node, from_slot, to_node, to_slot, type]`` (version 0.4)
or objects ``{id, origin_id, origin_slot, target_id, target_slot, type}`` (version 1).

It is reduced to an API-format prompt the way ComfyUI's editor does before it queues one
(widgets named by the mapping table, Reroutes followed, PrimitiveNode values copied into the
inputs they feed), and the API-format converter does the rest. Muted and bypassed nodes of
types nodeflow knows are kept with their mode ("mute", "bypass"), so the user can switch them
back on; those of unknown types are left out (muted) or passed through (bypassed), as ComfyUI
does before it queues a prompt. Positions, titles, sizes, groups, notes and seed controls are
kept in the workflow's ``ui``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, WorkflowError, short_repr
from ..registry import Registry
from .api_format import convert_api_prompt
from .mapping import (
    WIDGET_NAMES,
    CONTROL,
    CONTROL_MODES,
    NOTE_TYPES,
    PRIMITIVE_NODE,
    REROUTE,
    literal_widgets,
    mapping_for,
    node_widgets,
)
from .object_view import UPLOAD_WIDGET, native_type

MUTED, BYPASSED = 2, 4
"""LiteGraph node modes: never runs / passes its inputs through (ComfyUI's "bypass")."""
MODE_NAMES = {MUTED: "mute", BYPASSED: "bypass"}
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = "-10", "-20"
"""The ids of a ComfyUI subgraph's input and output nodes in its links."""
INPUTS = "@inputs"


def is_ui_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


@dataclass
class _Link:
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: Any


@dataclass
class _Graph:
    nodes: dict[str, dict]
    links: dict[str, _Link]
    problems: list[Problem] = field(default_factory=list)
    kept_modes: dict[str, str] = field(default_factory=dict)  # node id -> "mute" / "bypass"
    notes: list[str] = field(default_factory=list)
    promoted: dict[int, Any] = field(default_factory=dict)
    """Subgraph input slot -> the value of the inner widget it feeds (a promoted widget:
    frontends from 1.28 keep its value on the inner node, not on the subgraph node)."""


def convert_ui_workflow(data: dict, registry: Registry | None = None
                        ) -> tuple[dict, list[Problem], list[str]]:
    """(nodeflow workflow dict, problems, notes) for a ComfyUI editor workflow.

    Raises :class:`WorkflowError` when ``data`` is not a UI-format workflow at all; anything
    wrong with single nodes or links is a problem naming them, and the rest still converts.
    """
    graph = _read_graph(data)
    definitions = _definitions(data, graph)
    kinds = {uuid: (name, tuple(_io_names(d.get("outputs"))))
             for uuid, (name, d) in definitions.items()}
    subgraphs = {}
    for uuid, (name, definition) in definitions.items():
        subgraphs[name] = _subgraph(uuid, name, definition, kinds, registry, graph)
    workflow, problems, notes_ui = _convert_graph(graph, data, kinds, None, registry)
    top_ui = _top_ui(data, notes_ui)
    if subgraphs:
        workflow["subgraphs"] = subgraphs
    if top_ui:
        workflow["ui"] = top_ui
    if notes_ui:
        graph.notes.append(f"{len(notes_ui)} note(s) kept in the workflow's ui.notes (nodeflow "
                           "has no note nodes; the editor does not show them yet)")
    return workflow, graph.problems + problems, graph.notes


def _convert_graph(graph: "_Graph", data: dict, kinds: dict, inputs: tuple[str, ...] | None,
                   registry: Registry | None) -> tuple[dict, list[Problem], list[dict]]:
    """One drawing (the main graph or a subgraph's) -> (nodeflow nodes, problems, notes)."""
    graph.kept_modes = {node_id: MODE_NAMES[node.get("mode")]
                        for node_id, node in graph.nodes.items()
                        if _mode_number(node) in MODE_NAMES and _known(node["type"], registry)}
    prompt: dict[str, dict] = {}
    ui_of: dict[str, dict] = {}
    notes_ui: list[dict] = []
    for node_id, node in graph.nodes.items():
        kind = node["type"]
        mode = node.get("mode", 0)
        if kind in NOTE_TYPES:
            notes_ui.append(_note(node_id, node))
            continue
        if kind in (REROUTE, PRIMITIVE_NODE):
            continue
        if mode == MUTED and node_id not in graph.kept_modes:
            graph.notes.append(f"node '{node_id}' ({kind}) is muted: left out, as ComfyUI "
                               "leaves it out")
            continue
        if mode == BYPASSED and node_id not in graph.kept_modes:
            graph.notes.append(f"node '{node_id}' ({kind}) is bypassed: left out, its inputs "
                               "passed on to the nodes it fed, as ComfyUI does")
            continue
        prompt[node_id], ui_of[node_id] = _entry(graph, node_id, node, registry)
    sources = {INPUTS: inputs} if inputs is not None else None
    workflow, problems = convert_api_prompt(prompt, registry, kinds, sources)
    for node_id, spec in workflow["nodes"].items():
        if node_id in graph.kept_modes:
            spec["mode"] = graph.kept_modes[node_id]
        ui = {**ui_of.get(node_id, {}), **(spec.get("ui") or {})}
        if ui:
            spec["ui"] = ui
    workflow["nodes"] = {k: workflow["nodes"][k] for k in sorted(workflow["nodes"], key=_id_key)}
    return workflow, problems, notes_ui


# -- subgraphs (definitions.subgraphs, ComfyUI frontend 1.24+) -------------------------------

def _definitions(data: dict, graph: "_Graph") -> dict[str, tuple[str, dict]]:
    """uuid -> (nodeflow subgraph name, definition); names are the ComfyUI names, made
    unique."""
    found: dict[str, tuple[str, dict]] = {}
    definitions = data.get("definitions")
    raw = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    if raw is None:
        return found
    if not isinstance(raw, list):
        graph.problems.append(Problem(None, None, "definitions.subgraphs must be a list",
                                      "bad_node"))
        return found
    taken: set[str] = set()
    for index, definition in enumerate(raw):
        if not isinstance(definition, dict) or not isinstance(definition.get("id"), str) or \
                not isinstance(definition.get("nodes"), list):
            graph.problems.append(Problem(None, None, f"definitions.subgraphs[{index}] is not a "
                                                      "subgraph: expected an object with an "
                                                      "\"id\" and \"nodes\"", "bad_node"))
            continue
        base = definition.get("name") if isinstance(definition.get("name"), str) and \
            definition.get("name").strip() else definition["id"]
        name, n = base, 2
        while name in taken:
            name, n = f"{base} ({n})", n + 1
        taken.add(name)
        found[definition["id"]] = (name, definition)
    return found


def _io_names(entries: Any) -> list[str]:
    names = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        names.append(name if isinstance(name, str) and name else f"slot{index}")
    return names


def _subgraph(uuid: str, name: str, definition: dict, kinds: dict,
              registry: Registry | None, outer: "_Graph") -> dict:
    """A ComfyUI subgraph definition -> a nodeflow ``subgraphs`` entry. Problems inside it
    are reported with the subgraph's name in front of the node id."""
    inner_data = {"nodes": definition["nodes"], "links": definition.get("links") or []}
    graph = _read_graph(inner_data)
    input_names = tuple(_io_names(definition.get("inputs")))
    output_names = _io_names(definition.get("outputs"))
    converted, problems, _ = _convert_graph(graph, inner_data, kinds, input_names, registry)
    nodes = converted["nodes"]
    for problem in graph.problems + problems:
        where = f"{name}/{problem.node}" if problem.node else name
        outer.problems.append(Problem(where, problem.input, problem.message, problem.kind))
    outer.notes.extend(f"subgraph '{name}': {note}" for note in graph.notes)
    inputs = {}
    for index, entry in enumerate(definition.get("inputs") or []):
        kind = entry.get("type") if isinstance(entry, dict) else None
        inputs[input_names[index]] = {"type": kind if isinstance(kind, str) else "*"}
        if index in graph.promoted:  # what runs when the subgraph node's input is left open
            inputs[input_names[index]]["default"] = graph.promoted[index]
    outputs = {}
    for link in graph.links.values():
        if link.target != SUBGRAPH_OUTPUT:
            continue
        if link.target_slot >= len(output_names):
            outer.problems.append(Problem(name, None, f"a link goes to output {link.target_slot}"
                                                      f", which the subgraph does not have",
                                          "missing_output"))
            continue
        source = _inner_output(link, nodes, graph, kinds, registry, input_names)
        if source is not None:
            outputs[output_names[link.target_slot]] = source
    for missing in [n for n in output_names if n not in outputs]:
        outer.problems.append(Problem(name, None, f"output '{missing}' is not connected inside "
                                                  "the subgraph", "missing_output"))
    result: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "nodes": nodes}
    result["ui"] = {"comfy_id": uuid}
    return result


def _inner_output(link: "_Link", nodes: dict, graph: "_Graph", kinds: dict,
                  registry: Registry | None, input_names: tuple[str, ...]) -> dict | None:
    if link.origin == SUBGRAPH_INPUT:
        if link.origin_slot < len(input_names):
            return {"node": INPUTS, "output": input_names[link.origin_slot]}
        return None
    if link.origin not in nodes:
        return None
    origin = graph.nodes[link.origin]
    names: tuple[str, ...] = ()
    if origin["type"] in kinds:
        names = kinds[origin["type"]][1]
    else:
        mapping = mapping_for(origin["type"])
        if mapping is not None:
            names = mapping.outputs
        elif registry is not None and registry.get(origin["type"]) is not None:
            names = tuple(o.name for o in registry.get(origin["type"]).outputs)
    if link.origin_slot >= len(names):
        return None
    return {"node": link.origin, "output": names[link.origin_slot]}


# -- reading the drawing ---------------------------------------------------------------------

def _read_graph(data: dict) -> _Graph:
    if not is_ui_workflow(data):
        raise WorkflowError([Problem(None, None, "not a ComfyUI editor workflow: expected "
                                                 "\"nodes\" (a list) and \"links\"")])
    problems: list[Problem] = []
    nodes: dict[str, dict] = {}
    for index, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or not _is_id(node.get("id")) or \
                not isinstance(node.get("type"), str):
            problems.append(Problem(None, None, f"nodes[{index}] is not a node: expected an "
                                                "object with an \"id\" and a \"type\"", "bad_node"))
            continue
        node_id = str(node["id"])
        if node_id in nodes:
            problems.append(Problem(node_id, None, f"two nodes have the id {node_id}", "bad_node"))
            continue
        nodes[node_id] = node
    links: dict[str, _Link] = {}
    raw_links = data["links"] if isinstance(data["links"], list) else None
    if raw_links is None:
        raise WorkflowError([Problem(None, None, "\"links\" must be a list")])
    for index, raw in enumerate(raw_links):
        link = _parse_link(raw)
        if link is None:
            problems.append(Problem(None, None, f"links[{index}] is not a link: expected "
                                    "[id, from_node, from_slot, to_node, to_slot, type] or an "
                                    f"object with origin_id/target_id (got {short_repr(raw)})",
                                    "bad_link"))
            continue
        links[link[0]] = link[1]
    return _Graph(nodes, links, problems)


def _parse_link(raw: Any) -> tuple[str, _Link] | None:
    if isinstance(raw, list) and len(raw) >= 5:
        link_id, origin, origin_slot, target, target_slot = raw[:5]
        kind = raw[5] if len(raw) > 5 else None
    elif isinstance(raw, dict):
        link_id, origin, origin_slot = raw.get("id"), raw.get("origin_id"), raw.get("origin_slot")
        target, target_slot, kind = raw.get("target_id"), raw.get("target_slot"), raw.get("type")
    else:
        return None
    if not (_is_id(link_id) and _is_id(origin) and _is_id(target) and _is_index(origin_slot)
            and _is_index(target_slot)):
        return None
    return str(link_id), _Link(str(origin), origin_slot, str(target), target_slot, kind)


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or \
        (isinstance(value, str) and bool(value))


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _id_key(node_id: str) -> tuple:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


# -- one node -> one API-format entry --------------------------------------------------------

def _entry(graph: _Graph, node_id: str, node: dict, registry: Registry | None
           ) -> tuple[dict, dict]:
    kind = node["type"]
    inputs: dict[str, Any] = {}
    ui: dict[str, Any] = {}
    widget_names = _widget_names(kind, registry)
    if widget_names is not None:
        node_def = registry.get(kind) if registry is not None else None
        pack = node_def is not None and "comfy" in node_def.extra_schema
        _widgets(graph, node_id, node, widget_names, inputs, ui, pack)
    for slot, entry in enumerate(_slots(node)):
        if not isinstance(entry, dict) or entry.get("link") is None:
            continue
        name = entry.get("name")
        if not isinstance(name, str):
            graph.problems.append(Problem(node_id, None, f"input slot {slot} has no name",
                                          "bad_link"))
            continue
        source = _source(graph, node_id, name, entry["link"], set())
        if source is None:  # as ComfyUI does, the input goes, its widget value too
            inputs.pop(name, None)
            continue
        if isinstance(source, list) and source[0] == INPUTS and name in inputs:
            graph.promoted.setdefault(source[1], inputs[name])
        inputs[name] = source
    for key in ("pos", "size"):
        value = _pair(node.get(key))
        if value is not None:
            ui[key] = value
    if isinstance(node.get("title"), str) and node["title"]:
        ui["title"] = node["title"]
    if isinstance(node.get("flags"), dict) and node["flags"].get("collapsed"):
        ui["collapsed"] = True
    entry = {"class_type": kind, "inputs": inputs}
    return entry, ui


def _widget_names(kind: str, registry: Registry | None) -> tuple[str, ...] | None:
    """ComfyUI's widget order for ``kind``; for a nodeflow type, its literal inputs in order
    (a seed-like input followed by its control). None: unknown, the converter reports it."""
    mapping = mapping_for(kind)
    if mapping is not None:
        extra = _nodeflow_only_widgets(mapping, registry)
        if not extra:
            return mapping.widgets
        # the view publishes them after ComfyUI's widgets, before the picker button
        table = list(mapping.widgets)
        tail = [table.pop()] if table and table[-1] == UPLOAD_WIDGET else []
        return tuple(table + list(extra) + tail)
    node_def = registry.get(native_type(kind, registry)) if registry is not None else None
    if node_def is None:
        return None
    return node_widgets(node_def)


def _nodeflow_only_widgets(mapping, registry: Registry | None) -> tuple[str, ...]:
    """The literal inputs of a mapped node that ComfyUI's node does not have (VAEEncode's
    mode and seed): the ComfyUI view publishes them as widgets after ComfyUI's own
    (object_view.mapped_info), so the frontend saves their values there."""
    node_def = registry.get(mapping.nodeflow_type) if registry is not None else None
    if node_def is None:
        return ()
    named = set(mapping.widgets)
    return literal_widgets((name, spec) for name, spec in node_def.inputs.items()
                            if mapping.comfy_input_name(name) not in named)


def _widgets(graph: _Graph, node_id: str, node: dict, names: tuple[str, ...],
             inputs: dict, ui: dict, pack: bool = False) -> None:
    values = node.get("widgets_values")
    if values is None or values == []:
        if any(n != CONTROL for n in names):  # saved before its widgets existed, or stripped
            graph.notes.append(f"node '{node_id}' ({node['type']}) was saved without widget "
                               "values: kept with the default values")
        return
    if isinstance(values, dict):  # some nodes save their widgets by name
        inputs.update({n: values[n] for n in names if n in values and n != CONTROL})
        return
    if not isinstance(values, list):
        graph.problems.append(Problem(node_id, None, "widgets_values must be a list, got "
                                                     f"{short_repr(values)}", "widget_values"))
        return
    needed = len(names)
    optional = _optional_tail(node["type"]) + _nodeflow_only(node["type"], names)
    while needed and names[needed - 1] in optional:
        needed -= 1
    if len(values) < needed:
        graph.problems.append(Problem(node_id, None, f"{node['type']} has {len(names)} widget "
                                      f"values ({', '.join(names)}), the file gives "
                                      f"{len(values)}: {short_repr(values)}", "widget_values"))
        return
    mapping = mapping_for(node["type"])
    tail, extra = values[len(names):], {}
    named = (node.get("properties") or {}).get(WIDGET_NAMES) if isinstance(
        node.get("properties"), dict) else None
    if tail and pack and isinstance(named, list) and len(named) == len(tail) and all(
            isinstance(n, str) for n in named):
        extra = dict(zip(named, tail))  # nodeflow's export named them: inputs of the node
    elif tail and pack:
        # a ComfyUI pack's node: widgets its editor extension added, after the node's own;
        # kept for the editor, which gives them back to those widgets in order
        ui["comfy_widgets"] = tail
    elif len(values) > len(names):
        graph.notes.append(f"node '{node_id}' ({node['type']}): {len(values) - len(names)} "
                           "extra widget value(s) ignored")
    for index, (name, value) in enumerate(zip(names, values)):
        if name == CONTROL:  # the editor's "control after generate" of the widget before it
            if value in CONTROL_MODES and index > 0:
                seed = names[index - 1]
                seed = mapping.input_name(seed) if mapping is not None else seed
                ui.setdefault("controls", {})[seed] = value
            continue
        inputs[name] = value
    inputs.update(extra)


def _nodeflow_only(kind: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Widgets a file made by ComfyUI itself lacks: a mapped node's nodeflow-only inputs."""
    mapping = mapping_for(kind)
    return tuple(n for n in names if n not in mapping.widgets) if mapping is not None else ()


def _optional_tail(kind: str) -> tuple[str, ...]:
    """Widgets an older file may lack at the end: the dropped ones, a trailing control."""
    mapping = mapping_for(kind)
    dropped = tuple(mapping.dropped) + mapping.added if mapping is not None else ()
    return dropped + (CONTROL,)


def _source(graph: _Graph, node_id: str, input_name: str, link_id: Any, seen: set
            ) -> list | Any | None:
    """What feeds ``input_name``: ``[origin_id, slot]``, a literal (from a PrimitiveNode),
    or None when nothing does (a muted source; problems and notes say why)."""
    link = graph.links.get(str(link_id)) if _is_id(link_id) else None
    if link is None:
        graph.problems.append(Problem(node_id, input_name, f"uses link {link_id}, which is not "
                                                           "in the file's links", "bad_link"))
        return None
    if link.origin == SUBGRAPH_INPUT:
        return [INPUTS, link.origin_slot]
    origin = graph.nodes.get(link.origin)
    if origin is None:
        graph.problems.append(Problem(node_id, input_name, f"links to node '{link.origin}', "
                                                           "which is not in the workflow",
                                      "missing_node"))
        return None
    if link.origin in seen:
        graph.problems.append(Problem(node_id, input_name, "links through a loop of Reroute "
                                                           "or bypassed nodes", "cycle"))
        return None
    seen.add(link.origin)
    kind, mode = origin["type"], origin.get("mode", 0)
    if link.origin in graph.kept_modes:  # kept with its mode: the engine resolves it
        return [link.origin, link.origin_slot]
    if kind == PRIMITIVE_NODE:
        values = origin.get("widgets_values")
        if isinstance(values, list) and values:
            return values[0]
        graph.problems.append(Problem(node_id, input_name, f"is fed by PrimitiveNode "
                                                           f"'{link.origin}', which has no value",
                                      "widget_values"))
        return None
    if kind == REROUTE or mode == BYPASSED:
        upstream = _pass_through_input(origin, link)
        if upstream is None:
            if mode == BYPASSED:
                graph.notes.append(f"node '{node_id}' input '{input_name}': the bypassed node "
                                   f"'{link.origin}' ({kind}) has no input of type "
                                   f"{link.type} to pass on; left unconnected")
            return None
        return _source(graph, node_id, input_name, upstream, seen)
    if mode == MUTED:
        graph.notes.append(f"node '{node_id}' input '{input_name}': its source '{link.origin}' "
                           f"({kind}) is muted; left unconnected")
        return None
    return [link.origin, link.origin_slot]


def _mode_number(node: dict) -> Any:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) and not isinstance(mode, bool) else None


def _known(kind: str, registry: Registry | None) -> bool:
    """Whether a node of ComfyUI type ``kind`` converts to a nodeflow node."""
    return mapping_for(kind) is not None or (registry is not None and
                                             native_type(kind, registry) in registry)


def _pass_through_input(node: dict, link: _Link) -> Any | None:
    """The link into ``node`` that a Reroute or a bypassed node passes on to output
    ``link.origin_slot``: the input at the same slot if its type matches, else the first input
    of that type (a Reroute has one input and passes it whatever its type)."""
    entries = [e if isinstance(e, dict) else {} for e in _slots(node)]
    if node["type"] == REROUTE:
        return entries[0].get("link") if entries else None
    wanted = link.type
    outputs = node.get("outputs") if isinstance(node.get("outputs"), list) else []
    if wanted is None and link.origin_slot < len(outputs) and \
            isinstance(outputs[link.origin_slot], dict):
        wanted = outputs[link.origin_slot].get("type")
    candidates = []
    if link.origin_slot < len(entries):
        candidates.append(entries[link.origin_slot])
    candidates += entries
    for entry in candidates:
        if entry.get("link") is not None and entry.get("type") == wanted:
            return entry["link"]
    return None


def _slots(node: dict) -> list:
    inputs = node.get("inputs")
    return inputs if isinstance(inputs, list) else []


def _pair(value: Any) -> list | None:
    """``[x, y]`` from a list or from old files' ``{"0": x, "1": y}``."""
    if isinstance(value, dict):
        value = [value.get("0"), value.get("1")]
    if isinstance(value, list) and len(value) >= 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value[:2]):
        return [_number(v) for v in value[:2]]
    return None


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


# -- what the graph has besides nodes --------------------------------------------------------

def _note(node_id: str, node: dict) -> dict:
    values = node.get("widgets_values")
    text = values[0] if isinstance(values, list) and values and isinstance(values[0], str) \
        else ""
    note: dict[str, Any] = {"id": node_id, "type": node["type"], "text": text}
    for key in ("pos", "size"):
        value = _pair(node.get(key))
        if value is not None:
            note[key] = value
    if isinstance(node.get("title"), str):
        note["title"] = node["title"]
    return note


def _top_ui(data: dict, notes: list[dict]) -> dict:
    ui: dict[str, Any] = {}
    groups = []
    for group in data["groups"] if isinstance(data.get("groups"), list) else []:
        if not isinstance(group, dict):
            continue
        bounding = group.get("bounding")
        if not (isinstance(bounding, list) and len(bounding) == 4):
            continue
        kept = {"title": str(group.get("title", "")),
                "bounding": [_number(v) for v in bounding
                             if isinstance(v, (int, float)) and not isinstance(v, bool)]}
        if len(kept["bounding"]) != 4:
            continue
        if isinstance(group.get("color"), str):
            kept["color"] = group["color"]
        groups.append(kept)
    if groups:
        ui["groups"] = groups
    extra = data.get("extra")
    ds = extra.get("ds") if isinstance(extra, dict) else None
    if isinstance(ds, dict):
        offset, scale = _pair(ds.get("offset")), ds.get("scale")
        if offset is not None and isinstance(scale, (int, float)) and not isinstance(scale, bool):
            ui["view"] = {"offset": offset, "scale": round(float(scale), 3)}
    if notes:
        ui["notes"] = notes
    return ui
