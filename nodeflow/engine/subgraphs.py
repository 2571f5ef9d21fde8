"""Subgraphs: workflows with declared inputs and outputs, used as nodes, flattened at plan time.

A node whose type names a subgraph (the file's ``subgraphs`` section first, then a component
from ``<base>/components/``) is replaced by the subgraph's nodes, with ids namespaced by the
path to them (``upscale/scale2`` is node ``scale2`` inside the subgraph node ``upscale``).
Links into the subgraph (from ``@inputs``) and out of it are rewired to the real producers, so
the flat graph is an ordinary workflow: caching is by content and works across the boundary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..declare import SEMVER
from ..errors import Problem
from ..registry import Registry
from ..types import can_connect
from ..workflow import Link, NodeSpec, SubgraphDef, Workflow, as_link

SEP = "/"
INPUTS = "@inputs"
"""The reserved node id inner nodes link to for the subgraph's inputs."""
MAX_DEPTH = 32
_MISSING = object()


@dataclass
class Flat:
    workflow: Workflow
    display: dict[str, str] = field(default_factory=dict)
    """Inner node id -> the top-level node the user sees (events name both)."""
    problems: list[Problem] = field(default_factory=list)
    dropped: set[tuple[str, str]] = field(default_factory=set)
    """(node, input) pairs left empty because a subgraph problem was already reported."""


def has_subgraphs(workflow: Workflow, registry: Registry) -> bool:
    local = workflow.subgraphs or {}
    for spec in workflow.nodes.values():
        if spec.type in local:
            return True
        node_def = registry.get(spec.type)
        if node_def is not None and node_def.subgraph is not None:
            return True
    return False


def resolve_subgraph(type_name: str, version: str | None, workflow: Workflow,
                     registry: Registry) -> tuple[SubgraphDef | None, str | None]:
    """(definition, None) for a subgraph type, (None, why) for a component version that is
    not installed, (None, None) for an ordinary node type."""
    local = workflow.subgraphs or {}
    if type_name in local:
        return local[type_name], None
    node_def = registry.get(type_name)
    if node_def is None or node_def.subgraph is None:
        return None, None
    versions: dict[str, SubgraphDef] = node_def.subgraph
    if version is None:
        return versions[node_def.version], None
    if version in versions:
        return versions[version], None
    installed = ", ".join(sorted(versions, key=_semver_key))
    return None, (f"component '{type_name}' version {version} is not installed (installed: "
                  f"{installed}; put '{type_name}' {version} in <base>/components/)")


def _semver_key(version: str) -> tuple:
    head = version.split("-", 1)[0].split("+", 1)[0]
    return tuple(int(p) for p in head.split(".")) if SEMVER.match(version) else (0,)


def flatten(workflow: Workflow, registry: Registry) -> Flat:
    """The workflow with every subgraph node replaced by its nodes (ids ``path/inner``)."""
    if not has_subgraphs(workflow, registry):
        return Flat(workflow)
    flat = Flat(workflow)
    nodes: dict[str, NodeSpec] = {}
    alias: dict[tuple[str, str], Any] = {}
    instances: dict[str, tuple[str, SubgraphDef]] = {}
    failed: set[str] = set()
    _expand(workflow.nodes, "", (), None, workflow, registry, nodes, alias, instances, flat,
            failed, None)
    resolved: dict[str, NodeSpec] = {}
    for node_id, spec in nodes.items():
        inputs = {}
        for name, value in spec.inputs.items():
            target = _resolve(value, alias, instances, node_id, name, flat.problems, failed)
            if target is not _MISSING:
                inputs[name] = target
            else:
                flat.dropped.add((node_id, name))
        resolved[node_id] = spec.model_copy(update={"inputs": inputs})
    _check_input_types(instances, alias, resolved, registry, flat)
    flat.workflow = workflow.model_copy(update={"nodes": resolved})
    return flat


