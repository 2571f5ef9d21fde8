"""``comfy_execution.graph_utils``: the GraphBuilder ComfyUI packs use for node expansion.

A pack returns ``{"result": (...), "expand": graph.finalize()}``; links are
``[node_id, output_index]``. :func:`to_expansion` turns that into nodeflow's
:class:`~nodeflow.flow.Expansion`, naming outputs by index through the registry.
"""
from __future__ import annotations

import itertools
import types
from typing import Any

from ..errors import NodeError
from ..flow import Expansion

_counter = itertools.count(1)


def is_link(obj: Any) -> bool:
    return (isinstance(obj, (list, tuple)) and len(obj) == 2 and isinstance(obj[0], str)
            and isinstance(obj[1], int) and not isinstance(obj[1], bool))


class Node:
    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]):
        self.id, self.class_type, self.inputs = id, class_type, inputs
        self.override_display_id = None

    def out(self, index: int) -> list:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override: str) -> None:
        self.override_display_id = override

    def serialize(self) -> dict:
        return {"class_type": self.class_type, "inputs": self.inputs}


class GraphBuilder:
    def __init__(self, prefix: str | None = None):
        self.prefix = prefix if prefix is not None else f"gb{next(_counter)}."
        self.nodes: dict[str, Node] = {}
        self._ids = itertools.count(1)

    @classmethod
    def set_default_prefix(cls, *args: Any, **kwargs: Any) -> None:
        pass

    def node(self, class_type: str, id: str | None = None, **kwargs: Any) -> Node:
        node_id = self.prefix + (str(id) if id is not None else str(next(self._ids)))
        if node_id in self.nodes:
            return self.nodes[node_id]
        node = Node(node_id, class_type, dict(kwargs))
        self.nodes[node_id] = node
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + str(id))

    def remove_node(self, id: str) -> None:
        self.nodes.pop(self.prefix + str(id), None)

    def finalize(self) -> dict:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}


def module() -> types.ModuleType:
    mod = types.ModuleType("comfy_execution.graph_utils")
    mod.__nodeflow_shim__ = True
    mod.GraphBuilder, mod.Node, mod.is_link = GraphBuilder, Node, is_link
    return mod


def to_expansion(graph: dict, results: tuple, output_names: list[str], registry: Any
                 ) -> Expansion:
    """nodeflow's Expansion for a ComfyUI expansion ``graph`` whose results are ``results``
    (one per output of the expanding node, named ``output_names``)."""
    types_by_id = {node_id: entry.get("class_type") for node_id, entry in graph.items()}

    def convert(value: Any) -> Any:
        if is_link(value) and value[0] in types_by_id:
            node_def = registry.get(types_by_id[value[0]])
            if node_def is None:
                raise NodeError(f"expansion uses node type {types_by_id[value[0]]!r}, "
                                "which is not installed")
            if value[1] >= len(node_def.outputs):
                raise NodeError(f"expansion links to output {value[1]} of "
                                f"{node_def.type_name}, which has {len(node_def.outputs)}")
            return {"node": value[0], "output": node_def.outputs[value[1]].name}
        return value

    nodes = {node_id: {"type": entry["class_type"],
                       "inputs": {k: convert(v) for k, v in entry.get("inputs", {}).items()}}
             for node_id, entry in graph.items()}
    return Expansion(nodes, {name: convert(v) for name, v in zip(output_names, results)})
