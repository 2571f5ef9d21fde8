"""``comfy_api.latest``: ComfyUI's V3 node API (``io.ComfyNode``, ``io.Schema``, the typed
``io.X.Input``/``Output`` helpers, ``io.NodeOutput``, ``ui``, ``ComfyExtension``), enough to
declare and run V3 nodes; :func:`v3_spec` reads a class into a :class:`~.wrap.Spec`."""
from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, field
from typing import Any

from .wrap import Spec, Unsupported


class _Input:
    def __init__(self, type_name: str, id: str, display_name: str | None = None,
                 optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                 **options: Any):
        self.type_name, self.id, self.optional = type_name, id, optional
        self.options = {k: v for k, v in options.items() if v is not None}
        if display_name:
            self.options["display_name"] = display_name
        if tooltip:
            self.options["tooltip"] = tooltip
        if lazy:
            self.options["lazy"] = True


class _Output:
    def __init__(self, type_name: str, id: str | None = None, display_name: str | None = None,
                 tooltip: str | None = None, is_output_list: bool = False):
        self.type_name, self.id, self.display_name = type_name, id, display_name
        self.is_output_list = is_output_list


class _IOType:
    """``io.Image``, ``io.Int``, ...: ``.Input(id, ...)`` and ``.Output(...)``."""

    def __init__(self, type_name: str):
        self.io_type = type_name

    def Input(self, id: str, *args: Any, **kwargs: Any) -> _Input:
        if self.io_type == "COMBO" and args:
            kwargs.setdefault("options", args[0])
        return _Input(self.io_type, id, **kwargs)

    def Output(self, id: str | None = None, display_name: str | None = None, **kwargs: Any
               ) -> _Output:
        return _Output(self.io_type, id, display_name, **kwargs)


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    description: str = ""
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    is_output_node: bool = False
    is_input_list: bool = False
    not_idempotent: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    search_aliases: list = field(default_factory=list)
    essentials_category: str | None = None


class Hidden:
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """``cls.hidden`` while a V3 node runs."""

    def __init__(self, values: dict[str, Any]):
        self.unique_id = values.get("unique_id")
        self.prompt = values.get("prompt")
        self.extra_pnginfo = values.get("extra_pnginfo")
        self.dynprompt = values.get("dynprompt")


class NodeOutput:
    def __init__(self, *args: Any, ui: Any = None, expand: Any = None,
                 block_execution: str | None = None):
        self.args, self.ui, self.expand = args, ui, expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple:
        return self.args


class ComfyNode:
    """Base of V3 nodes: ``define_schema()`` and ``execute(**inputs)`` classmethods."""

    hidden: HiddenHolder = HiddenHolder({})

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        raise NotImplementedError


class ComfyExtension:
    async def on_load(self) -> None:
        pass

    async def get_node_list(self) -> list[type[ComfyNode]]:
        return []


def _ui_module() -> types.ModuleType:
    ui = types.ModuleType("comfy_api.latest.ui")
    ui.__nodeflow_shim__ = True

    class PreviewText(dict):
        def __init__(self, value: str, **kwargs: Any):
            super().__init__(text=[value])

    ui.PreviewText = PreviewText
    return ui


TYPES = {"Int": "INT", "Float": "FLOAT", "String": "STRING", "Boolean": "BOOLEAN",
         "Combo": "COMBO", "Image": "IMAGE", "Mask": "MASK", "Latent": "LATENT",
         "Conditioning": "CONDITIONING", "Model": "MODEL", "Clip": "CLIP", "Vae": "VAE",
         "AnyType": "*", "Sigmas": "SIGMAS", "Noise": "NOISE", "Sampler": "SAMPLER",
         "Guider": "GUIDER", "ControlNet": "CONTROL_NET", "UpscaleModel": "UPSCALE_MODEL",
         "ClipVision": "CLIP_VISION", "ClipVisionOutput": "CLIP_VISION_OUTPUT",
         "StyleModel": "STYLE_MODEL", "Gligen": "GLIGEN", "Audio": "AUDIO", "Video": "VIDEO",
         "SVG": "SVG", "LoraModel": "LORA_MODEL", "LossMap": "LOSS_MAP", "Voxel": "VOXEL",
         "Mesh": "MESH", "Hooks": "HOOKS", "HookKeyframes": "HOOK_KEYFRAMES",
         "TimestepsRange": "TIMESTEPS_RANGE", "LatentOperation": "LATENT_OPERATION",
         "FlowControl": "FLOW_CONTROL", "Accumulation": "ACCUMULATION",
         "Load3DCamera": "LOAD3D_CAMERA", "Load3D": "LOAD_3D",
         "Load3DAnimation": "LOAD_3D_ANIMATION", "Photomaker": "PHOTOMAKER", "Point": "POINT",
         "FaceAnalysis": "FACE_ANALYSIS", "BBOX": "BBOX", "SEGS": "SEGS",
         "MODEL_PATCH": "MODEL_PATCH", "AudioEncoder": "AUDIO_ENCODER",
         "AudioEncoderOutput": "AUDIO_ENCODER_OUTPUT", "Webcam": "WEBCAM"}
"""ComfyUI's V3 socket types (``io.Video`` is ``"VIDEO"``): nodeflow passes values of the
ones it has no node for between pack nodes as they are."""


