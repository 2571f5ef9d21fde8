"""Checks a workflow against the installed node types and reports every problem at once.

Nothing is corrected silently: a value out of range, a name not in the choices, a string
where a number belongs are errors that name the node and the input.
"""
from __future__ import annotations

import difflib
from typing import Any

import networkx as nx
import pydantic

from ..declare import SEMVER, InputSpec, NodeDef
from ..errors import Problem, short_repr
from .graph import build_graph, cycles
from .modes import resolve_modes
from ..registry import Registry
from ..types import can_connect
from ..workflow import Workflow, as_link, json_problem

_MAX_LISTED = 12


def validate(workflow: Workflow, registry: Registry, settings: Any = None,
             graph: nx.DiGraph | None = None) -> list[Problem]:
    """All problems of ``workflow``; an empty list means it can run. Subgraph nodes are
    checked as the flat graph they expand to (inner nodes are named ``path/id``)."""
    from .subgraphs import flatten

    flat = flatten(workflow, registry)
    if flat.workflow is not workflow:
        graph = None
    return flat.problems + flat_problems(flat, registry, settings, graph)


def flat_problems(flat: Any, registry: Registry, settings: Any = None,
                  graph: nx.DiGraph | None = None) -> list[Problem]:
    """The problems of a flattened workflow, less the inputs a subgraph problem (already
    reported on the subgraph node) left empty."""
    problems = validate_flat(flat.workflow, registry, settings, graph)
    if flat.dropped:
        problems = [p for p in problems if (p.node, p.input) not in flat.dropped]
        problems = [p for p in problems if not (p.kind == "no_output" and flat.problems)]
    return problems


def validate_flat(workflow: Workflow, registry: Registry, settings: Any = None,
                  graph: nx.DiGraph | None = None) -> list[Problem]:
    """:func:`validate` for a workflow whose subgraphs are already expanded. ``graph``, when
    given, is the graph of the workflow without its muted and bypassed nodes (what will
    run)."""
    from ..requires import requirement_problems

    problems: list[Problem] = requirement_problems(workflow)
    workflow, mode_problems = resolve_modes(workflow, registry)
    missing_types: dict[str, list[str]] = {}
    for node_id, spec in workflow.nodes.items():
        node_def = registry.for_node(spec)
        if node_def is None:
            missing_types.setdefault(spec.type, []).append(node_id)
            continue
        problems.extend(_version_problems(node_id, spec.version, node_def, registry))
        input_problems = _input_problems(node_id, spec.inputs, node_def, workflow, registry,
                                         settings)
        problems.extend(input_problems)
        if node_def.validate is not None and not input_problems:
            problems.extend(own_problems(node_id, spec.inputs, node_def))
    inactive_fed = {(p.node, p.input) for p in mode_problems}
    problems = [p for p in problems if p.kind != "missing_input"
                or (p.node, p.input) not in inactive_fed] + mode_problems
    for type_name, node_ids in missing_types.items():
        hint = _pack_hint(workflow, type_name)
        for node_id in node_ids:
            problems.append(Problem(node_id, None, f"unknown node type '{type_name}'{hint}",
                                    "unknown_type"))
    graph = graph if graph is not None else build_graph(workflow)
    for cycle in cycles(graph):
        names = ", ".join(f"'{n}'" for n in cycle)
        problems.append(Problem(cycle[0], None, f"cycle: nodes {names} depend on each other",
                                "cycle"))
    if not any((nd := registry.get(s.type)) is not None and nd.output_node
               for s in workflow.nodes.values()) and not missing_types:
        problems.append(Problem(None, None, "the workflow has no output node (such as "
                                            "SaveImage), so nothing would run", "no_output"))
    return problems


def _version_problems(node_id: str, saved: str | None, node_def: NodeDef,
                      registry: Registry) -> list[Problem]:
    if saved is None:
        return []
    if not SEMVER.match(saved):
        return [Problem(node_id, None, f"version {saved!r} is not semver (like 1.0.0)",
                        "version")]
    saved_major = int(saved.split(".", 1)[0])
    if saved_major == node_def.major:
        return []
    if saved_major > node_def.major:
        return [Problem(node_id, None, f"saved with {node_def.type_name} {saved}, newer than "
                                       f"the installed {node_def.version}; update pack "
                                       f"'{node_def.pack}'", "version")]
    return [Problem(node_id, None, f"saved with {node_def.type_name} {saved}; the installed "
                                   f"version is {node_def.version} and pack '{node_def.pack}' "
                                   f"registers no migration from {saved_major}.x", "version")]


