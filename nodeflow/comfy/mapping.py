"""The one translation table between ComfyUI's core nodes and nodeflow's.

Each entry says, for one ComfyUI class type: the nodeflow type it becomes, how its input names
change, how a few values change form ("enable" -> True), the names of its outputs in ComfyUI's
output order (ComfyUI links point at outputs by index, nodeflow links by name), the inputs
ComfyUI has that nodeflow drops (and which values may be dropped without changing the result),
its widget order (the editor's UI format stores widget values by position), and for export
the reverse value conversions and the values ComfyUI needs for the inputs nodeflow drops.

Every converter reads this table: API-format prompts (:mod:`nodeflow.comfy.api_format`), the
editor's UI format (:mod:`nodeflow.comfy.ui_format`) and export (:mod:`nodeflow.comfy.export`).
Keep it data; the converters hold the logic.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANY_VALUE = None
"""In ``dropped``: the input is dropped whatever its value."""


def enable_to_bool(value: Any) -> Any:
    """ComfyUI's "enable"/"disable" switches are nodeflow booleans."""
    if isinstance(value, bool):
        return value
    if value in ("enable", "disable"):
        return value == "enable"
    raise ValueError(f"expected \"enable\" or \"disable\", got {value!r}")


def clip_layer_to_skip(value: Any) -> Any:
    """CLIPSetLastLayer's stop_at_clip_layer=-n is ClipSkip's skip=n."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return -value
    raise ValueError(f"expected a negative integer such as -2, got {value!r}")


_CHANNELS = {"alpha": "A", "red": "R", "green": "G", "blue": "B"}


def channel_letter(value: Any) -> Any:
    """LoadImageMask's channel: ComfyUI says "alpha"/"red"/..., nodeflow "A"/"R"/..."""
    if value in _CHANNELS.values():
        return value
    if value in _CHANNELS:
        return _CHANNELS[value]
    raise ValueError(f"expected one of {', '.join(_CHANNELS)}, got {value!r}")


def unannotated(folder: str) -> Callable[[Any], Any]:
    """A file name as ComfyUI's editor annotates it ("x.png [output]") -> the plain name in
    ``folder``, the only folder the node reads; another folder's annotation is an error."""
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        name, _, mark = value.rpartition(" [")
        if not name or mark not in ("input]", "output]", "temp]"):
            return value
        if mark != folder + "]":
            raise ValueError(f"{value!r} names a file in the {mark[:-1]} folder; this node "
                             f"reads the {folder} folder")
        return name
    return convert


def annotate_output(value: Any) -> Any:
    """The reverse of ``unannotated("output")``: ComfyUI reads unannotated names from input/."""
    return f"{value} [output]"


def bool_to_enable(value: Any) -> Any:
    """The reverse of :func:`enable_to_bool`."""
    return "enable" if value else "disable"


def skip_to_clip_layer(value: Any) -> Any:
    """The reverse of :func:`clip_layer_to_skip`."""
    return -value


def channel_name(value: Any) -> Any:
    """The reverse of :func:`channel_letter`."""
    return {letter: name for name, letter in _CHANNELS.items()}.get(value, value)


@dataclass(frozen=True)
class NodeMapping:
    comfy_type: str
    nodeflow_type: str
    outputs: tuple[str, ...] = ()
    """nodeflow output names in ComfyUI's output order."""
    inputs: dict[str, str] = field(default_factory=dict)
    """ComfyUI input name -> nodeflow input name, for the names that differ."""
    values: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    """ComfyUI input name -> converter of its literal value (raises ValueError)."""
    dropped: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)
    """ComfyUI inputs with no nodeflow counterpart -> the values that may be dropped
    (``ANY_VALUE``: any). Another value cannot be translated."""
    widgets: tuple[str, ...] = ()
    """ComfyUI widget names in the order of the UI format's ``widgets_values``
    ("control_after_generate" is the seed widget's companion, not an input)."""
    exported: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    """nodeflow input name -> converter of its value back to ComfyUI's form (export)."""
    fill: dict[str, Any] = field(default_factory=dict)
    """Values ComfyUI needs for the inputs in ``dropped`` (export)."""
    export: bool = True
    """False for a second ComfyUI type that imports as the same nodeflow type."""
    added: tuple[str, ...] = ()
    """Widgets that newer ComfyUI versions added at the end (older files lack them)."""

    def input_name(self, comfy_name: str) -> str:
        return self.inputs.get(comfy_name, comfy_name)

    def comfy_input_name(self, nodeflow_name: str) -> str:
        for comfy, ours in self.inputs.items():
            if ours == nodeflow_name:
                return comfy
        return nodeflow_name


