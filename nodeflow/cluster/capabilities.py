"""What a worker can run, and what a prompt needs: the scheduler's two sides.

A worker describes itself by one hash per node type (its schema without the lists that
change at run time, so a pack of another version or with other inputs shows) and by those
run-time lists themselves (the model files each loader offers). A prompt needs its node
types, the models it names and the input images it reads. Nothing here imports ray or torch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..registry import Registry
from ..engine.subgraphs import flatten
from ..workflow import as_link, parse_workflow

ModelRef = tuple[str, str, str]
"""(node type, input name, value): a file a loader reads, e.g. a checkpoint name."""


@dataclass
class Capabilities:
    types: dict[str, str]
    """node type -> hash of its schema."""
    choices: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """node type -> input -> the values offered now (model files)."""

    def to_json(self) -> dict[str, Any]:
        return {"types": self.types, "choices": self.choices}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Capabilities":
        return cls(dict(data["types"]), {t: dict(c) for t, c in data["choices"].items()})

    @property
    def digest(self) -> str:
        """One hash over every node type: equal digests mean equal packs."""
        return _hash(sorted(self.types.items()))


@dataclass(frozen=True)
class Needs:
    types: frozenset[str]
    models: frozenset[ModelRef]
    uploads: frozenset[str]
    """Files of the input folder the prompt reads (names as the prompt gives them)."""


def describe(registry: Registry, settings: Any) -> Capabilities:
    """This process's capabilities (a worker calls it at start)."""
    types: dict[str, str] = {}
    choices: dict[str, dict[str, list[str]]] = {}
    for name, node_def in registry.nodes.items():
        dynamic = _dynamic_inputs(node_def)
        schema = node_def.schema(None if not dynamic else settings)
        for spec in schema["inputs"]:
            if spec["name"] in dynamic:
                values = spec.pop("choices", [])
                if not dynamic[spec["name"]]:  # uploads travel with the prompt
                    choices.setdefault(name, {})[spec["name"]] = [str(v) for v in values]
        schema.pop("pack", None)
        types[name] = _hash(schema)
    return Capabilities(types, choices)


def needs_of(workflow_json: dict, registry: Registry) -> Needs:
    """What running ``workflow_json`` (an accepted prompt's workflow) takes, read with the
    head's registry. Subgraphs and components are expanded first."""
    flat = flatten(parse_workflow(workflow_json), registry).workflow
    types, models, uploads = set(), set(), set()
    for spec in flat.nodes.values():
        types.add(spec.type)
        node_def = registry.get(spec.type)
        if node_def is None:
            continue
        for name, is_upload in _dynamic_inputs(node_def).items():
            value = spec.inputs.get(name, _default(node_def, name))
            if not isinstance(value, str) or as_link(value) is not None:
                continue
            (uploads.add(value) if is_upload else models.add((spec.type, name, value)))
    return Needs(frozenset(types), frozenset(models), frozenset(uploads))


def missing(needs: Needs, worker: Capabilities, head: Capabilities) -> list[str]:
    """Why ``worker`` cannot run a prompt with ``needs`` (empty: it can)."""
    reasons = []
    for type_name in sorted(needs.types):
        if type_name not in worker.types:
            reasons.append(f"no node type {type_name!r}")
        elif type_name in head.types and worker.types[type_name] != head.types[type_name]:
            reasons.append(f"node type {type_name!r} differs from the server's (another "
                           "version of its pack)")
    for type_name, input_name, value in sorted(needs.models):
        offered = worker.choices.get(type_name, {}).get(input_name)
        if offered is not None and value not in offered:
            reasons.append(f"no {input_name} {value!r}")
    return reasons


def _dynamic_inputs(node_def) -> dict[str, bool]:
    """Inputs whose choices are asked at run time -> whether they are uploads."""
    return {name: bool(spec.field.upload) for name, spec in node_def.inputs.items()
            if callable(spec.field.choices)}


def _default(node_def, name: str) -> Any:
    spec = node_def.inputs[name].field
    return spec.default if spec.has_default else None


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
