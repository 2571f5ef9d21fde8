"""Accepting a prompt: a nodeflow workflow or a ComfyUI API-format graph, translated,
upgraded and validated before it may enter the queue.

A prompt that cannot run is rejected with ComfyUI's 400 shape: ``error`` (type, message,
details, extra_info, and nodeflow's ``problems`` list) and ``node_errors`` per node
(``errors`` with type/message/details/extra_info.input_name, ``dependent_outputs``,
``class_type``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..comfy import convert_api_prompt, is_api_prompt, mapping_for
from ..errors import Problem, WorkflowError
from ..migrations import upgrade_workflow
from ..registry import Registry
from ..settings import Settings
from ..engine.subgraphs import flatten
from ..engine.validate import validate
from ..workflow import Workflow, parse_workflow
from .limits import size_problems


@dataclass
class Accepted:
    workflow: dict
    """The nodeflow workflow to run, as JSON."""
    outputs: list[str]
    """The output node ids (ComfyUI's outputs_to_execute)."""


class PromptRejected(Exception):
    def __init__(self, kind: str, message: str, problems: list[Problem],
                 class_types: dict[str, str], *, comfy: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.problems = problems
        self.class_types = class_types
        self.comfy = comfy
        """The prompt was ComfyUI's API format: inputs are named as ComfyUI names them."""

    def to_json(self) -> dict[str, Any]:
        general = [str(p) for p in self.problems if p.node is None]
        node_errors: dict[str, dict] = {}
        for problem in self.problems:
            if problem.node is None:
                continue
            entry = node_errors.setdefault(problem.node, {
                "errors": [], "dependent_outputs": [],
                "class_type": self.class_types.get(problem.node)})
            name = problem.input
            if name and self.comfy:
                name = _input_name(self.class_types.get(problem.node), name)
            shown = Problem(problem.node, name, problem.message, problem.kind)
            entry["errors"].append({
                "type": _problem_type(self.kind, problem), "message": problem.message,
                "details": str(shown), "extra_info": {"input_name": name} if name else {}})
        return {"error": {"type": self.kind, "message": self.message,
                          "details": "; ".join(general) if general else "",
                          "extra_info": {},
                          "problems": [p.to_json() for p in self.problems]},
                "node_errors": node_errors}


def accept_prompt(prompt: Any, registry: Registry, settings: Settings) -> Accepted:
    """Raises :class:`PromptRejected`. Runs validation, so call it off the event loop."""
    if isinstance(prompt, dict) and "nodeflow" in prompt:
        nodes = prompt.get("nodes")
        class_types = {k: v.get("type") for k, v in nodes.items()
                       if isinstance(v, dict) and isinstance(v.get("type"), str)} \
            if isinstance(nodes, dict) else {}
        workflow = _parse(prompt, class_types)
    elif is_api_prompt(prompt):
        bad = [Problem(str(k), None, "class_type must be a string", "wrong_type")
               for k, v in prompt.items() if not isinstance(v["class_type"], str)]
        if bad:
            raise PromptRejected("invalid_prompt", "Invalid prompt: a class_type is not a "
                                 "string", bad, {})
        class_types = {str(k): v["class_type"] for k, v in prompt.items()}
        converted, problems = convert_api_prompt(prompt, registry)
        if problems:
            untranslatable = [f"{p.node} ({class_types.get(p.node)})" for p in problems
                              if p.input is None and p.node is not None]
            message = ("Prompt has nodes with no nodeflow counterpart: "
                       + ", ".join(untranslatable)) if untranslatable else \
                "Prompt could not be translated to a nodeflow workflow"
            raise PromptRejected("prompt_translation_failed", message, problems, class_types,
                                 comfy=True)
        workflow = _parse(converted, class_types)
    else:
        raise PromptRejected("invalid_prompt", "Invalid prompt: expected a nodeflow workflow "
                             "or a ComfyUI API-format prompt", [], {})
    workflow, _notes = upgrade_workflow(workflow, registry)
    too_large = size_problems(workflow, settings)
    if too_large:
        raise PromptRejected("prompt_too_large", "Prompt is larger than this server's limits",
                             too_large, class_types)
    problems = validate(workflow, registry, settings)
    if problems:
        raise PromptRejected("prompt_outputs_failed_validation",
                             "Prompt outputs failed validation", problems, class_types,
                             comfy="nodeflow" not in prompt)
    flat = flatten(workflow, registry).workflow  # output nodes inside subgraphs count too
    outputs = [n for n, spec in flat.nodes.items() if registry.get(spec.type).output_node]
    return Accepted(workflow.model_dump(mode="json", exclude_unset=True), outputs)


def _parse(data: dict, class_types: dict[str, str]) -> Workflow:
    try:
        return parse_workflow(data)
    except WorkflowError as exc:
        raise PromptRejected("invalid_prompt", "Invalid prompt: not a valid workflow",
                             exc.problems, class_types) from None


def _input_name(class_type: str | None, name: str) -> str:
    """The input's name as the client knows it: ComfyUI's for a mapped ComfyUI class type
    (the frontend marks the widget of that name)."""
    mapping = mapping_for(class_type) if class_type else None
    return mapping.comfy_input_name(name) if mapping is not None else name


def _problem_type(kind: str, problem: Problem) -> str:
    if kind == "prompt_translation_failed":
        return "untranslatable_node" if problem.input is None else "untranslatable_input"
    if problem.message.startswith("missing required input"):
        return "required_input_missing"
    if kind == "prompt_too_large":
        return "value_too_large"
    if problem.message.startswith("unknown node type"):
        return "invalid_node_type"
    return "invalid_input" if problem.input else "invalid_node"
