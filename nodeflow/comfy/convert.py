"""One entry point for every file a user may bring: a nodeflow workflow, a ComfyUI workflow in
the API or the editor's UI format, or a PNG that carries any of them.

``import_workflow`` tells the formats apart, converts, checks that the models and images the
workflow names exist here (reported, never replaced) and stamps ``requires``. What cannot be
converted is a problem naming the node; the rest still converts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, WorkflowError, short_repr
from ..png import SIGNATURE, read_text_chunks
from ..registry import Registry
from ..workflow import FORMAT_VERSION, Workflow, _json, parse_workflow
from .api_format import convert_api_prompt, is_api_link, is_api_prompt
from .ui_format import convert_ui_workflow, is_ui_workflow

NODEFLOW, COMFY_API, COMFY_UI = "nodeflow", "comfyui-api", "comfyui-ui"


@dataclass
class Imported:
    workflow: Workflow
    format: str
    """``nodeflow``, ``comfyui-api`` or ``comfyui-ui``."""
    problems: list[Problem] = field(default_factory=list)
    """What did not convert (nodes, values, links); those parts are left out."""
    warnings: list[Problem] = field(default_factory=list)
    """Models and input files the workflow names that are not here."""
    notes: list[str] = field(default_factory=list)
    """What was done on the way (muted nodes left out, notes kept, nodes upgraded)."""

    def to_json(self) -> dict[str, Any]:
        return {"workflow": self.workflow.model_dump(mode="json", exclude_unset=True),
                "format": self.format,
                "problems": [p.to_json() for p in self.problems],
                "warnings": [p.to_json() for p in self.warnings],
                "notes": list(self.notes)}


def import_workflow(source: bytes | str | dict, registry: Registry | None = None,
                    settings: Any = None, *, stamp: bool = True) -> Imported:
    """Read ``source`` (file bytes, JSON text or parsed JSON) as a nodeflow workflow.

    Raises :class:`WorkflowError` when it is none of the known formats or is broken as a whole
    (not JSON, a PNG without a workflow, a nodeflow file that does not parse).
    """
    data, where, chunks = _data(source)
    data, wrapped = _unwrap(data)
    if isinstance(data, dict) and "nodeflow" in data:
        workflow, problems, notes, kind = parse_workflow(data), [], [], NODEFLOW
    elif is_ui_workflow(data):
        converted, problems, notes = convert_ui_workflow(data, registry)
        workflow, kind = _parse_converted(converted), COMFY_UI
        notes.insert(0, f"converted from a ComfyUI editor workflow (version "
                        f"{_ui_version(data)}){where}")
    elif is_api_prompt(data):
        converted, problems = convert_api_prompt(data, registry)
        workflow, kind, notes = _parse_converted(converted), COMFY_API, [
            f"converted from a ComfyUI API-format prompt{where}"]
    elif where:
        raise WorkflowError([Problem(None, None, f"the PNG carries no ComfyUI workflow that "
                                     f"converts{where}: {_unknown_format(data)}")])
    else:
        raise WorkflowError([Problem(None, None, _unknown_format(data))])
    if wrapped:
        notes.insert(0, wrapped)
    if kind == COMFY_UI and registry is not None:
        notes += name_extension_values(workflow, registry, chunks.get("prompt"))
    if registry is not None:
        from ..migrations import upgrade_workflow
        from ..requires import with_requirements

        workflow, upgrade_notes = upgrade_workflow(workflow, registry)
        notes += upgrade_notes
        if stamp and kind != NODEFLOW:
            workflow = with_requirements(workflow, registry)
    warnings = missing_files(workflow, registry, settings) if registry is not None else []
    return Imported(workflow, kind, problems, warnings, notes)


def missing_files(workflow: Workflow, registry: Registry, settings: Any) -> list[Problem]:
    """Literal values of inputs that choose among local files (models, input images) that are
    not among them. The value is kept: the user installs the file or picks another."""
    found = []
    for node_id, spec in workflow.nodes.items():
        node_def = registry.get(spec.type)
        if node_def is None:
            continue
        for name, value in spec.inputs.items():
            input_spec = node_def.inputs.get(name)
            if input_spec is None or not callable(input_spec.field.choices) or \
                    not isinstance(value, str):
                continue
            try:
                choices = input_spec.field.choice_list(settings)
            except Exception:  # noqa: BLE001 - a pack's choices callable; validation reports it
                continue
            if value not in choices:
                have = ", ".join(map(str, choices[:8])) + (", ..." if len(choices) > 8 else "")
                found.append(Problem(node_id, name, f"{short_repr(value)} is not installed here"
                                     f" ({'installed: ' + have if choices else 'none installed'})"
                                     "; kept as it is", "missing_file"))
    return found


def name_extension_values(workflow: Workflow, registry: Registry, prompt_text: str | None
                          ) -> list[str]:
    """Name the unnamed widget values (``ui.comfy_widgets``) of nodes that take inputs of any
    name, from the API-format prompt a PNG carries beside its editor-format workflow (the same
    node ids, the values by name); notes for those left unnamed."""
    try:
        prompt = _json(prompt_text) if prompt_text else {}
    except WorkflowError:
        prompt = {}
    notes = []
    for node_id, spec in workflow.nodes.items():
        node_def = registry.get(spec.type)
        kept = (spec.ui or {}).get("comfy_widgets")
        if node_def is None or node_def.extra_inputs is None or not kept:
            continue
        entry = prompt.get(node_id) if isinstance(prompt, dict) else None
        given = entry.get("inputs") if isinstance(entry, dict) else None
        named = {name: value for name, value in (given or {}).items() if isinstance(given, dict)
                 and name not in spec.inputs and name not in node_def.inputs
                 and not is_api_link(value)}
        if named:
            spec.inputs.update(named)
            del spec.ui["comfy_widgets"]
            continue
        notes.append(f"node '{node_id}' ({spec.type}): {len(kept)} value(s) of widgets its "
                     "pack's editor extension added have no names in ComfyUI's editor format, "
                     "so they reach the node only after the workflow is opened and saved in "
                     "nodeflow's editor (which runs the pack's JavaScript), or when it comes "
                     "as an API-format prompt or a PNG with a prompt chunk")
    return notes


def _data(source: bytes | str | dict) -> tuple[Any, str, dict[str, str]]:
    """(parsed JSON, where it came from in words, a PNG's text chunks) for file bytes, text or
    parsed JSON."""
    if isinstance(source, (bytes, bytearray)) and bytes(source[:8]) == SIGNATURE:
        try:
            chunks = read_text_chunks(bytes(source))
        except ValueError as exc:
            raise WorkflowError([Problem(None, None, str(exc))]) from None
        for key, words in (("nodeflow", ""), ("workflow", " (the PNG's workflow chunk)"),
                           ("prompt", " (the PNG's prompt chunk)")):
            if key in chunks:
                return _json(chunks[key]), words, chunks
        raise WorkflowError([Problem(None, None, "this PNG carries no workflow (no nodeflow, "
                                                 "workflow or prompt text chunk)")])
    if isinstance(source, (bytes, bytearray, str)):
        return _json(source), "", {}
    return source, "", {}


def _unwrap(data: Any) -> tuple[Any, str]:
    """The workflow inside a hosting service's request body (``{"input": {"workflow": ...}}``,
    as RunPod's ComfyUI worker takes it), and a note saying so; anything else as it is."""
    inner = data.get("input") if isinstance(data, dict) and "nodeflow" not in data else None
    if isinstance(inner, dict) and isinstance(inner.get("workflow"), dict) and \
            not any(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return inner["workflow"], "the workflow was unwrapped from a hosting service's " \
                                  "request ({\"input\": {\"workflow\": ...}})"
    return data, ""


def _parse_converted(converted: dict) -> Workflow:
    try:
        return parse_workflow(converted)
    except WorkflowError as exc:  # a value our format cannot hold (NaN, ...)
        raise WorkflowError([Problem(None, None, "the converted workflow is not valid: "
                                     + "; ".join(map(str, exc.problems)))]) from None


def _ui_version(data: dict) -> str:
    version = data.get("version")
    return str(version) if isinstance(version, (int, float, str)) else "unknown"


def _unknown_format(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        return "not a known workflow format: it has \"nodes\" but no \"links\" (a ComfyUI " \
               "editor workflow has both)"
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return "not a known workflow format: an API-format prompt needs \"class_type\" in " \
               "every node"
    kinds = {dict: "an object", list: "a list", str: "a string"}
    return (f"not a known workflow format (got {kinds.get(type(data), 'a value')}): expected a "
            f"nodeflow workflow (\"nodeflow\": {FORMAT_VERSION}), a ComfyUI API-format prompt "
            "or a ComfyUI editor workflow")
