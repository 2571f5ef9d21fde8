"""The registry as ComfyUI sees it: /object_info in ComfyUI's names, for ComfyUI's own
frontend and for every ComfyUI API client.

Built from the translation table (mapping.py), generically, so every mapping added there
appears here: a mapped node is published under its ComfyUI class name with ComfyUI's input
names, widget order, value forms (``"enable"`` for True, ``-2`` for skip 2, ...), outputs in
ComfyUI's order and ``python_module: "nodes"`` (core). POST /prompt translates it back through
the same table, so nodeflow's node runs it.

A node that ComfyUI has no counterpart for keeps its nodeflow name, under the category
``nodeflow/...`` and the module ``custom_nodes.nodeflow`` (a pack's nodes under
``custom_nodes.<pack>``). When its name is also a ComfyUI core node's (nodeflow's
LatentInterpolate is not ComfyUI's), it is published as ``nodeflow.<name>`` instead, so no
name means two different nodes; :func:`native_type` reads such a name back.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from ..registry import Registry
from .mapping import CONTROL, NODE_MAPPINGS, NodeMapping

ALIAS_PREFIX = "nodeflow."
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
_OPTION_KEYS = ("default", "min", "max", "step", "multiline", "tooltip",
                "control_after_generate")
UPLOAD_WIDGET = "upload"
"""ComfyUI's image picker button: made by the frontend from ``image_upload``, not an input;
its value ("image") comes after every other widget value."""
_MULTILINE = {"PrimitiveString": False, "PrimitiveStringMultiline": True}


@functools.lru_cache(maxsize=1)
def comfy_core_names() -> frozenset[str]:
    """ComfyUI's core node class names (core_names.txt) and every name the table maps."""
    text = resources.files(__package__).joinpath("core_names.txt").read_text(encoding="utf-8")
    names = {line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("#")}
    return frozenset(names | set(NODE_MAPPINGS))


def published_name(nodeflow_type: str) -> str:
    """The ComfyUI view's name for a node type that no mapping covers."""
    return ALIAS_PREFIX + nodeflow_type if nodeflow_type in comfy_core_names() else nodeflow_type


def native_type(class_type: str, registry: Registry | None) -> str:
    """The nodeflow type behind a name of the ComfyUI view (``nodeflow.X`` -> ``X``)."""
    if class_type.startswith(ALIAS_PREFIX) and registry is not None:
        rest = class_type[len(ALIAS_PREFIX):]
        if rest in registry and rest in comfy_core_names():
            return rest
    return class_type


def comfy_object_info(registry: Registry, settings: Any) -> dict[str, dict]:
    """Every node type in ComfyUI's /object_info shape and names."""
    schemas = registry.schemas(settings)
    mapped_types: set[str] = set()
    view: dict[str, dict] = {}
    for mapping in NODE_MAPPINGS.values():
        schema = schemas.get(mapping.nodeflow_type)
        if schema is None or (not mapping.export and mapping.dropped):
            # an import-only mapping that drops inputs (ComfyUI's deprecated CheckpointLoader
            # and its config_name) reads old files; it is not a node to offer as ComfyUI's
            continue
        mapped_types.add(mapping.nodeflow_type)
        view[mapping.comfy_type] = mapped_info(mapping, schema)
    for name, schema in schemas.items():
        if name in mapped_types:
            continue
        info = native_info(schema, _module(registry, schema.get("pack")))
        view[info["name"]] = info
    return view


def mapped_info(mapping: NodeMapping, schema: dict) -> dict:
    """A mapped node under ComfyUI's name: sockets, then the widgets in ComfyUI's order."""
    by_name = {inp["name"]: inp for inp in schema["inputs"]}
    widgets = [w for w in mapping.widgets if w != CONTROL and w != UPLOAD_WIDGET]
    specs: list[tuple[str, list, bool]] = []
    done: set[str] = set()
    for inp in schema["inputs"]:
        comfy = mapping.comfy_input_name(inp["name"])
        if inp.get("link_only") and comfy not in widgets:
            specs.append((comfy, _socket_spec(inp), _is_optional(inp)))
            done.add(inp["name"])
    for comfy in widgets:
        if comfy in mapping.dropped:
            specs.append((comfy, _dropped_spec(mapping, comfy), False))
            continue
        inp = by_name.get(mapping.input_name(comfy))
        if inp is None:
            continue
        specs.append((comfy, _widget_spec(inp, mapping.exported.get(inp["name"])),
                      _is_optional(inp)))
        done.add(inp["name"])
    for inp in schema["inputs"]:  # inputs the table's widget list does not name (yet)
        if inp["name"] not in done:
            specs.append((mapping.comfy_input_name(inp["name"]),
                          _widget_spec(inp, mapping.exported.get(inp["name"])),
                          _is_optional(inp)))
    controlled = {mapping.widgets[i - 1] for i, w in enumerate(mapping.widgets)
                  if w == CONTROL and i > 0}
    for comfy, spec, _ in specs:  # the table says which widget has ComfyUI's seed control
        if comfy in controlled:
            spec[1]["control_after_generate"] = True
    if mapping.comfy_type in _MULTILINE:  # two ComfyUI nodes over one nodeflow node
        multiline = _MULTILINE[mapping.comfy_type]
        specs = [(n, [s[0], {**{k: v for k, v in s[1].items() if k != "multiline"},
                             **({"multiline": True} if multiline else {})}], o)
                 for n, s, o in specs]
    outputs = {out["name"]: out for out in schema["outputs"]}
    names = [n for n in mapping.outputs if n in outputs] or [o["name"] for o in
                                                             schema["outputs"]]
    return _info(mapping.comfy_type, schema, specs, [outputs[n]["type"] for n in names],
                 category=schema["category"], module="nodes")


