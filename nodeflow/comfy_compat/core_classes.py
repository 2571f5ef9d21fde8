"""ComfyUI's core node classes (``nodes.KSampler``, ``nodes.VAEDecode``, ...) for packs to call
or subclass, each backed by the nodeflow node that the mapping table (nodeflow/comfy/mapping.py)
pairs with it.

Packs call these positionally (``nodes.KSampler().sample(model, seed, steps, ...)``), so every
class keeps ComfyUI's FUNCTION name and parameter order (:data:`SIGNATURES`, read from
ComfyUI's nodes.py). A call renames the inputs, converts ComfyUI-shaped values (LATENT dicts,
CONDITIONING lists) to nodeflow's, checks the literals as a workflow would, runs the nodeflow
node with the running pack node's ``ctx`` (its progress and interrupt) and returns ComfyUI-shaped
values in ComfyUI's output order.
"""
from __future__ import annotations

import ast
import asyncio
import inspect
import threading
from typing import Any

from ..errors import NodeError
from . import runtime, values

SIGNATURES: dict[str, tuple[str, str, str]] = {
    # ComfyUI class: (FUNCTION, its parameters in ComfyUI's order, CATEGORY)
    "CheckpointLoaderSimple": ("load_checkpoint", "ckpt_name", "loaders"),
    "VAELoader": ("load_vae", "vae_name", "loaders"),
    "LoraLoader": ("load_lora", "model clip lora_name strength_model strength_clip", "loaders"),
    "LoraLoaderModelOnly": ("load_lora_model_only", "model lora_name strength_model", "loaders"),
    "CLIPTextEncode": ("encode", "clip text", "conditioning"),
    "CLIPSetLastLayer": ("set_last_layer", "clip stop_at_clip_layer", "conditioning"),
    "ConditioningCombine": ("combine", "conditioning_1 conditioning_2", "conditioning"),
    "ConditioningAverage": ("addWeighted", "conditioning_to conditioning_from "
                                           "conditioning_to_strength", "conditioning"),
    "ConditioningConcat": ("concat", "conditioning_to conditioning_from", "conditioning"),
    "ConditioningSetArea": ("append", "conditioning width height x y strength",
                            "conditioning"),
    "ConditioningSetAreaPercentage": ("append", "conditioning width height x y strength",
                                      "conditioning"),
    "ConditioningSetMask": ("append", "conditioning mask set_cond_area strength",
                            "conditioning"),
    "ConditioningSetTimestepRange": ("set_range", "conditioning start end", "advanced/conditioning"),
    "ConditioningZeroOut": ("zero_out", "conditioning", "advanced/conditioning"),
    "EmptyLatentImage": ("generate", "width height batch_size=1", "latent"),
    "KSampler": ("sample", "model seed steps cfg sampler_name scheduler positive negative "
                           "latent_image denoise=1.0", "sampling"),
    "KSamplerAdvanced": ("sample", "model add_noise noise_seed steps cfg sampler_name scheduler "
                                   "positive negative latent_image start_at_step end_at_step "
                                   "return_with_leftover_noise denoise=1.0", "sampling"),
    "VAEDecode": ("decode", "vae samples", "latent"),
    "VAEEncode": ("encode", "vae pixels", "latent"),
    "VAEDecodeTiled": ("decode", "vae samples tile_size overlap=64 temporal_size=64 "
                                 "temporal_overlap=8", "_for_testing"),
    "VAEEncodeTiled": ("encode", "vae pixels tile_size overlap temporal_size=64 "
                                 "temporal_overlap=8", "_for_testing"),
    "VAEEncodeForInpaint": ("encode", "vae pixels mask grow_mask_by=6", "latent/inpaint"),
    "InpaintModelConditioning": ("encode", "positive negative pixels vae mask noise_mask=True",
                                 "conditioning/inpaint"),
    "LoadImage": ("load_image", "image", "image"),
    "LoadImageMask": ("load_image", "image channel", "mask"),
    "LatentUpscale": ("upscale", "samples upscale_method width height crop", "latent"),
    "LatentUpscaleBy": ("upscale", "samples upscale_method scale_by", "latent"),
    "LatentFromBatch": ("frombatch", "samples batch_index length", "latent/batch"),
    "LatentComposite": ("composite", "samples_to samples_from x y feather=0", "latent"),
    "LatentBlend": ("blend", "samples1 samples2 blend_factor blend_mode='normal'",
                    "_for_testing"),
    "SetLatentNoiseMask": ("set_mask", "samples mask", "latent/inpaint"),
    "ImageScale": ("upscale", "image upscale_method width height crop", "image/upscaling"),
    "ImageScaleBy": ("upscale", "image upscale_method scale_by", "image/upscaling"),
    "ImageInvert": ("invert", "image", "image"),
    "ImageBatch": ("batch", "image1 image2", "image"),
    "ImagePadForOutpaint": ("expand_image", "image left top right bottom feathering", "image"),
    "ControlNetLoader": ("load_controlnet", "control_net_name", "loaders"),
    "DiffControlNetLoader": ("load_controlnet", "model control_net_name", "loaders"),
    "ControlNetApply": ("apply_controlnet", "conditioning control_net image strength",
                        "conditioning/controlnet"),
    "ControlNetApplyAdvanced": ("apply_controlnet", "positive negative control_net image "
                                                    "strength start_percent end_percent "
                                                    "vae=None extra_concat=[]",
                                "conditioning/controlnet"),
    "UNETLoader": ("load_unet", "unet_name weight_dtype", "advanced/loaders"),
    "CLIPLoader": ("load_clip", "clip_name type='stable_diffusion' device='default'",
                   "advanced/loaders"),
    "DualCLIPLoader": ("load_clip", "clip_name1 clip_name2 type device='default'",
                       "advanced/loaders"),
    "CLIPVisionLoader": ("load_clip", "clip_name", "loaders"),
    "CLIPVisionEncode": ("encode", "clip_vision image crop='center'", "conditioning"),
    "CheckpointLoader": ("load_checkpoint", "config_name ckpt_name output_vae=True "
                                            "output_clip=True", "advanced/loaders"),
    "unCLIPCheckpointLoader": ("load_checkpoint", "ckpt_name output_vae=True output_clip=True",
                               "loaders"),
    "unCLIPConditioning": ("apply_adm", "conditioning clip_vision_output strength "
                                        "noise_augmentation", "conditioning"),
    "ConditioningSetAreaStrength": ("append", "conditioning strength", "conditioning"),
    "LatentRotate": ("rotate", "samples rotation", "latent/transform"),
    "LatentFlip": ("flip", "samples flip_method", "latent/transform"),
    "LatentCrop": ("crop", "samples width height x y", "latent/transform"),
    "RepeatLatentBatch": ("repeat", "samples amount", "latent/batch"),
    "EmptyImage": ("generate", "width height batch_size=1 color=0", "image"),
    "LoadImageOutput": ("load_image", "image", "image"),
    "SaveLatent": ("save", "samples filename_prefix='ComfyUI' prompt=None extra_pnginfo=None",
                   "_for_testing"),
    "LoadLatent": ("load", "latent", "_for_testing"),
    "StyleModelLoader": ("load_style_model", "style_model_name", "loaders"),
    "StyleModelApply": ("apply_stylemodel", "conditioning style_model clip_vision_output "
                                            "strength strength_type",
                        "conditioning/style_model"),
    "DiffusersLoader": ("load_checkpoint", "model_path output_vae=True output_clip=True",
                        "advanced/loaders/deprecated"),
    # comfy_extras classes packs reach through nodes.NODE_CLASS_MAPPINGS
    "ImageToMask": ("image_to_mask", "image channel", "mask"),
    "MaskToImage": ("mask_to_image", "mask", "mask"),
    "SolidMask": ("solid", "value width height", "mask"),
    "InvertMask": ("invert", "mask", "mask"),
    "GrowMask": ("expand_mask", "mask expand tapered_corners", "mask"),
    "FeatherMask": ("feather", "mask left top right bottom", "mask"),
    "CropMask": ("crop", "mask x y width height", "mask"),
    "MaskComposite": ("combine", "destination source x y operation", "mask"),
    "ImageCrop": ("crop", "image width height x y", "image/transform"),
    "ImageBlend": ("blend_images", "image1 image2 blend_factor blend_mode", "image/postprocessing"),
    "ImageCompositeMasked": ("composite", "destination source x y resize_source mask=None",
                             "image"),
    "LatentCompositeMasked": ("composite", "destination source x y resize_source mask=None",
                              "latent"),
    "LatentBatch": ("batch", "samples1 samples2", "latent/batch"),
    "UpscaleModelLoader": ("load_model", "model_name", "loaders"),
    "ImageUpscaleWithModel": ("upscale", "upscale_model image", "image/upscaling"),
}
"""The classes nodeflow can back; ComfyUI's other core classes stay "needs ComfyUI internals"."""

