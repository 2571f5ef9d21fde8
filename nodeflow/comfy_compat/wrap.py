"""ComfyUI node classes (V1 ``INPUT_TYPES`` classes and V3 ``io.ComfyNode``s) as nodeflow
:class:`~nodeflow.declare.NodeDef`s, declared through the same NodeDef every node uses.

One :class:`Spec` describes a class the way ComfyUI shows it (names, widgets, defaults,
outputs named by RETURN_NAMES or type); :func:`node_def` turns it into a NodeDef whose function
converts values at the boundary (:mod:`.values`), fills hidden inputs from ``ctx`` and maps
``{"ui", "result", "expand"}`` returns onto nodeflow's reports and expansions.
"""
from __future__ import annotations

import inspect
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ..declare import InputSpec, NodeDef, OutputSpec
from ..errors import NodeError
from ..fields import REQUIRED, SOCKET_WIDGET, FieldSpec
from ..flow import ExecutionBlocker
from ..types import BUILTIN_TYPES, AnyType, socket_by_name
from ..workflow import as_link, json_problem
from . import runtime, values
from .missing import Missing, MissingComfyAPI

PRIMITIVE_DEFAULTS = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}
HIDDEN = {"UNIQUE_ID": "unique_id", "PROMPT": "prompt", "EXTRA_PNGINFO": "extra_pnginfo",
          "DYNPROMPT": "dynprompt", "AUTH_TOKEN_COMFY_ORG": "auth_token",
          "API_KEY_COMFY_ORG": "api_key"}


class Unsupported(Exception):
    """A class nodeflow cannot declare; the message is the one-line reason."""


@dataclass
class Spec:
    type_name: str
    display_name: str
    category: str
    description: str
    inputs: list[tuple[str, Any, dict, bool]]  # name, ComfyUI type, options, optional
    hidden: dict[str, str]  # argument name -> HIDDEN kind ("unique_id", "prompt", ...)
    outputs: list[tuple[str, str, bool]]  # name, type, is_list
    output_node: bool
    input_is_list: bool
    call: Callable[..., Any]
    check_lazy: Callable[..., Any] | None = None
    is_changed: Callable[..., Any] | None = None
    validate: Callable[..., Any] | None = None
    is_async: bool = False
    not_idempotent: bool = False
    extra: dict = field(default_factory=dict)
    any_name: Any = None
    """The ComfyUI type of inputs with undeclared names, for a class whose optional dict
    contains every name (rgthree's FlexibleOptionalInputType); None for strict classes."""


def v1_spec(type_name: str, cls: type, display_name: str | None) -> Spec:
    try:
        declared = cls.INPUT_TYPES()
    except MissingComfyAPI:
        raise
    except Exception as exc:  # noqa: BLE001 - the class's own bug, told in one line
        raise Unsupported(f"INPUT_TYPES() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(declared, dict):
        raise Unsupported("INPUT_TYPES() did not return a dict")
    inputs = []
    for section, optional in (("required", False), ("optional", True)):
        for name, entry in (declared.get(section) or {}).items():
            kind, opts = (entry[0], entry[1] if len(entry) > 1 else {}) if isinstance(
                entry, (tuple, list)) else (entry, {})
            opts = dict(opts or {})
            if isinstance(kind, (list, tuple)):
                opts["_refresh"] = _refresher(cls, section, name, list(kind))
            inputs.append((name, kind, opts, optional))
    any_name = _any_name_type(declared.get("optional"))
    hidden = {}
    for name, kind in (declared.get("hidden") or {}).items():
        kind = kind[0] if isinstance(kind, (tuple, list)) else kind
        hidden[name] = HIDDEN.get(kind, str(kind).lower())
    function = getattr(cls, "FUNCTION", None)
    if not isinstance(function, str) or not callable(getattr(cls, function, None)):
        raise Unsupported(f"FUNCTION {function!r} is not a method of the class")
    types_ = list(getattr(cls, "RETURN_TYPES", ()) or ())
    names = list(getattr(cls, "RETURN_NAMES", None) or [])
    is_list = list(getattr(cls, "OUTPUT_IS_LIST", None) or [])
    outputs = []
    for i, kind in enumerate(types_):
        kind = "COMBO" if isinstance(kind, (list, tuple)) else str(kind)
        name = names[i] if i < len(names) else kind
        outputs.append((name, kind, bool(is_list[i]) if i < len(is_list) else False))

    def call(**kwargs: Any) -> Any:
        return getattr(cls(), function)(**kwargs)

    lazy = None
    if callable(getattr(cls, "check_lazy_status", None)):
        def lazy(**kwargs: Any) -> Any:
            return cls().check_lazy_status(**kwargs)
    return Spec(
        type_name=type_name, display_name=display_name or getattr(cls, "DISPLAY_NAME", None)
        or type_name, category=str(getattr(cls, "CATEGORY", "custom_nodes")),
        description=str(getattr(cls, "DESCRIPTION", "") or ""), inputs=inputs, hidden=hidden,
        outputs=outputs, output_node=bool(getattr(cls, "OUTPUT_NODE", False)),
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)), call=call,
        check_lazy=lazy, is_changed=getattr(cls, "IS_CHANGED", None),
        validate=getattr(cls, "VALIDATE_INPUTS", None),
        is_async=inspect.iscoroutinefunction(getattr(cls, function)),
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)), any_name=any_name)