_MAPPINGS = (
    NodeMapping("CheckpointLoaderSimple", "CheckpointLoader", ("model", "clip", "vae"),
                inputs={"ckpt_name": "checkpoint"}, widgets=("ckpt_name",)),
    # ComfyUI's older loader with a config file: the architecture is read from the weights
    # here, so the config is not needed; CheckpointLoader exports as CheckpointLoaderSimple.
    NodeMapping("CheckpointLoader", "CheckpointLoader", ("model", "clip", "vae"),
                inputs={"ckpt_name": "checkpoint"}, dropped={"config_name": ANY_VALUE},
                widgets=("config_name", "ckpt_name"), export=False),
    NodeMapping("VAELoader", "LoadVAE", ("vae",), inputs={"vae_name": "vae"},
                widgets=("vae_name",)),
    NodeMapping("LoraLoader", "LoadLoRA", ("model", "clip"), inputs={"lora_name": "lora"},
                widgets=("lora_name", "strength_model", "strength_clip")),
    NodeMapping("LoraLoaderModelOnly", "LoadLoRAModelOnly", ("model",),
                inputs={"lora_name": "lora"}, widgets=("lora_name", "strength_model")),
    NodeMapping("CLIPTextEncode", "TextEncode", ("conditioning",), widgets=("text",)),
    NodeMapping("ConditioningCombine", "ConditioningCombine", ("conditioning",),
                inputs={"conditioning_1": "a", "conditioning_2": "b"}),
    NodeMapping("CLIPSetLastLayer", "ClipSkip", ("clip",),
                inputs={"stop_at_clip_layer": "skip"},
                values={"stop_at_clip_layer": clip_layer_to_skip},
                widgets=("stop_at_clip_layer",), exported={"skip": skip_to_clip_layer}),
    NodeMapping("EmptyLatentImage", "EmptyLatent", ("latent",),
                widgets=("width", "height", "batch_size")),
    NodeMapping("KSampler", "KSampler", ("latent",),
                inputs={"sampler_name": "sampler", "latent_image": "latent"},
                widgets=("seed", "control_after_generate", "steps", "cfg", "sampler_name",
                         "scheduler", "denoise")),
    NodeMapping("KSamplerAdvanced", "KSamplerAdvanced", ("latent",),
                inputs={"noise_seed": "seed", "sampler_name": "sampler",
                        "latent_image": "latent"},
                values={"add_noise": enable_to_bool,
                        "return_with_leftover_noise": enable_to_bool},
                widgets=("add_noise", "noise_seed", "control_after_generate", "steps", "cfg",
                         "sampler_name", "scheduler", "start_at_step", "end_at_step",
                         "return_with_leftover_noise"),
                exported={"add_noise": bool_to_enable,
                          "return_with_leftover_noise": bool_to_enable}),
    NodeMapping("VAEDecode", "VAEDecode", ("image",), inputs={"samples": "latent"}),
    NodeMapping("VAEEncode", "VAEEncode", ("latent",), inputs={"pixels": "image"}),
    NodeMapping("VAEDecodeTiled", "VAEDecodeTiled", ("image",), inputs={"samples": "latent"},
                dropped={"temporal_size": ANY_VALUE, "temporal_overlap": ANY_VALUE},
                widgets=("tile_size", "overlap", "temporal_size", "temporal_overlap"),
                fill={"temporal_size": 64, "temporal_overlap": 8}),
    NodeMapping("VAEEncodeTiled", "VAEEncodeTiled", ("latent",), inputs={"pixels": "image"},
                dropped={"temporal_size": ANY_VALUE, "temporal_overlap": ANY_VALUE},
                widgets=("tile_size", "overlap", "temporal_size", "temporal_overlap"),
                fill={"temporal_size": 64, "temporal_overlap": 8}),
    NodeMapping("LoadImage", "LoadImage", ("image", "mask"),
                dropped={"upload": ANY_VALUE}, widgets=("image", "upload"),
                fill={"upload": "image"}),
    NodeMapping("LoadImageMask", "LoadImageMask", ("mask",),
                values={"channel": channel_letter},
                dropped={"upload": ANY_VALUE}, widgets=("image", "channel", "upload"),
                exported={"channel": channel_name}, fill={"upload": "image"}),
    NodeMapping("LoadImageOutput", "LoadImageOutput", ("image", "mask"),
                values={"image": unannotated("output")}, dropped={"upload": ANY_VALUE},
                widgets=("image",), exported={"image": annotate_output},
                fill={"upload": "image"}),
    NodeMapping("EmptyImage", "EmptyImage", ("image",),
                widgets=("width", "height", "batch_size", "color")),
    NodeMapping("SaveImage", "SaveImage", (), inputs={"filename_prefix": "prefix"},
                widgets=("filename_prefix",)),
    NodeMapping("PreviewImage", "PreviewImage", ()),
    NodeMapping("LatentUpscale", "LatentUpscale", ("latent",),
                inputs={"samples": "latent", "upscale_method": "method"},
                dropped={"crop": ("disabled",)},
                widgets=("upscale_method", "width", "height", "crop"),
                fill={"crop": "disabled"}),
    NodeMapping("LatentUpscaleBy", "LatentUpscaleBy", ("latent",),
                inputs={"samples": "latent", "upscale_method": "method"},
                widgets=("upscale_method", "scale_by")),
    NodeMapping("SetLatentNoiseMask", "SetLatentNoiseMask", ("latent",),
                inputs={"samples": "latent"}),
    # latent transforms and files (nodes/sd/latent_transform.py, latent_files.py)
    NodeMapping("LatentRotate", "LatentRotate", ("latent",), inputs={"samples": "latent"},
                widgets=("rotation",)),
    NodeMapping("LatentFlip", "LatentFlip", ("latent",), inputs={"samples": "latent"},
                widgets=("flip_method",)),
    NodeMapping("LatentCrop", "LatentCrop", ("latent",), inputs={"samples": "latent"},
                widgets=("width", "height", "x", "y")),
    NodeMapping("RepeatLatentBatch", "RepeatLatentBatch", ("latent",),
                inputs={"samples": "latent"}, widgets=("amount",)),
    NodeMapping("SaveLatent", "SaveLatent", (),
                inputs={"samples": "latent", "filename_prefix": "prefix"},
                dropped={"prompt": ANY_VALUE, "extra_pnginfo": ANY_VALUE},
                widgets=("filename_prefix",)),
    NodeMapping("LoadLatent", "LoadLatent", ("latent",), values={"latent": unannotated("input")},
                widgets=("latent",)),
    NodeMapping("ImageToMask", "ImageToMask", ("mask",), widgets=("channel",)),
    NodeMapping("SolidMask", "SolidMask", ("mask",), widgets=("value", "width", "height")),
    NodeMapping("MaskComposite", "MaskComposite", ("mask",),
                widgets=("x", "y", "operation")),
    NodeMapping("LatentBatch", "LatentBatchJoin", ("latent",),
                inputs={"samples1": "a", "samples2": "b"}),
    NodeMapping("LatentFromBatch", "LatentFromBatch", ("latent",),
                inputs={"samples": "latent", "batch_index": "index"},
                widgets=("batch_index", "length")),
    # image and mask nodes (nodes/sd/image_edit.py, mask_edit.py)
    NodeMapping("ImageScale", "ImageScale", ("image",),
                widgets=("upscale_method", "width", "height", "crop")),
    NodeMapping("ImageScaleBy", "ImageScaleBy", ("image",),
                widgets=("upscale_method", "scale_by")),
    NodeMapping("ImageScaleToTotalPixels", "ImageScaleToTotalPixels", ("image",),
                widgets=("upscale_method", "megapixels", "resolution_steps"),
                added=("resolution_steps",)),
    NodeMapping("ImageCrop", "ImageCrop", ("image",), widgets=("width", "height", "x", "y")),
    NodeMapping("ImagePadForOutpaint", "ImagePadForOutpaint", ("image", "mask"),
                widgets=("left", "top", "right", "bottom", "feathering")),
    NodeMapping("ImageInvert", "ImageInvert", ("image",)),
    NodeMapping("ImageBlend", "ImageBlend", ("image",), widgets=("blend_factor", "blend_mode")),
    NodeMapping("ImageBatch", "ImageBatch", ("image",)),
    NodeMapping("ImageCompositeMasked", "ImageCompositeMasked", ("image",),
                widgets=("x", "y", "resize_source")),
    NodeMapping("MaskToImage", "MaskToImage", ("image",)),
    NodeMapping("GrowMask", "GrowMask", ("mask",), widgets=("expand", "tapered_corners")),
    NodeMapping("InvertMask", "InvertMask", ("mask",)),
    NodeMapping("FeatherMask", "FeatherMask", ("mask",),
                widgets=("left", "top", "right", "bottom")),
    NodeMapping("CropMask", "CropMask", ("mask",), widgets=("x", "y", "width", "height")),
    # conditioning, inpainting, latent compositing (nodes/sd/conditioning_edit.py, inpaint.py)
    NodeMapping("ConditioningSetArea", "ConditioningSetArea", ("conditioning",),
                widgets=("width", "height", "x", "y", "strength")),
    NodeMapping("ConditioningSetAreaPercentage", "ConditioningSetAreaPercentage",
                ("conditioning",), widgets=("width", "height", "x", "y", "strength")),
    NodeMapping("ConditioningSetAreaStrength", "ConditioningSetAreaStrength", ("conditioning",),
                widgets=("strength",)),
    NodeMapping("ConditioningSetMask", "ConditioningSetMask", ("conditioning",),
                widgets=("strength", "set_cond_area")),
    NodeMapping("ConditioningSetTimestepRange", "ConditioningSetTimestepRange",
                ("conditioning",), widgets=("start", "end")),
    NodeMapping("ConditioningAverage", "ConditioningAverage", ("conditioning",),
                widgets=("conditioning_to_strength",)),
    NodeMapping("ConditioningConcat", "ConditioningConcat", ("conditioning",)),
    NodeMapping("ConditioningZeroOut", "ConditioningZeroOut", ("conditioning",)),
    NodeMapping("VAEEncodeForInpaint", "VAEEncodeForInpaint", ("latent",),
                widgets=("grow_mask_by",)),
    NodeMapping("InpaintModelConditioning", "InpaintModelConditioning",
                ("positive", "negative", "latent"), widgets=("noise_mask",),
                added=("noise_mask",)),
    NodeMapping("LatentComposite", "LatentComposite", ("latent",),
                widgets=("x", "y", "feather")),
    NodeMapping("LatentCompositeMasked", "LatentCompositeMasked", ("latent",),
                widgets=("x", "y", "resize_source"), added=("resize_source",)),
    NodeMapping("LatentBlend", "LatentBlend", ("latent",), widgets=("blend_factor",)),
    # custom sampling (nodes/sd/custom_sampling.py)
    NodeMapping("KSamplerSelect", "KSamplerSelect", ("sampler",), widgets=("sampler_name",)),
    NodeMapping("BasicScheduler", "BasicScheduler", ("sigmas",),
                widgets=("scheduler", "steps", "denoise")),
    NodeMapping("KarrasScheduler", "KarrasScheduler", ("sigmas",),
                widgets=("steps", "sigma_max", "sigma_min", "rho")),
    NodeMapping("ExponentialScheduler", "ExponentialScheduler", ("sigmas",),
                widgets=("steps", "sigma_max", "sigma_min")),
    NodeMapping("SplitSigmas", "SplitSigmas", ("high_sigmas", "low_sigmas"), widgets=("step",)),
    NodeMapping("FlipSigmas", "FlipSigmas", ("sigmas",)),
    NodeMapping("RandomNoise", "RandomNoise", ("noise",),
                widgets=("noise_seed", "control_after_generate")),
    NodeMapping("DisableNoise", "DisableNoise", ("noise",)),
    NodeMapping("BasicGuider", "BasicGuider", ("guider",)),
    NodeMapping("CFGGuider", "CFGGuider", ("guider",), widgets=("cfg",)),
    NodeMapping("SamplerCustom", "SamplerCustom", ("output", "denoised_output"),
                widgets=("add_noise", "noise_seed", "control_after_generate", "cfg")),
    NodeMapping("SamplerCustomAdvanced", "SamplerCustomAdvanced", ("output", "denoised_output")),
    # merging and saving (nodes/sd/model_tools.py)
    NodeMapping("ModelMergeSimple", "ModelMergeSimple", ("model",), widgets=("ratio",)),
    NodeMapping("CLIPMergeSimple", "CLIPMergeSimple", ("clip",), widgets=("ratio",)),
    NodeMapping("CheckpointSave", "CheckpointSave", (), inputs={"filename_prefix": "prefix"},
                widgets=("filename_prefix",)),
    # loaders by part (nodes/sd/part_loaders.py)
    NodeMapping("UNETLoader", "UNETLoader", ("model",), widgets=("unet_name", "weight_dtype")),
    NodeMapping("CLIPLoader", "CLIPLoader", ("clip",), widgets=("clip_name", "type", "device"),
                added=("device",)),
    NodeMapping("DualCLIPLoader", "DualCLIPLoader", ("clip",),
                widgets=("clip_name1", "clip_name2", "type", "device"), added=("device",)),
    # upscale models (nodes/sd/upscale.py)
    NodeMapping("UpscaleModelLoader", "UpscaleModelLoader", ("upscale_model",),
                widgets=("model_name",)),
    NodeMapping("ImageUpscaleWithModel", "ImageUpscaleWithModel", ("image",)),
    # ControlNet (nodes/sd/controlnet.py)
    NodeMapping("ControlNetLoader", "ControlNetLoader", ("control_net",),
                widgets=("control_net_name",)),
    NodeMapping("DiffControlNetLoader", "DiffControlNetLoader", ("control_net",),
                widgets=("control_net_name",)),
    NodeMapping("ControlNetApply", "ControlNetApply", ("conditioning",), widgets=("strength",)),
    NodeMapping("ControlNetApplyAdvanced", "ControlNetApplyAdvanced", ("positive", "negative"),
                widgets=("strength", "start_percent", "end_percent")),
    NodeMapping("Canny", "Canny", ("image",), widgets=("low_threshold", "high_threshold")),
    # comfyui_controlnet_aux's model-free preprocessors (nodes/sd/preprocessors.py)
    NodeMapping("Scribble_XDoG_Preprocessor", "Scribble_XDoG_Preprocessor", ("image",),
                widgets=("threshold", "resolution")),
    NodeMapping("BinaryPreprocessor", "BinaryPreprocessor", ("image",),
                widgets=("bin_threshold", "resolution")),
    # CLIP vision (nodes/sd/clip_vision.py)
    NodeMapping("CLIPVisionLoader", "CLIPVisionLoader", ("clip_vision",), widgets=("clip_name",)),
    NodeMapping("CLIPVisionEncode", "CLIPVisionEncode", ("clip_vision_output",),
                widgets=("crop",), added=("crop",)),
    # unCLIP (nodes/sd/unclip.py)
    NodeMapping("unCLIPCheckpointLoader", "unCLIPCheckpointLoader",
                ("model", "clip", "vae", "clip_vision"), inputs={"ckpt_name": "checkpoint"},
                widgets=("ckpt_name",)),
    NodeMapping("unCLIPConditioning", "unCLIPConditioning", ("conditioning",),
                widgets=("strength", "noise_augmentation")),
    # style models (nodes/sd/style_model.py); older files lack strength and its type
    NodeMapping("StyleModelLoader", "StyleModelLoader", ("style_model",),
                widgets=("style_model_name",)),
    NodeMapping("StyleModelApply", "StyleModelApply", ("conditioning",),
                widgets=("strength", "strength_type"), added=("strength", "strength_type")),
    # ComfyUI's loader of diffusers folders (models/diffusers)
    NodeMapping("DiffusersLoader", "DiffusersLoader", ("model", "clip", "vae"),
                widgets=("model_path",)),
    # comfy_extras/nodes_primitive.py: backend primitives (PrimitiveNode is a UI-only widget)
    NodeMapping("PrimitiveInt", "PrimitiveInt", ("int",),
                widgets=("value", "control_after_generate")),
    NodeMapping("PrimitiveFloat", "PrimitiveFloat", ("float",), widgets=("value",)),
    NodeMapping("PrimitiveBoolean", "PrimitiveBoolean", ("boolean",), widgets=("value",)),
    NodeMapping("PrimitiveStringMultiline", "PrimitiveString", ("string",),
                widgets=("value",)),
    NodeMapping("PrimitiveString", "PrimitiveString", ("string",), widgets=("value",),
                export=False),
)