IN_NODES_PY = frozenset(SIGNATURES) - {
    "ImageToMask", "MaskToImage", "SolidMask", "InvertMask", "GrowMask", "FeatherMask",
    "CropMask", "MaskComposite", "ImageCrop", "ImageBlend", "ImageCompositeMasked",
    "LatentCompositeMasked", "LatentBatch", "UpscaleModelLoader", "ImageUpscaleWithModel"}
"""The classes that are attributes of ComfyUI's ``nodes`` module (the rest are only in
``nodes.NODE_CLASS_MAPPINGS``)."""

_NO_DEFAULT = object()


def _parameters(text: str) -> list[tuple[str, Any]]:
    params = []
    for item in text.split():
        name, _, default = item.partition("=")
        params.append((name, ast.literal_eval(default) if default else _NO_DEFAULT))
    return params


def _settings():
    import sys

    folder_paths = sys.modules.get("folder_paths")
    return getattr(folder_paths, "__nodeflow_settings__", None)


def calling_ctx(type_name: str):
    """The running pack node's ctx, or one of its own for a call outside a run."""
    ctx = runtime.current_ctx()
    if ctx is not None:
        return ctx
    from ..engine.context import NodeContext
    from ..settings import Settings

    return NodeContext(node_id=f"nodes.{type_name}", type_name=type_name, run_id="comfy-compat",
                       settings=_settings() or Settings(), listener=lambda event: None,
                       interrupt=threading.Event())


