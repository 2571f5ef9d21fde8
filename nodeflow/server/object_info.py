"""nodeflow's node schemas in ComfyUI's /object_info shape.

Per node: ``input`` {"required": {name: [TYPE or [choices], {options}]}, "optional": {...}},
``input_order``, ``output``, ``output_name``, ``output_is_list``, ``input_is_list`` (when an
input takes a whole list), ``name``, ``display_name``,
``description``, ``category``, ``output_node``, ``python_module``, and ``nodeflow``: the node's
own nodeflow schema (versions, socket colours, link-only inputs), so the editor needs only this.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

# nodeflow schema keys that ComfyUI's widget options know under the same name
_OPTION_KEYS = ("default", "min", "max", "step", "multiline", "tooltip", "display_name",
                "control_after_generate", "lazy")


def object_info(registry: Registry, settings: Any) -> dict[str, dict]:
    return {name: node_info(schema, _python_module(registry, schema.get("pack")))
            for name, schema in registry.schemas(settings).items()}


def node_info(schema: dict, python_module: str) -> dict:
    required: dict[str, list] = {}
    optional: dict[str, list] = {}
    for inp in schema["inputs"]:
        (optional if _is_optional(inp) else required)[inp["name"]] = _input_spec(inp)
    for family in schema.get("families", ()):
        # ComfyUI's shape has no families: the members that must be connected, and one more
        for index in range(1, min(family["min"] + 1, family["max"]) + 1):
            (required if index <= family["min"] else optional)[f"{family['name']}_{index}"] = [
                family["type"], {}]
    inputs: dict[str, dict] = {"required": required}
    order: dict[str, list[str]] = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    outputs = schema["outputs"]
    return {
        "input": inputs,
        "input_order": order,
        "output": [o["type"] for o in outputs],
        "output_is_list": [bool(o.get("is_list")) for o in outputs],
        "output_name": [o["name"] for o in outputs],
        "name": schema["type"],
        "display_name": schema["display_name"],
        "description": schema["description"],
        "category": schema["category"],
        "output_node": schema["output_node"],
        **({"input_is_list": True} if any(i.get("is_list") for i in schema["inputs"]) else {}),
        "python_module": python_module,
        "nodeflow": schema,
    }


def _is_optional(inp: dict) -> bool:
    """ComfyUI's "optional": inputs that may stay empty (no value needed, no link needed)."""
    return not inp["required"] and inp.get("default") is None


def _input_spec(inp: dict) -> list:
    options = {k: inp[k] for k in _OPTION_KEYS if k in inp and inp[k] is not None}
    if inp.get("upload") == "image":
        options["image_upload"] = True  # ComfyUI's mark for an image picker with upload
    if "choices" in inp:
        return [list(inp["choices"]), options]
    return [inp["type"], options]


def _python_module(registry: Registry, pack: str | None) -> str:
    """ComfyUI clients treat "nodes" as core and "custom_nodes.X" as a third-party pack."""
    info = registry.packs.get(pack or "")
    if info is not None and info.kind == "builtin":
        return "nodes"
    return f"custom_nodes.{pack}"