def _input_problems(node_id: str, inputs: dict[str, Any], node_def: NodeDef,
                    workflow: Workflow, registry: Registry, settings: Any) -> list[Problem]:
    problems = []
    for name, value in inputs.items():
        spec = node_def.inputs.get(name)
        if spec is None:
            problems.append(_unknown_input(node_id, name, node_def))
            continue
        issue = _value_problem(spec, value, workflow, registry, settings)
        if issue:
            problems.append(Problem(node_id, name, issue[1], issue[0]))
    for name, spec in node_def.inputs.items():
        if spec.required and name not in inputs:
            what = "a link" if not spec.accepts_literal else "a value or a link"
            problems.append(Problem(node_id, name, f"missing required input (needs {what} of "
                                                   f"type {spec.socket.type_name})",
                                    "missing_input"))
    for family, count in node_def.family_counts(inputs).items():
        least = node_def.families[family].min_items
        if count < least:
            problems.append(Problem(
                node_id, f"{family}_{count + 1}",
                f"needs at least {least} of {family}_1, {family}_2, ... connected (has "
                f"{count}; type {node_def.families[family].socket.type_name})",
                "missing_input"))
    return problems


def _unknown_input(node_id: str, name: str, node_def: NodeDef) -> Problem:
    if node_def.extra_inputs is not None:  # it takes any name but a reserved one
        return Problem(node_id, name, f"the input name '{name}' is reserved (nodeflow passes "
                                      f"the node's context under it); {node_def.type_name} "
                                      "takes inputs of any other name", "unknown_input")
    known = ", ".join([*(n for n in node_def.inputs if node_def.member(n) is None),
                       *(f"{f}_1..{f}_{fam.max_items}" for f, fam
                         in node_def.families.items())]) or "none"
    return Problem(node_id, name, f"unknown input ({node_def.type_name} has inputs: {known})",
                   "unknown_input")


def own_problems(node_id: str, inputs: dict[str, Any], node_def: NodeDef) -> list[Problem]:
    """What the node's own ``validate`` hook says about its literal inputs (defaults
    included); a hook that raises is reported as a problem, never a crash."""
    from .executor import literal_inputs

    literals = literal_inputs(node_def, inputs)
    try:
        said = node_def.validate(**literals)
    except Exception as exc:  # noqa: BLE001 - the pack's bug, reported where it happened
        said = f"the node's validate hook failed: {type(exc).__name__}: {exc}"
    if said is None or said is True:
        return []
    if isinstance(said, str):
        said = [said]
    return [Problem(node_id, None, str(text), "invalid") for text in said if text]


Issue = tuple[str, str]  # (kind, message)


def _value_problem(spec: InputSpec, value: Any, workflow: Workflow, registry: Registry,
                   settings: Any) -> Issue | None:
    try:
        link = as_link(value)
    except ValueError as exc:
        return "bad_link", str(exc)
    if link is not None:
        return _link_problem(spec, link.node, link.output, workflow, registry)
    return literal_issue(spec, value, settings)


def _link_problem(spec: InputSpec, source_id: str, output: str, workflow: Workflow,
                  registry: Registry) -> Issue | None:
    source = workflow.nodes.get(source_id)
    if source is None:
        return "missing_node", f"links to node '{source_id}', which is not in the workflow"
    source_def = registry.get(source.type)
    if source_def is None:
        return None  # reported as an unknown type
    out = source_def.output_names.get(output)
    if out is None:
        outs = ", ".join(source_def.output_names) or "none"
        return "missing_output", (f"links to output '{output}' of node '{source_id}', but "
                                  f"{source.type} has no such output (its outputs: {outs})")
    if not can_connect(out.socket.type_name, spec.socket):
        return "type_mismatch", (f"type mismatch: output '{output}' of node '{source_id}' is "
                                 f"{out.socket.type_name}, this input needs "
                                 f"{spec.socket.type_name}")
    return None


