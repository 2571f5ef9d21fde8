"""nodeflow subgraphs -> ComfyUI subgraph definitions (``definitions.subgraphs``).

ComfyUI's editor (frontend 1.24+) keeps each subgraph once, typed by a uuid, with an input node
(id -10) and an output node (id -20) that its inner links start from and end at. A subgraph
imported from ComfyUI keeps its uuid (``ui.comfy_id``); others get a uuid made from their name
(and version, for a component), so exporting twice gives the same file.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..errors import Problem
from ..registry import Registry
from ..engine.subgraphs import resolve_subgraph, output_type
from ..workflow import SubgraphDef, Workflow

INPUT_NODE, OUTPUT_NODE = -10, -20
_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")


@dataclass
class SubgraphKind:
    name: str
    uuid: str
    definition: SubgraphDef
    inputs: list[tuple[str, str]]
    outputs: list[tuple[str, str]]


def collect_subgraphs(workflow: Workflow, registry: Registry, problems: list[Problem]
                      ) -> dict[str, SubgraphKind]:
    """Every subgraph type the workflow uses, directly or inside other subgraphs."""
    kinds: dict[str, SubgraphKind] = {}
    local = workflow.subgraphs or {}

    def visit(specs: dict, stack: tuple[str, ...]) -> None:
        for node_id, spec in specs.items():
            definition, missing = resolve_subgraph(spec.type, spec.version, workflow, registry)
            if missing is not None:
                problems.append(Problem(node_id, None, missing, "unknown_type"))
                continue
            if definition is None or spec.type in kinds:
                continue
            if spec.type in stack:
                problems.append(Problem(node_id, None, f"subgraph '{spec.type}' contains "
                                                       "itself", "cycle"))
                continue
            ui = definition.ui or {}
            comfy_id = ui.get("comfy_id") if isinstance(ui.get("comfy_id"), str) else None
            version = "" if spec.type in local else (spec.version or "")
            kinds[spec.type] = SubgraphKind(
                spec.type,
                comfy_id or str(uuid.uuid5(_NAMESPACE, f"{spec.type}\n{version}")),
                definition,
                [(name, decl.type) for name, decl in definition.inputs.items()],
                [(name, output_type(definition, name, registry, local))
                 for name in definition.outputs])
            visit(definition.nodes, (*stack, spec.type))
    visit(workflow.nodes, ())
    return kinds


def definition_json(kind: SubgraphKind, drawing) -> dict:
    """The ComfyUI definition of one subgraph, from the drawing of its nodes."""
    links = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3],
              "target_slot": l[4], "type": l[5]} for l in drawing.links]
    right = max((n["pos"][0] for n in drawing.nodes), default=0) + 400
    top = min((n["pos"][1] for n in drawing.nodes), default=0)
    left = min((n["pos"][0] for n in drawing.nodes), default=0) - 300

    def io(name: str, kind_name: str, index: int) -> dict:
        return {"id": str(uuid.uuid5(_NAMESPACE, f"{kind.uuid}\n{index}\n{name}")),
                "name": name, "localized_name": name, "type": kind_name,
                "linkIds": drawing.io_links.get(name, [])}
    return {
        "id": kind.uuid, "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": max((n["id"] for n in drawing.nodes),
                                                      default=0),
                  "lastLinkId": len(links), "lastRerouteId": 0},
        "revision": 0, "config": {}, "name": kind.name,
        "inputNode": {"id": INPUT_NODE, "bounding": [left, top, 120, 60]},
        "outputNode": {"id": OUTPUT_NODE, "bounding": [right, top, 120, 60]},
        "inputs": [io(name, t, i) for i, (name, t) in enumerate(kind.inputs)],
        "outputs": [io(name, t, i + len(kind.inputs)) for i, (name, t) in
                    enumerate(kind.outputs)],
        "widgets": [], "nodes": drawing.nodes, "groups": [], "links": links, "extra": {},
    }