_PROBE = "nodeflow: an input name no class declares"


def _any_name_type(optional: Any) -> Any:
    """The type a class's optional dict gives a name it cannot have declared, when it says
    it contains that name (packs do this to get every widget value and input their editor
    extension adds, e.g. lora_1, lora_2, ...); else None."""
    try:
        if optional is None or _PROBE not in optional:
            return None
        entry = optional[_PROBE]
    except Exception:  # noqa: BLE001 - a dict that cannot answer is a strict one
        return None
    kind = entry[0] if isinstance(entry, (tuple, list)) and entry else entry
    return str(kind) if isinstance(kind, str) else "*"


def _refresher(cls: type, section: str, name: str, static: list) -> Callable[[Any], list]:
    """Combo choices asked again each time (ComfyUI re-reads INPUT_TYPES for /object_info:
    packs list model files there); the list from load time if asking fails."""
    def choices(settings: Any = None) -> list:
        try:
            entry = cls.INPUT_TYPES()[section][name]
            kind = entry[0] if isinstance(entry, (tuple, list)) else entry
            return list(kind) if isinstance(kind, (list, tuple)) else static
        except Exception:  # noqa: BLE001 - the load-time list stays valid
            return static
    return choices


def _input_spec(name: str, kind: Any, opts: dict, optional: bool) -> InputSpec:
    if isinstance(kind, Missing):
        kind()  # raises MissingComfyAPI naming it
    choices = None
    if isinstance(kind, (list, tuple)):
        choices, kind = list(kind), "COMBO"
    elif kind == "COMBO":
        choices = list(opts.get("options") or [])
    if kind == "COMBO":
        socket = socket_by_name("STRING")
        if choices and not all(isinstance(c, str) for c in choices):
            socket = AnyType
    elif isinstance(kind, str) and "," in kind:
        socket = AnyType  # "IMAGE,MASK": ComfyUI's several accepted types
    elif isinstance(kind, str):
        socket = AnyType if kind == "*" else socket_by_name(kind)
    else:
        raise Unsupported(f"input '{name}' has type {kind!r}")
    # a pack's own type (not one nodeflow knows): ComfyUI passes the value a widget the pack's
    # editor extension registers for it (getCustomWidgets) gives, so a JSON value is taken too
    own_type = socket not in BUILTIN_TYPES and choices is None
    if socket.is_literal() or choices is not None:
        default = opts.get("default", choices[0] if choices else PRIMITIVE_DEFAULTS.get(kind))
        if choices is not None and default not in choices and choices:
            default = choices[0]
        if kind == "FLOAT" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)
    else:
        default = None
    if optional and socket.is_literal() and "default" not in opts:
        default = None
    upload = "image" if opts.get("image_upload") else None
    # forceInput: a socket in the editor, never a widget; required means linked (or given)
    socket_only = bool(opts.get("forceInput") or opts.get("defaultInput")) and socket.is_literal()
    spec = FieldSpec(
        default=default if (default is not None or optional or not socket.is_literal())
        else PRIMITIVE_DEFAULTS.get(kind),
        ge=opts.get("min") if kind in ("INT", "FLOAT") else None,
        le=opts.get("max") if kind in ("INT", "FLOAT") else None,
        step=opts.get("step") if kind in ("INT", "FLOAT") else None,
        choices=opts.get("_refresh") or choices,
        multiline=bool(opts.get("multiline")) and kind == "STRING",
        tooltip=str(opts.get("tooltip") or ""),
        display_name=opts.get("display_name") if isinstance(opts.get("display_name"), str)
        else None,
        control_after_generate=bool(opts.get("control_after_generate")), upload=upload,
        widget=SOCKET_WIDGET if socket_only else None, lazy=bool(opts.get("lazy")))
    if socket_only and not optional:  # ComfyUI: "required input is missing" when unlinked
        spec = FieldSpec(**{**spec.__dict__, "default": REQUIRED})
    if not socket.is_literal() and choices is None:
        default = None if optional else REQUIRED
        if own_type and json_problem(opts.get("default")) is None and \
                opts.get("default") is not None:
            default = opts["default"]  # what the pack's widget starts at
        spec = FieldSpec(**{**spec.__dict__, "default": default})
    # "*" and "FLOAT,INT"-style inputs are sockets in ComfyUI's editor, but an API-format
    # prompt may give them a literal, which ComfyUI passes on unchecked
    several = choices is None and (kind == "*" or "," in kind)
    return InputSpec(name, socket, spec, optional, json_value=own_type or several)