def native_info(schema: dict, module: str) -> dict:
    """A node ComfyUI has no counterpart for: its nodeflow inputs in order (so the widget
    values line up with nodeflow's UI-format importer), under nodeflow's category."""
    specs = []
    for inp in schema["inputs"]:
        socket = inp.get("link_only") or inp.get("widget") == "socket"  # forceInput
        spec = _socket_spec(inp) if socket else _widget_spec(inp, None)
        specs.append((inp["name"], spec, _is_optional(inp)))
    category = schema["category"]
    if module == BUILTIN_MODULE:
        category = f"nodeflow/{category}" if category else "nodeflow"
    return _info(published_name(schema["type"]), schema, specs,
                 [o["type"] for o in schema["outputs"]], category=category, module=module,
                 output_names=[o["name"] for o in schema["outputs"]])


BUILTIN_MODULE = "custom_nodes.nodeflow"


def _info(name: str, schema: dict, specs: list[tuple[str, list, bool]], output_types: list[str],
          *, category: str, module: str, output_names: list[str] | None = None) -> dict:
    required = {n: s for n, s, optional in specs if not optional}
    optional = {n: s for n, s, is_optional in specs if is_optional}
    inputs: dict[str, dict] = {"required": required}
    order: dict[str, list[str]] = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    return {
        "input": inputs,
        "input_order": order,
        "output": output_types,
        "output_is_list": [False] * len(output_types),
        "output_name": output_names or list(output_types),
        "name": name,
        "display_name": schema["display_name"],
        "description": schema["description"],
        "category": category,
        "output_node": schema["output_node"],
        "python_module": module,
        "deprecated": False,
        "experimental": False,
    }


def _is_optional(inp: dict) -> bool:
    return not inp["required"] and inp.get("default") is None


def _options(inp: dict) -> dict:
    return {k: inp[k] for k in _OPTION_KEYS if k in inp and inp[k] is not None}


def _socket_spec(inp: dict) -> list:
    options = {k: v for k, v in _options(inp).items() if k in ("tooltip",)}
    if inp["type"] in WIDGET_TYPES:
        options["forceInput"] = True  # a primitive that nodeflow takes only from a link
    return [inp["type"], options]


def _widget_spec(inp: dict, convert) -> list:
    """``inp`` as a ComfyUI widget, its values in ComfyUI's form when ``convert`` is given."""
    options = _options(inp)
    if inp.get("upload") == "image":
        options["image_upload"] = True
    if convert is None:
        if "choices" in inp:
            return [list(inp["choices"]), options]
        return [inp["type"], options]
    if "default" in options:
        options["default"] = convert(options["default"])
    if "choices" in inp:
        return [[convert(c) for c in inp["choices"]], options]
    if inp["type"] == "BOOLEAN":
        return [[convert(True), convert(False)], options]
    if "min" in options and "max" in options:
        low, high = sorted((convert(options["min"]), convert(options["max"])))
        options["min"], options["max"] = low, high
    return [inp["type"], options]


def _dropped_spec(mapping: NodeMapping, name: str) -> list:
    """A ComfyUI input that nodeflow drops: only the values it may drop, its fill as default."""
    allowed = mapping.dropped[name]
    fill = mapping.fill.get(name)
    if allowed is not None:
        return [list(allowed), {"default": fill if fill in allowed else allowed[0]}]
    kind = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}.get(type(fill), "INT")
    return [kind, {"default": fill, "tooltip": "not used by nodeflow"}]


def _module(registry: Registry, pack: str | None) -> str:
    info = registry.packs.get(pack or "")
    if info is not None and info.kind == "builtin":
        return BUILTIN_MODULE
    return f"custom_nodes.{pack}"