def _expand(specs: dict[str, NodeSpec], prefix: str, stack: tuple[str, ...], top: str | None,
            workflow: Workflow, registry: Registry, out: dict[str, NodeSpec],
            alias: dict, instances: dict, flat: Flat, failed: set[str],
            mode: str | None) -> None:
    """Add the nodes of ``specs`` (ids under ``prefix``) to ``out``, expanding subgraph nodes.
    A muted or bypassed subgraph node passes its mode to the nodes inside it."""
    for local_id, spec in specs.items():
        full = prefix + local_id
        display = top if top is not None else full
        definition, missing = resolve_subgraph(spec.type, spec.version, workflow, registry)
        if missing is not None:
            flat.problems.append(Problem(full, None, missing, "unknown_type"))
            failed.add(full)
            continue
        if definition is None:
            update: dict[str, Any] = {"inputs": _prefixed(spec.inputs, prefix)}
            if mode is not None and getattr(spec, "mode", None) is None:
                update["mode"] = mode
            out[full] = spec.model_copy(update=update)
            if top is not None:
                flat.display[full] = top
            continue
        if spec.type in stack:
            chain = " -> ".join((*stack[stack.index(spec.type):], spec.type))
            flat.problems.append(Problem(full, None, f"subgraph '{spec.type}' contains itself "
                                                     f"({chain})", "cycle"))
            failed.add(full)
            continue
        if len(stack) >= MAX_DEPTH:
            flat.problems.append(Problem(full, None, f"subgraphs nested more than {MAX_DEPTH} "
                                                     "deep", "cycle"))
            failed.add(full)
            continue
        instances[full] = (spec.type, definition)
        inner_prefix = full + SEP
        for name, value in spec.inputs.items():
            if name not in definition.inputs:
                known = ", ".join(definition.inputs) or "none"
                flat.problems.append(Problem(full, name, f"unknown input (subgraph "
                                                         f"'{spec.type}' has inputs: {known})",
                                             "unknown_input"))
        for name, decl in definition.inputs.items():
            if name in spec.inputs:
                alias[(inner_prefix + INPUTS, name)] = _prefixed_value(spec.inputs[name], prefix)
            elif "default" in decl.model_fields_set:
                alias[(inner_prefix + INPUTS, name)] = decl.default
            else:
                alias[(inner_prefix + INPUTS, name)] = _MISSING
                flat.problems.append(Problem(full, name, "missing required input (needs a value "
                                                         f"or a link of type {decl.type})",
                                             "missing_input"))
        for name, link in definition.outputs.items():
            alias[(full, name)] = {"node": inner_prefix + link.node, "output": link.output}
        _expand(definition.nodes, inner_prefix, (*stack, spec.type), display, workflow,
                registry, out, alias, instances, flat, failed,
                getattr(spec, "mode", None) or mode)


def _prefixed(inputs: dict[str, Any], prefix: str) -> dict[str, Any]:
    if not prefix:
        return inputs
    return {name: _prefixed_value(value, prefix) for name, value in inputs.items()}


def _prefixed_value(value: Any, prefix: str) -> Any:
    try:
        link = as_link(value)
    except ValueError:
        return value
    if link is None or not prefix:
        return value
    return {"node": prefix + link.node, "output": link.output}


def _resolve(value: Any, alias: dict, instances: dict, node_id: str, name: str,
             problems: list[Problem], failed: set[str] = frozenset()) -> Any:
    seen = set()
    while True:
        try:
            link = as_link(value)
        except ValueError:
            return value
        if link is None:
            return value
        key = (link.node, link.output)
        if link.node in failed:
            return _MISSING
        if key not in alias:
            if link.node in instances:
                sub_type, definition = instances[link.node]
                outs = ", ".join(definition.outputs) or "none"
                problems.append(Problem(node_id, name, f"links to output '{link.output}' of "
                                                       f"node '{link.node}', but subgraph "
                                                       f"'{sub_type}' has no such output (its "
                                                       f"outputs: {outs})", "missing_output"))
                return _MISSING
            if link.node.endswith(SEP + INPUTS) or link.node == INPUTS:
                problems.append(Problem(node_id, name, f"links to subgraph input "
                                                       f"'{link.output}', which is not declared",
                                        "missing_output"))
                return _MISSING
            return value
        if key in seen:
            problems.append(Problem(node_id, name, "subgraph inputs and outputs link to each "
                                                   "other in a loop", "cycle"))
            return _MISSING
        seen.add(key)
        value = alias[key]
        if value is _MISSING:
            return _MISSING


def _check_input_types(instances: dict, alias: dict, nodes: dict[str, NodeSpec],
                       registry: Registry, flat: Flat) -> None:
    """A link into a subgraph input must carry the type the input declares."""
    from ..types import socket_by_name

    for full, (sub_type, definition) in instances.items():
        for name, decl in definition.inputs.items():
            value = alias.get((full + SEP + INPUTS, name), _MISSING)
            if value is _MISSING:
                continue
            value = _resolve(value, alias, instances, full, name, [])
            try:
                link = as_link(value)
            except ValueError:
                continue
            if link is None or link.node not in nodes:
                continue
            source = registry.get(nodes[link.node].type)
            out = source.output_names.get(link.output) if source is not None else None
            if out is None:
                continue
            if not can_connect(out.socket.type_name, socket_by_name(decl.type)):
                flat.problems.append(Problem(full, name, f"type mismatch: output "
                                                         f"'{link.output}' of node '{link.node}' "
                                                         f"is {out.socket.type_name}, this "
                                                         f"subgraph input needs {decl.type}",
                                             "type_mismatch"))


def output_type(definition: SubgraphDef, name: str, registry: Registry,
                local: dict[str, SubgraphDef] | None = None, depth: int = 0) -> str:
    """The socket type name a subgraph output carries ("*" when it cannot be told)."""
    link: Link | None = definition.outputs.get(name)
    if link is None or depth > MAX_DEPTH:
        return "*"
    if link.node == INPUTS:
        decl = definition.inputs.get(link.output)
        return decl.type if decl is not None else "*"
    inner = definition.nodes.get(link.node)
    if inner is None:
        return "*"
    if local and inner.type in local:
        return output_type(local[inner.type], link.output, registry, local, depth + 1)
    node_def = registry.get(inner.type)
    if node_def is None:
        return "*"
    if node_def.subgraph is not None:
        nested = node_def.subgraph[node_def.version]
        return output_type(nested, link.output, registry, local, depth + 1)
    out = node_def.output_names.get(link.output)
    return out.socket.type_name if out is not None else "*"