REROUTE = "Reroute"
"""ComfyUI's editor-only pass-through node (UI format): links through it are followed."""
PRIMITIVE_NODE = "PrimitiveNode"
"""ComfyUI's editor-only widget node: its value becomes the literal of the input it feeds."""
NOTE_TYPES = ("Note", "MarkdownNote")
"""ComfyUI's text notes; nodeflow keeps them in the workflow's top-level ``ui.notes``."""
CONTROL = "control_after_generate"
WIDGET_NAMES = "nodeflow widget names"
"""The key of a ComfyUI editor-format node's ``properties`` under which nodeflow's export
names the values its pack's extension widgets hold (``widgets_values`` has no names)."""
CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")

NODE_MAPPINGS: dict[str, NodeMapping] = {m.comfy_type: m for m in _MAPPINGS}
"""ComfyUI class type -> its mapping."""

COMFY_TYPE_OF: dict[str, str] = {m.nodeflow_type: m.comfy_type for m in _MAPPINGS if m.export}
"""nodeflow type -> ComfyUI class type (for exporting ComfyUI's prompt metadata)."""


def node_widgets(node_def) -> tuple[str, ...]:
    """The widgets ComfyUI's editor shows for a nodeflow or pack node type, in order."""
    return literal_widgets(node_def.inputs.items())


def literal_widgets(inputs) -> tuple[str, ...]:
    """Widget names of (name, spec) inputs in order: the literal inputs (a seed-like one
    followed by its control), but not the socket-only ones (ComfyUI's ``forceInput``), which
    have no widget and no ``widgets_values`` entry."""
    names: list[str] = []
    for name, spec in inputs:
        if spec.field.widget == "socket":
            continue
        # JSON-only inputs (a pack's own type) are sockets in ComfyUI unless the pack's
        # JavaScript draws a widget for them, which nodeflow cannot know
        if spec.socket.is_literal() or spec.field.choices is not None:
            names.append(name)
            if spec.field.control_after_generate:
                names.append(CONTROL)
    return tuple(names)


def mapping_for(comfy_type: str) -> NodeMapping | None:
    return NODE_MAPPINGS.get(comfy_type)


def export_mapping_for(nodeflow_type: str) -> NodeMapping | None:
    """The mapping that exports ``nodeflow_type``, or None when ComfyUI has no counterpart."""
    comfy_type = COMFY_TYPE_OF.get(nodeflow_type)
    return NODE_MAPPINGS[comfy_type] if comfy_type is not None else None