class _MultiType:
    """``io.MultiType.Input(id, types=[io.Image, io.Mask])``: one input of several types."""

    io_type = "COMFY_MULTITYPED_V3"

    def Input(self, id: Any, types: list, **kwargs: Any) -> _Input:
        names = [getattr(t, "io_type", t) for t in types]
        if isinstance(id, _Input):  # an input of one type, with more types allowed
            names.insert(0, id.type_name)
            kwargs = {**id.options, **kwargs}
            kwargs.setdefault("optional", id.optional)
            id = id.id
        return _Input(",".join(dict.fromkeys(names)), id, **kwargs)


def comfytype(io_type: str, **_: Any) -> Any:
    """``@io.comfytype(io_type="MY_TYPE") class MyType(io.ComfyTypeIO)``: a pack's own type,
    with the ``Input``/``Output`` helpers of the built-in ones."""
    def make(cls: type) -> _IOType:
        return _IOType(io_type)
    return make


def _io_module() -> types.ModuleType:
    from .missing import partial_module

    io = partial_module("comfy_api.latest.io", "ComfyUI's V3 node API, as nodeflow provides it")
    for attr, type_name in TYPES.items():
        setattr(io, attr, _IOType(type_name))
    io.Custom = _IOType
    io.MultiType, io.comfytype = _MultiType(), comfytype
    io.ComfyTypeIO = io.ComfyTypeI = type("ComfyTypeIO", (), {})
    io.Schema, io.Hidden, io.NodeOutput, io.ComfyNode = Schema, Hidden, NodeOutput, ComfyNode
    io.ComfyExtension = ComfyExtension
    return io


def module() -> types.ModuleType:
    from .missing import partial_module

    mod = partial_module("comfy_api.latest", "ComfyUI's V3 API: io, ui and ComfyExtension")
    mod.__path__ = []
    mod.io, mod.ui = _io_module(), _ui_module()
    mod.IO, mod.UI = mod.io, mod.ui  # the names ComfyUI's own V3 nodes import
    mod.ComfyExtension = ComfyExtension
    return mod


def is_v3(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, ComfyNode)


def v3_spec(cls: type[ComfyNode], display_name: str | None = None) -> Spec:
    try:
        schema = cls.define_schema()
    except Exception as exc:  # noqa: BLE001 - the class's own bug, told in one line
        from .missing import MissingComfyAPI
        if isinstance(exc, MissingComfyAPI):
            raise
        raise Unsupported(f"define_schema() failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, Schema):
        raise Unsupported("define_schema() did not return an io.Schema")
    inputs = []
    for item in schema.inputs:
        if not isinstance(item, _Input):
            raise Unsupported(f"input {item!r} is not an io.X.Input")
        kind = item.type_name
        opts = dict(item.options)
        if kind == "COMBO":
            kind = list(opts.pop("options", []))
        inputs.append((item.id, kind, opts, item.optional))
    hidden_kinds = {Hidden.unique_id: "unique_id", Hidden.prompt: "prompt",
                    Hidden.extra_pnginfo: "extra_pnginfo", Hidden.dynprompt: "dynprompt"}
    hidden = {f"__hidden_{hidden_kinds.get(h, h)}": hidden_kinds.get(h, str(h).lower())
              for h in schema.hidden}
    outputs = [(o.display_name or o.id or o.type_name, o.type_name, o.is_output_list)
               for o in schema.outputs]

    def call(**kwargs: Any) -> Any:
        found = {k[len("__hidden_"):]: kwargs.pop(k) for k in list(kwargs)
                 if k.startswith("__hidden_")}
        runner = type(cls.__name__, (cls,), {"hidden": HiddenHolder(found)})
        result = runner.execute(**kwargs)
        if inspect.isawaitable(result):
            async def finish() -> Any:
                return _v1_result(await result)
            return finish()
        return _v1_result(result)

    lazy = None
    if "check_lazy_status" in _own_names(cls):
        def lazy(**kwargs: Any) -> Any:
            return cls.check_lazy_status(**kwargs)
    return Spec(
        type_name=schema.node_id, display_name=display_name or schema.display_name
        or schema.node_id, category=schema.category, description=schema.description,
        inputs=inputs, hidden=hidden, outputs=outputs, output_node=schema.is_output_node,
        input_is_list=schema.is_input_list, call=call, check_lazy=lazy,
        is_changed=getattr(cls, "fingerprint_inputs", None)
        if "fingerprint_inputs" in _own_names(cls) else None,
        validate=getattr(cls, "validate_inputs", None)
        if "validate_inputs" in _own_names(cls) else None,
        is_async=inspect.iscoroutinefunction(cls.execute),
        not_idempotent=schema.not_idempotent, extra={"api": "v3"})


def _own_names(cls: type) -> set[str]:
    return {n for k in cls.__mro__ if k is not ComfyNode and k is not object for n in vars(k)}


def _v1_result(result: Any) -> Any:
    """A V3 NodeOutput as a V1 return value."""
    if not isinstance(result, NodeOutput):
        return result
    if result.block_execution is not None:
        from ..flow import ExecutionBlocker
        return ExecutionBlocker(result.block_execution)
    out: dict[str, Any] = {"result": result.args}
    if result.ui is not None:
        out["ui"] = dict(result.ui)
    if result.expand is not None:
        out["expand"] = result.expand
    return out
