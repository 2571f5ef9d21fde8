"""The workflow file, format version 1: pydantic models, loading and saving.

Links and values are by name: an input is either a link ``{"node": id, "output": name}`` or a
literal JSON value. ``ui`` (per node and top level) is layout for the editor; the engine ignores
it. Saving a loaded file without edits gives back the same text.
"""
from __future__ import annotations

import json
import math
from typing import Any, Literal, NamedTuple

import pydantic
from pydantic import BaseModel, ConfigDict

from .errors import Problem, WorkflowError, short_repr

FORMAT_VERSION = 1


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    node: str
    output: str


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: str
    version: str | None = None
    inputs: dict[str, Any] = {}
    # "bypass": outputs pass on inputs of the same type; "mute": the node does not run
    mode: Literal["bypass", "mute"] | None = None
    ui: dict[str, Any] | None = None


class SubgraphInput(BaseModel):
    """An input a subgraph exposes: its socket type name, and a default that makes it
    optional."""
    model_config = ConfigDict(extra="forbid", strict=True)
    type: str
    default: Any = None
    description: str | None = None
    ui: dict[str, Any] | None = None


class SubgraphDef(BaseModel):
    """A workflow with declared inputs and outputs, used as a node (see docs/workflow-format.md).

    Inner nodes read the subgraph's inputs through links to the reserved node id ``@inputs``;
    ``outputs`` maps each output name to a link to an inner node's output."""
    model_config = ConfigDict(extra="forbid", strict=True)
    description: str | None = None
    category: str | None = None
    inputs: dict[str, SubgraphInput] = {}
    outputs: dict[str, Link] = {}
    nodes: dict[str, NodeSpec]
    ui: dict[str, Any] | None = None


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    nodeflow: Literal[1]
    name: str | None = None
    description: str | None = None
    requires: dict[str, Any] | None = None
    nodes: dict[str, NodeSpec]
    subgraphs: dict[str, SubgraphDef] | None = None
    ui: dict[str, Any] | None = None


class LinkRef(NamedTuple):
    """A link as the engine reads it (a plain tuple: links are read many times per run)."""
    node: str
    output: str

    def model_dump(self) -> dict[str, str]:
        """The link as it is written in a file (the same call as on :class:`Link`)."""
        return {"node": self.node, "output": self.output}


def as_link(value: Any) -> LinkRef | None:
    """The link a value stands for, or None for a literal. Malformed links raise ValueError."""
    if not isinstance(value, dict) or "node" not in value:
        return None
    if set(value) != {"node", "output"} or not all(isinstance(v, str) for v in value.values()):
        raise ValueError('a link must be {"node": "<node id>", "output": "<output name>"} '
                         f"with two strings, got {short_repr(value)}")
    return LinkRef(value["node"], value["output"])


def parse_workflow(source: str | bytes | dict) -> Workflow:
    """Read a workflow from JSON text or an already-parsed dict.

    Raises :class:`WorkflowError` (and nothing else) for anything that is not a valid
    version-1 workflow file.
    """
    data = _json(source) if isinstance(source, (str, bytes, bytearray)) else source
    if not isinstance(data, dict):
        raise WorkflowError([Problem(None, None, "a workflow must be a JSON object, got "
                                     f"{_json_type(data)}")])
    if "nodeflow" not in data:
        raise WorkflowError([Problem(None, None, _not_nodeflow_hint(data))])
    if data.get("nodeflow") != FORMAT_VERSION:
        raise WorkflowError([Problem(None, None, f"unsupported format version "
                                     f"{short_repr(data.get('nodeflow'))}; this nodeflow reads "
                                     f'"nodeflow": {FORMAT_VERSION}')])
    try:
        where = _non_finite(data)
        if where is not None:
            raise WorkflowError([Problem(None, None, f"{where}: NaN and infinity are not JSON "
                                         "numbers")])
        return Workflow.model_validate(data)
    except pydantic.ValidationError as exc:
        raise WorkflowError([_problem_from_pydantic(err) for err in exc.errors()]) from None
    except RecursionError:
        raise WorkflowError([Problem(None, None, "the file is nested too deeply")]) from None


def dump_workflow(workflow: Workflow) -> str:
    """JSON text in nodeflow's stable layout (2-space indent, UTF-8, trailing newline)."""
    data = workflow.model_dump(mode="json", exclude_unset=True)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _json(text: str | bytes | bytearray) -> Any:
    try:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8-sig")
        return json.loads(text)
    except UnicodeDecodeError:
        raise WorkflowError([Problem(None, None, "the file is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise WorkflowError([Problem(None, None, f"not valid JSON: {exc.msg} at line "
                                     f"{exc.lineno} column {exc.colno}")]) from None
    except RecursionError:
        raise WorkflowError([Problem(None, None, "the file is nested too deeply")]) from None


def json_problem(value: Any) -> str | None:
    """Why ``value`` is no plain JSON value (null, true/false, a finite number, a string, a
    list or an object of them), naming where inside it; None when it is one."""
    where = _non_finite(value)
    if where is not None:
        return f"{where if where != 'value' else 'the value'} is NaN or infinite, which JSON " \
               "cannot hold"
    return _not_json(value)


def _not_json(value: Any, path: str = "") -> str | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            return f"{path or 'the value'} has a key {bad!r} that is not a string"
        items = value.items()
    else:
        return f"{path or 'the value'} is a {type(value).__name__}, not a JSON value"
    for key, item in items:
        found = _not_json(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite number inside ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "value"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _not_nodeflow_hint(data: dict) -> str:
    if "nodes" in data and "links" in data:
        kind = "a ComfyUI editor workflow"
    elif data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        kind = "a ComfyUI API-format workflow"
    else:
        return 'not a nodeflow workflow: the key "nodeflow" (the format version) is missing'
    return (f"this is {kind}, not a nodeflow one; convert it with "
            "`nodeflow import FILE -o OUT.json`")


def _problem_from_pydantic(err: dict) -> Problem:
    loc = [str(part) for part in err.get("loc", ())]
    node = inp = None
    if len(loc) >= 2 and loc[0] == "nodes":
        node = loc[1]
        if len(loc) >= 4 and loc[2] == "inputs":
            inp = loc[3]
        rest = loc[2:3] if inp is None else loc[4:]
    else:
        rest = loc
    field = ".".join(rest)
    kind = err.get("type", "")
    if kind == "missing":
        message = f"'{field}' is missing"
    elif kind == "extra_forbidden":
        message = f"unknown key '{field}'"
    else:
        message = (f"'{field}': " if field else "") + err.get("msg", "invalid")
        if kind not in ("dict_type",) and "input" in err:
            message += f" (got {short_repr(err['input'])})"
    return Problem(node, inp, message)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")