def node_def(spec: Spec, registry: Any, pack: str) -> NodeDef:
    """The NodeDef for ``spec``; ``registry`` names outputs of expansion nodes."""
    inputs = {}
    kinds: dict[str, str] = {}
    for name, kind, opts, optional in spec.inputs:
        inp = _input_spec(name, kind, opts, optional)
        if spec.input_is_list:
            inp = InputSpec(inp.name, inp.socket, inp.field, inp.optional, True)
        inputs[name] = inp
        kinds[name] = "COMBO" if isinstance(kind, (list, tuple)) else str(kind)
    outputs, seen = [], set()
    for name, kind, is_list in spec.outputs:
        unique, n = name, 2
        while unique in seen:
            unique, n = f"{name}_{n}", n + 1
        seen.add(unique)
        socket = AnyType if kind in ("*", "COMBO") else socket_by_name(kind)
        outputs.append(OutputSpec(unique, socket, is_list))
    extra_inputs = None
    extra_kind = "*"
    if spec.any_name is not None:
        extra_kind = spec.any_name
        socket = AnyType if extra_kind == "*" or "," in extra_kind else socket_by_name(
            extra_kind)
        extra_inputs = InputSpec("*", socket, FieldSpec(default=None), True,
                                 spec.input_is_list, json_value=True)
    out_kinds = [kind for _, kind, _ in spec.outputs]
    output_names = [o.name for o in outputs]

    def prepare(kwargs: dict, ctx: Any) -> dict:
        args = {}
        for name, value in kwargs.items():
            kind = kinds.get(name, extra_kind)
            if spec.input_is_list and isinstance(value, list):
                args[name] = [values.to_comfy(kind, v) for v in value]
            else:
                args[name] = values.to_comfy(kind, value)
        for name, hidden in spec.hidden.items():
            args[name] = _hidden(hidden, ctx, registry)
        return args

    def finish(result: Any, ctx: Any) -> Any:
        if isinstance(result, dict):
            ui = result.get("ui")
            if isinstance(ui, dict):
                ctx.report(**{k: v if isinstance(v, list) else [v] for k, v in ui.items()})
            expand = result.get("expand")
            result = result.get("result", ())
            if expand is not None:
                from .graph_utils import to_expansion

                return to_expansion(expand, tuple(result or ()), output_names, registry)
        if hasattr(result, "__nodeflow_output__"):
            result = result.__nodeflow_output__(ctx)
        if not outputs:
            return None
        if isinstance(result, ExecutionBlocker):
            result = (result,) * len(outputs)
        if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
            got = len(result) if isinstance(result, (tuple, list)) else type(result).__name__
            raise NodeError(f"{spec.type_name} returned {got} values for "
                            f"{len(outputs)} outputs ({', '.join(output_names)})")
        converted = []
        for value, kind, out in zip(result, out_kinds, outputs):
            if isinstance(value, ExecutionBlocker):
                converted.append(value)
            elif value is None:
                # ComfyUI hands None on (context nodes return it for every empty field);
                # nodeflow's checked values cannot be None: what it feeds does not run
                converted.append(ExecutionBlocker(None))
            elif out.is_list:
                converted.append([v if isinstance(v, ExecutionBlocker)
                                  else values.from_comfy(kind, v) for v in value])
            else:
                converted.append(values.from_comfy(kind, value))
        return tuple(converted)

    if spec.is_async:
        async def fn(ctx: Any = None, **kwargs: Any) -> Any:
            token = runtime.CURRENT.set(ctx)
            try:
                return finish(await spec.call(**prepare(kwargs, ctx)), ctx)
            finally:
                runtime.CURRENT.reset(token)
    else:
        def fn(ctx: Any = None, **kwargs: Any) -> Any:
            token = runtime.CURRENT.set(ctx)
            try:
                return finish(spec.call(**prepare(kwargs, ctx)), ctx)
            finally:
                runtime.CURRENT.reset(token)

    check_lazy = None
    if spec.check_lazy is not None and any(i.lazy for i in inputs.values()):
        def check_lazy(**kwargs: Any) -> Any:
            asked = spec.check_lazy(**{k: values.to_comfy(kinds.get(k, "*"), v)
                                       for k, v in kwargs.items()})
            return list(asked or [])
    fingerprint = None
    if spec.is_changed is not None:
        def fingerprint(literals: dict, settings: Any) -> Any:
            said = _call_with(spec.is_changed, literals)
            if isinstance(said, float) and math.isnan(said):
                return uuid.uuid4().hex  # ComfyUI's "always changed"
            return repr(said)
    validate = None
    if spec.validate is not None:
        def validate(**literals: Any) -> Any:
            said = _call_with(spec.validate, literals)
            return None if said is True else str(said)
    return NodeDef(
        type_name=spec.type_name, fn=fn, version="1.0.0", category=spec.category,
        display_name=spec.display_name, description=spec.description, inputs=inputs,
        outputs=outputs, output_node=spec.output_node, always_run=spec.not_idempotent,
        wants_ctx=True, fingerprint=fingerprint, returns_tuple=True, pack=pack,
        is_async=spec.is_async, check_lazy=check_lazy, validate=validate,
        extra_inputs=extra_inputs,
        extra_schema={"comfy": {"hidden": sorted(set(spec.hidden.values())), **spec.extra}})