class Backed:
    """What one core class is: its ComfyUI parameters and the nodeflow node behind it."""

    def __init__(self, comfy_type: str, node_def: Any, mapping: Any):
        function, params, category = SIGNATURES[comfy_type]
        self.comfy_type, self.node_def, self.mapping = comfy_type, node_def, mapping
        self.function, self.category = function, category
        self.params = _parameters(params)

    def input_types(self) -> dict:
        required: dict[str, Any] = {}
        optional: dict[str, Any] = {}
        for name, default in self.params:
            entry = self._entry(name, default)
            if entry is None:
                continue
            nf = self.node_def.inputs.get(self.mapping.input_name(name))
            (optional if nf is not None and nf.optional else required)[name] = entry
        return {"required": required, **({"optional": optional} if optional else {})}

    def _entry(self, name: str, default: Any) -> tuple | None:
        mapping = self.mapping
        if name in mapping.dropped:
            fill = mapping.fill.get(name)
            allowed = mapping.dropped[name]
            if allowed is not None:
                return (list(allowed),)
            return (_kind_of(fill), {"default": fill}) if fill is not None else None
        spec = self.node_def.inputs.get(mapping.input_name(name))
        if spec is None:
            return None  # a parameter nodeflow's node lacks: only its default is accepted
        kind = spec.socket.type_name
        if not spec.accepts_literal and spec.field.choices is None:
            return (kind,)
        field = spec.field
        choices = field.choice_list(_settings())
        options: dict[str, Any] = {}
        value = field.default if field.has_default else None
        convert = mapping.exported.get(spec.name)
        if convert is not None:
            converted = [convert(c) for c in choices] if choices is not None else None
            if value is not None:
                options["default"] = convert(value)
            if isinstance(value, bool):
                converted = [convert(True), convert(False)]
            if converted is not None:
                return (converted, options)
            return (_kind_of(options.get("default")), options)
        if choices is not None:
            if value is not None:
                options["default"] = value
            if field.upload == "image":
                options["image_upload"] = True
            return (list(choices), options)
        if value is not None:
            options["default"] = value
        if kind in ("INT", "FLOAT"):
            for key, attr in (("min", "ge"), ("max", "le"), ("step", "step")):
                if getattr(field, attr, None) is not None:
                    options[key] = getattr(field, attr)
        if kind == "STRING" and field.multiline:
            options["multiline"] = True
        return (kind, options)

    def call(self, args: tuple, kwargs: dict) -> tuple:
        bound = self._bind(args, kwargs)
        node_def, mapping, who = self.node_def, self.mapping, self.comfy_type
        inputs: dict[str, Any] = {}
        for name, value in bound.items():
            if name in mapping.dropped:
                allowed = mapping.dropped[name]
                if allowed is not None and value not in allowed:
                    raise NodeError(f"nodes.{who}: {name}={value!r} is not supported by "
                                    f"nodeflow (only {', '.join(map(repr, allowed))})",
                                    input=name)
                continue
            target = mapping.input_name(name)
            spec = node_def.inputs.get(target)
            if spec is None:
                default = dict(self.params).get(name, _NO_DEFAULT)
                if value is None or value == default:
                    continue
                raise NodeError(f"nodes.{who}: {name}={value!r} is not supported by nodeflow "
                                f"(only its default {default!r})", input=name)
            if value is None and spec.optional:
                continue
            if name in mapping.values:
                try:
                    value = mapping.values[name](value)
                except ValueError as exc:
                    raise NodeError(f"nodes.{who}: input '{name}': {exc}", input=name) from None
            try:
                value = values.from_comfy(spec.socket.type_name, value)
            except ValueError as exc:  # e.g. an empty CONDITIONING list
                raise NodeError(f"nodes.{who}: input '{name}': {exc}", input=name) from None
            if spec.accepts_literal:
                from ..engine.validate import literal_problem

                problem = literal_problem(spec, value, _settings())
                if problem:
                    raise NodeError(f"nodes.{who}: input '{name}': {problem}", input=name)
            inputs[target] = value
        return self._run(inputs)

    def _bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        names = [n for n, _ in self.params]
        if len(args) > len(names):
            raise TypeError(f"{self.comfy_type}.{self.function}() takes {len(names)} "
                            f"arguments ({', '.join(names)}), got {len(args)}")
        bound = dict(zip(names, args))
        for name, value in kwargs.items():
            if name in bound:
                raise TypeError(f"{self.comfy_type}.{self.function}() got two values for "
                                f"'{name}'")
            if name not in names:
                raise TypeError(f"{self.comfy_type}.{self.function}() has no parameter "
                                f"'{name}'")
            bound[name] = value
        for name, default in self.params:
            if name not in bound:
                if default is _NO_DEFAULT:
                    raise TypeError(f"{self.comfy_type}.{self.function}() is missing "
                                    f"'{name}'")
                bound[name] = default
        return bound

    def _run(self, inputs: dict[str, Any]) -> tuple:
        from ..engine.executor import literal_inputs

        node_def = self.node_def
        kwargs = {**literal_inputs(node_def, {}), **inputs}
        for name, spec in node_def.inputs.items():
            if name not in kwargs:
                if spec.required:
                    raise NodeError(f"nodes.{self.comfy_type}: missing input "
                                    f"'{self.mapping.comfy_input_name(name)}'", input=name)
                kwargs[name] = None
        if node_def.wants_ctx:
            kwargs["ctx"] = calling_ctx(self.comfy_type)
        result = node_def.fn(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
        outputs = node_def.outputs_from_result(result)
        by_name = {o.name: o for o in node_def.outputs}
        return tuple(values.to_comfy(by_name[name].socket.type_name, outputs[name])
                     for name in self.mapping.outputs)


async def _wait(awaitable):
    return await awaitable


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT"
    if isinstance(value, float):
        return "FLOAT"
    return "STRING"


def core_class(backed: Backed) -> type:
    """A ComfyUI-shaped class for ``backed`` (named and called as ComfyUI's)."""
    def run(self, *args: Any, **kwargs: Any) -> tuple:
        return backed.call(args, kwargs)

    def input_types(cls) -> dict:
        return backed.input_types()

    by_name = {o.name: o for o in backed.node_def.outputs}
    return type(backed.comfy_type, (), {
        "__module__": "nodes", "__doc__": f"ComfyUI's {backed.comfy_type}, run by nodeflow's "
                                          f"{backed.node_def.type_name}.",
        "INPUT_TYPES": classmethod(input_types), "FUNCTION": backed.function,
        "RETURN_TYPES": tuple(by_name[n].socket.type_name for n in backed.mapping.outputs),
        "CATEGORY": backed.category, "OUTPUT_NODE": False, backed.function: run,
        "__nodeflow_backed__": backed})


def core_classes() -> dict[str, type]:
    """Every class of :data:`SIGNATURES` whose nodeflow counterpart is installed."""
    from ..comfy.export import builtin_registry
    from ..comfy.mapping import mapping_for

    registry = builtin_registry()
    classes = {}
    for comfy_type in SIGNATURES:
        mapping = mapping_for(comfy_type)
        node_def = registry.get(mapping.nodeflow_type) if mapping is not None else None
        if node_def is not None:
            classes[comfy_type] = core_class(Backed(comfy_type, node_def, mapping))
    return classes


def common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative,
                    latent, denoise=1.0, disable_noise=False, start_step=None, last_step=None,
                    force_full_denoise=False):
    """ComfyUI's ``nodes.common_ksampler``: KSampler, or KSamplerAdvanced when a step range or
    disabled noise is asked for; returns ``({"samples": ...},)`` keeping the latent's other
    keys, as ComfyUI's does."""
    import nodes

    if start_step is None and last_step is None and not disable_noise:
        (out,) = nodes.KSampler().sample(model, seed, steps, cfg, sampler_name, scheduler,
                                         positive, negative, latent, denoise=denoise)
    else:
        if denoise != 1.0:
            raise NodeError("nodes.common_ksampler: denoise below 1 with a step range is not "
                            "supported by nodeflow", input="denoise")
        (out,) = nodes.KSamplerAdvanced().sample(
            model, "disable" if disable_noise else "enable", seed, steps, cfg, sampler_name,
            scheduler, positive, negative, latent, start_step or 0,
            10000 if last_step is None else last_step,
            "disable" if force_full_denoise else "enable")
    kept = {k: v for k, v in latent.items() if k not in ("samples", "noise_mask")} \
        if isinstance(latent, dict) else {}
    return ({**kept, **out},)