def literal_problem(spec: InputSpec, value: Any, settings: Any = None,
                    check_choices: bool = True) -> str | None:
    """Why a literal value is not acceptable for ``spec``, or None when it is."""
    issue = literal_issue(spec, value, settings, check_choices)
    return None if issue is None else issue[1]


def literal_issue(spec: InputSpec, value: Any, settings: Any = None,
                  check_choices: bool = True) -> Issue | None:
    """(kind, message) for a literal value ``spec`` does not accept, or None."""
    if spec.json_value:
        problem = json_problem(value)
        return None if problem is None else ("not_json", problem)
    if isinstance(value, list) and spec.accepts_literal:
        if not spec.is_list:
            return "list_not_allowed", (f"a list ({short_repr(value)}) cannot be typed into "
                                        f"this {spec.socket.type_name} input; feed a list "
                                        "output (e.g. PromptList, NumberList) to run the node "
                                        "once per item")
        for item in value:
            issue = literal_issue(spec, item, settings, check_choices)
            if issue is not None:
                return issue
        return None
    if not spec.accepts_literal:
        if value is None and spec.optional:
            return None
        return "link_required", (f"needs a link from a {spec.socket.type_name} output; a "
                                 f"literal value ({short_repr(value)}) cannot be used here")
    try:
        spec.adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        return _pydantic_issue(exc.errors()[0], value, spec)
    if value is None or not check_choices:
        return None
    try:
        choices = spec.field.choice_list(settings)
    except Exception as exc:  # a pack's choices callable failed: the user should see why
        return "not_a_choice", f"could not list the choices: {type(exc).__name__}: {exc}"
    if choices is not None and value not in choices:
        return "not_a_choice", _not_a_choice(value, choices)
    return None


def _not_a_choice(value: Any, choices: list[Any]) -> str:
    listed = ", ".join(str(c) for c in choices[:_MAX_LISTED])
    if len(choices) > _MAX_LISTED:
        listed += f", ... ({len(choices)} in all)"
    if not choices:
        return f"{short_repr(value)} is not available (there are no choices)"
    names = [str(c) for c in choices]
    close = [n for n in names if n.lower() == str(value).lower()] or difflib.get_close_matches(
        str(value), names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{short_repr(value)} is not one of the choices ({listed}){hint}"


def _pydantic_issue(err: dict, value: Any, spec: InputSpec) -> Issue:
    kind = err.get("type", "")
    ctx = err.get("ctx", {})
    type_words = {"int_type": "an integer", "float_type": "a number", "string_type": "a string",
                  "bool_type": "true or false", "int_from_float": "an integer"}
    if kind in type_words:
        return "wrong_type", (f"expected {type_words[kind]} ({spec.socket.type_name}), got "
                              f"{short_repr(value)}")
    if kind == "greater_than_equal":
        return "below_min", f"{short_repr(value)} is below the minimum {ctx.get('ge')}"
    if kind == "less_than_equal":
        return "above_max", f"{short_repr(value)} is above the maximum {ctx.get('le')}"
    if kind == "multiple_of":
        return "not_multiple", f"{short_repr(value)} is not a multiple of {ctx.get('multiple_of')}"
    if kind == "finite_number":
        return "wrong_type", f"expected a finite number, got {short_repr(value)}"
    if kind in ("too_long", "string_too_long"):
        return "too_long", f"is longer than the maximum of {ctx.get('max_length')} characters"
    return "wrong_type", f"{err.get('msg', 'invalid value')} (got {short_repr(value)})"


def _pack_hint(workflow: Workflow, type_name: str) -> str:
    """Name the pack that provides ``type_name`` when the file's ``requires`` says so."""
    packs = (workflow.requires or {}).get("packs")
    if isinstance(packs, dict):
        for pack, info in packs.items():
            if isinstance(info, dict) and type_name in (info.get("nodes") or ()):
                version = info.get("version")
                return f" (provided by pack '{pack}'{f' {version}' if version else ''}, " \
                       "which is not installed)"
    return " (not installed)"

