"""Loaders by part with ComfyUI's names: UNETLoader (models/diffusion_models, also
models/unet), CLIPLoader and DualCLIPLoader (models/text_encoders, also models/clip), for
SD 1.x, SD 2.x and SDXL; other model families are refused by name."""
from __future__ import annotations

from nodeflow import Clip, Field, Model, NodeError, node
from nodeflow.diffusion.names import CLIP_TYPES, DUAL_CLIP_TYPES

from .loaders import _file_state, _load_or_explain, _resolve, model_names

WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
DEVICES = ["default", "cpu"]


def _two_states(inputs: dict, settings) -> list:
    return [*_file_state("text_encoders", "clip_name1")(inputs, settings),
            *_file_state("text_encoders", "clip_name2")(inputs, settings)]


@node(category="advanced/loaders", display_name="Load Diffusion Model",
      fingerprint=_file_state("diffusion_models", "unet_name"))
def UNETLoader(unet_name: str = Field(choices=model_names("diffusion_models")),
               weight_dtype: str = Field("default", choices=WEIGHT_DTYPES), *, ctx) -> Model:
    """A standalone UNet (SD 1.x, 2.x or XL; original or diffusers keys) as a MODEL, computed
    in the run's precision (--precision). An fp8 ``weight_dtype`` stores its linear and
    convolution weights in 8 bits (a quarter of fp32's memory, half of fp16's) and casts them
    for each use; ``fp8_e4m3fn_fast`` stores like fp8_e4m3fn (its fp8 matrix products need a
    recent GPU in ComfyUI)."""
    from nodeflow.diffusion.refs import FileIdentity, ModelRef, PartSource
    from nodeflow.diffusion.runtime import Runtime

    path = _resolve("diffusion_models", unet_name, ctx.settings, "unet_name")
    source = PartSource((FileIdentity.of(path),), "unet", ctx.settings.allow_pickle,
                        weight_dtype=weight_dtype)
    runtime = Runtime.for_ctx(ctx)
    loaded = _load_or_explain(lambda: source.load(ctx, runtime), "unet_name")
    stored = "" if weight_dtype == "default" else f", weights stored in {weight_dtype}"
    ctx.log(f"{unet_name}: {loaded.arch} UNet ({loaded.prediction_type}{stored})")
    return ModelRef(source)


def _clip(ctx, names: list[tuple[str, str]], clip_type: str, device: str):
    from nodeflow.diffusion.refs import ClipRef, FileIdentity, PartSource
    from nodeflow.diffusion.runtime import Runtime

    files = tuple(FileIdentity.of(_resolve("text_encoders", name, ctx.settings, field))
                  for field, name in names)
    source = PartSource(files, clip_type, ctx.settings.allow_pickle, cpu=device == "cpu")
    loaded = _load_or_explain(lambda: source.load(ctx, Runtime.for_ctx(ctx)), names[0][0])
    ctx.log(f"{', '.join(n for _, n in names)}: {loaded.arch} text encoder(s)")
    return ClipRef(source)


@node(category="advanced/loaders", display_name="Load CLIP",
      fingerprint=_file_state("text_encoders", "clip_name"))
def CLIPLoader(clip_name: str = Field(choices=model_names("text_encoders")),
               type: str = Field("stable_diffusion", choices=list(CLIP_TYPES)),
               device: str = Field("default", choices=DEVICES), *, ctx) -> Clip:
    """A standalone text encoder: CLIP-L for SD 1.x or OpenCLIP-H for SD 2.x (type
    stable_diffusion). ``device: cpu`` keeps it on the CPU."""
    if type != "stable_diffusion":
        raise NodeError(f"type {type!r} is for a model family that is not supported yet "
                        "(stable_diffusion is)", input="type")
    return _clip(ctx, [("clip_name", clip_name)], type, device)


@node(category="advanced/loaders", display_name="DualCLIPLoader", fingerprint=_two_states)
def DualCLIPLoader(clip_name1: str = Field(choices=model_names("text_encoders")),
                   clip_name2: str = Field(choices=model_names("text_encoders")),
                   type: str = Field("sdxl", choices=list(DUAL_CLIP_TYPES)),
                   device: str = Field("default", choices=DEVICES), *, ctx) -> Clip:
    """SDXL's two text encoders (CLIP-L and OpenCLIP-bigG, in either order) from separate
    files. ``device: cpu`` keeps them on the CPU."""
    if type != "sdxl":
        raise NodeError(f"type {type!r} is for a model family that is not supported yet "
                        "(sdxl is)", input="type")
    return _clip(ctx, [("clip_name1", clip_name1), ("clip_name2", clip_name2)], type, device)