def _call_with(method: Callable, literals: dict) -> Any:
    """Call a ComfyUI class hook with the values its signature names (all, with **kwargs)."""
    params = inspect.signature(method).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return method(**literals)
    return method(**{k: v for k, v in literals.items() if k in params})


def _hidden(kind: str, ctx: Any, registry: Any) -> Any:
    if ctx is None:
        return None
    if kind == "unique_id":
        return ctx.node_id
    if kind == "prompt":
        return _comfy_export(ctx, registry, "prompt") or api_prompt(ctx.workflow, registry)
    if kind == "extra_pnginfo":
        if "workflow" not in ctx.extra:  # as ComfyUI's editor sends it: the UI-format graph
            ui = _comfy_export(ctx, registry, "workflow")
            if ui:
                ctx.extra["workflow"] = ui
        return ctx.extra
    if kind == "dynprompt":
        return DynamicPrompt(api_prompt(ctx.workflow, registry))
    return None


class DynamicPrompt:
    """ComfyUI's hidden DYNPROMPT: the running prompt, read node by node (API format)."""

    def __init__(self, prompt: dict):
        self._prompt = prompt

    def get_node(self, node_id: Any) -> dict:
        node_id = str(node_id)
        if node_id not in self._prompt:
            raise NodeError(f"DYNPROMPT: node '{node_id}' is not in the running prompt")
        return self._prompt[node_id]

    def has_node(self, node_id: Any) -> bool:
        return str(node_id) in self._prompt

    def all_node_ids(self) -> set[str]:
        return set(self._prompt)

    def get_original_prompt(self) -> dict:
        return self._prompt

    def get_real_node_id(self, node_id: Any) -> str:
        return str(node_id)

    def get_display_node_id(self, node_id: Any) -> str:
        return str(node_id)

    def get_parent_node_id(self, node_id: Any) -> str | None:
        parent, _, _ = str(node_id).rpartition("/")
        return parent or None


def _comfy_export(ctx: Any, registry: Any, which: str) -> dict | None:
    """The running workflow in ComfyUI's API ("prompt") or editor ("workflow") format, as a
    ComfyUI SaveImage writes them into PNGs; None when some node has no ComfyUI counterpart."""
    from ..comfy.export import export_api, export_ui

    if ctx.workflow is None:
        return None
    registry = getattr(ctx, "registry", None) or registry
    exported, problems = (export_api if which == "prompt" else export_ui)(ctx.workflow, registry)
    return None if problems else exported


def api_prompt(workflow: Any, registry: Any) -> dict:
    """The running workflow as a ComfyUI API-format prompt (links ``[id, output index]``)."""
    if workflow is None:
        return {}
    def index(node_id: str, output: str) -> int:
        source = workflow.nodes.get(node_id)
        node_def = registry.get(source.type) if source is not None else None
        names = [o.name for o in node_def.outputs] if node_def is not None else []
        return names.index(output) if output in names else 0

    prompt = {}
    for node_id, spec in workflow.nodes.items():
        inputs = {}
        for name, value in spec.inputs.items():
            link = as_link(value)
            if link is not None:
                value = [link.node, index(link.node, link.output)]
            inputs[name] = value
        prompt[node_id] = {"class_type": spec.type, "inputs": inputs}
    return prompt


__all__ = ["Spec", "Unsupported", "v1_spec", "node_def", "api_prompt", "MissingComfyAPI"]
