"""Upscale models with ComfyUI's nodes: UpscaleModelLoader (models/upscale_models: ESRGAN,
RealESRGAN, SwinIR, HAT, DAT, ... through spandrel) and ImageUpscaleWithModel (tiled, with
progress and interrupt)."""
from __future__ import annotations

from nodeflow import Field, Image, NodeError, node, socket_type

from .loaders import _file_state, _load_file, model_names

UpscaleModel = socket_type("UPSCALE_MODEL", "#b0f0b0",
                           doc="An image-to-image model that enlarges pictures (ESRGAN, ...)")

TILE, OVERLAP = 512, 32


@node(category="loaders", display_name="Load Upscale Model",
      fingerprint=_file_state("upscale_models", "model_name"))
def UpscaleModelLoader(model_name: str = Field(choices=model_names("upscale_models")), *,
                       ctx) -> UpscaleModel:
    """An upscale model file (.safetensors; .pth/.pt only with --allow-pickle)."""
    from nodeflow.diffusion.upscale_models import UpscaleModelRef

    ref, model = _load_file(ctx, "upscale_models", model_name, "model_name", UpscaleModelRef,
                            runtime=False)
    ctx.log(f"{model_name}: {model.architecture.name}, x{model.scale}")
    return ref


@node(category="image/upscaling", display_name="Upscale Image (using Model)")
def ImageUpscaleWithModel(upscale_model: UpscaleModel, image: Image, *, ctx) -> Image:
    """Enlarge the images by the model's factor, in tiles of 512 pixels that overlap by 32
    and blend (ComfyUI's tiling, so the same model gives the same picture)."""
    import torch

    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.upscale_models import tiled_scale

    model = upscale_model.load(ctx)
    runtime = Runtime.for_ctx(ctx)
    if image.shape[-1] != model.input_channels:
        raise NodeError(f"the model takes {model.input_channels}-channel pictures, the image "
                        f"has {image.shape[-1]} channels", input="image")
    model.to(runtime.device)
    try:
        with torch.no_grad():
            out = tiled_scale(image.movedim(-1, 1), lambda tile: model(tile.to(runtime.device)),
                              model.scale, TILE, OVERLAP, model.output_channels,
                              progress=ctx.progress)
    finally:
        model.to("cpu")
    return out.movedim(1, -1).clamp(0.0, 1.0)
