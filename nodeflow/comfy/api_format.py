"""ComfyUI API-format prompts -> nodeflow workflows.

An API-format prompt is ``{node_id: {"class_type": ..., "inputs": {...}, "_meta": {...}}}``
where a link is ``[source_id, output_index]``. Class types in the mapping table are translated;
a class type that is already a nodeflow node type (a ComfyUI client built the prompt from our
/object_info) passes through unchanged. Anything else is a problem naming the node.
"""
from __future__ import annotations

from typing import Any

from ..errors import Problem, short_repr
from ..registry import Registry
from .mapping import NodeMapping, mapping_for
from .object_view import native_type


def is_api_prompt(data: Any) -> bool:
    """Whether ``data`` looks like a ComfyUI API-format prompt."""
    return (isinstance(data, dict) and bool(data) and "nodeflow" not in data
            and all(isinstance(v, dict) and "class_type" in v for v in data.values()))


def convert_api_prompt(prompt: dict, registry: Registry | None = None,
                       subgraphs: dict[str, tuple[str, tuple[str, ...]]] | None = None,
                       sources: dict[str, tuple[str, ...]] | None = None
                       ) -> tuple[dict, list[Problem]]:
    """A nodeflow workflow dict for ``prompt``, and every problem met on the way.

    Node ids are kept, so ComfyUI clients see their own ids in progress messages and history.
    The workflow is only usable when the problem list is empty. ``subgraphs`` maps class types
    that are subgraphs (ComfyUI names them by uuid) to (nodeflow name, output names);
    ``sources`` are extra link sources that are not nodes (a subgraph's ``@inputs``), with
    their output names by index.
    """
    problems: list[Problem] = []
    kinds: dict[str, tuple[str, NodeMapping | None, tuple[str, ...]]] = {}
    for node_id, entry in prompt.items():
        class_type = entry.get("class_type") if isinstance(entry, dict) else None
        if subgraphs and class_type in subgraphs and isinstance(entry.get("inputs", {}), dict):
            name, outputs = subgraphs[class_type]
            kinds[str(node_id)] = (name, None, outputs)
            continue
        kind = _node_kind(str(node_id), entry, registry, problems)
        if kind is not None:
            kinds[str(node_id)] = kind
    for source, outputs in (sources or {}).items():
        kinds[source] = (source, None, outputs)
    ids = {str(node_id) for node_id in prompt} | set(sources or ())
    nodes: dict[str, dict] = {}
    for node_id, entry in prompt.items():
        node_id = str(node_id)
        if node_id not in kinds:
            continue
        nodeflow_type, mapping, _ = kinds[node_id]
        inputs = _inputs(node_id, entry.get("inputs") or {}, mapping, kinds, ids, problems)
        node: dict[str, Any] = {"type": nodeflow_type, "inputs": inputs}
        title = (entry.get("_meta") or {}).get("title") if isinstance(entry.get("_meta"),
                                                                     dict) else None
        if isinstance(title, str) and title:
            node["ui"] = {"title": title}
        nodes[node_id] = node
    return {"nodeflow": 1, "nodes": nodes}, problems


def _node_kind(node_id: str, entry: Any, registry: Registry | None,
               problems: list[Problem]) -> tuple[str, NodeMapping | None, tuple[str, ...]] | None:
    """(nodeflow type, mapping or None for a native type, output names by index)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_type"), str):
        problems.append(Problem(node_id, None, "not a ComfyUI node: expected an object with "
                                               "\"class_type\" and \"inputs\"", "bad_node"))
        return None
    if not isinstance(entry.get("inputs", {}), dict):
        problems.append(Problem(node_id, None, "\"inputs\" must be an object", "bad_node"))
        return None
    class_type = entry["class_type"]
    mapping = mapping_for(class_type)
    if mapping is not None:
        return mapping.nodeflow_type, mapping, mapping.outputs
    class_type = native_type(class_type, registry)  # "nodeflow.X" of the ComfyUI view
    node_def = registry.get(class_type) if registry is not None else None
    if node_def is not None:
        return class_type, None, tuple(o.name for o in node_def.outputs)
    problems.append(Problem(node_id, None, f"ComfyUI node type '{class_type}' has no nodeflow "
                                           "counterpart", "untranslatable"))
    return None


def _inputs(node_id: str, comfy_inputs: dict, mapping: NodeMapping | None,
            kinds: dict, ids: set[str], problems: list[Problem]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, value in comfy_inputs.items():
        if mapping is not None and name in mapping.dropped:
            allowed = mapping.dropped[name]
            if allowed is not None and not is_api_link(value) and value not in allowed:
                problems.append(Problem(node_id, name, f"{short_repr(value)} has no nodeflow "
                                        f"counterpart (only {', '.join(map(repr, allowed))} "
                                        "can be translated)", "untranslatable"))
            continue
        target = mapping.input_name(name) if mapping is not None else name
        if is_api_link(value):
            link = _link(node_id, target, value, kinds, ids, problems)
            if link is not None:
                inputs[target] = link
            continue
        if mapping is not None and name in mapping.values:
            try:
                value = mapping.values[name](value)
            except ValueError as exc:
                problems.append(Problem(node_id, target, str(exc), "untranslatable"))
                continue
        inputs[target] = value
    return inputs


def is_api_link(value: Any) -> bool:
    """Whether ``value`` is ComfyUI's link ``[source id, output index]``."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int)
            and not isinstance(value[1], bool))


def _link(node_id: str, input_name: str, value: list, kinds: dict, ids: set[str],
          problems: list[Problem]) -> dict | None:
    source, index = str(value[0]), value[1]
    if source not in ids:
        problems.append(Problem(node_id, input_name, f"links to node '{source}', which is not "
                                                     "in the prompt", "missing_node"))
        return None
    if source not in kinds:
        return None  # the source node is reported already (untranslatable or malformed)
    outputs = kinds[source][2]
    if not 0 <= index < len(outputs):
        problems.append(Problem(node_id, input_name, f"links to output {index} of node "
                                f"'{source}', which has {len(outputs)} output(s)",
                                "missing_output"))
        return None
    return {"node": source, "output": outputs[index]}
