"""Size limits checked before a prompt is queued: what a run will allocate follows from its
sizes, so an 8192x8192 batch of 64 or a megabyte of prompt text is refused up front, with the
node and input named, instead of growing until the machine runs out of memory.

The rules are generic, not per node type: any node with ``width`` and ``height`` inputs makes
``width x height x batch_size`` pixels (each a literal or a link to a primitive node such as
PrimitiveInt, whose literal is followed); any literal text input is a text.
"""
from __future__ import annotations

from typing import Any

from ..errors import Problem
from ..settings import Settings
from ..workflow import Workflow

_MAX_HOPS = 8


def size_problems(workflow: Workflow, settings: Settings) -> list[Problem]:
    problems = []
    for node_id, spec in workflow.nodes.items():
        for name, text in spec.inputs.items():  # literals only: a linked text is checked once,
            if isinstance(text, str) and len(text) > settings.max_text_chars:  # at its source
                problems.append(Problem(node_id, name, (
                    f"the text is {len(text)} characters long; the limit is "
                    f"{settings.max_text_chars} (max_text_chars)"), "too_long"))
        if "width" in spec.inputs and "height" in spec.inputs:
            width, height = (_resolve(workflow, spec.inputs[k]) for k in ("width", "height"))
            batch = _resolve(workflow, spec.inputs.get("batch_size", 1))
            if all(_is_count(v) for v in (width, height, batch)):
                pixels = width * height * batch
                if pixels > settings.max_pixels:
                    problems.append(Problem(node_id, "width", (
                        f"{width}x{height} pixels x batch {batch} = {pixels} pixels; the "
                        f"limit is {settings.max_pixels} (max_pixels)"), "above_max"))
    return problems


def _resolve(workflow: Workflow, value: Any) -> Any:
    """A literal, or the literal ``value`` of the primitive node a link points at."""
    for _ in range(_MAX_HOPS):
        if not (isinstance(value, dict) and set(value) == {"node", "output"}):
            return value
        source = workflow.nodes.get(value["node"]) if isinstance(value["node"], str) else None
        if source is None or "value" not in source.inputs:
            return None
        value = source.inputs["value"]
    return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
