"""CLIP vision with ComfyUI's nodes: CLIPVisionLoader (models/clip_vision) and CLIPVisionEncode,
whose CLIP_VISION_OUTPUT (image_embeds, last_hidden_state, penultimate_hidden_states) is what
image-prompt nodes of other packs take."""
from __future__ import annotations

from pathlib import Path

from nodeflow import Field, Image, NodeError, node, socket_type

from .loaders import _file_state, _load_file, model_names

ClipVision = socket_type("CLIP_VISION", "#a8dadc", doc="A CLIP image encoder")
ClipVisionOutput = socket_type("CLIP_VISION_OUTPUT", "#ad7452",
                               doc="CLIP image embeddings (image_embeds, hidden states)")


@node(category="loaders", display_name="Load CLIP Vision",
      fingerprint=_file_state("clip_vision", "clip_name"))
def CLIPVisionLoader(clip_name: str = Field(choices=model_names("clip_vision")), *,
                     ctx) -> ClipVision:
    """A CLIP image encoder (ViT-L/14, ViT-H/14, ViT-bigG/14 in transformers' layout, as
    ComfyUI's clip_vision files)."""
    from nodeflow.diffusion.clip_vision import ClipVisionRef

    ref, model = _load_file(ctx, "clip_vision", clip_name, "clip_name", ClipVisionRef)
    config = model.config
    ctx.log(f"{clip_name}: CLIP vision, {config.hidden_size} wide, {config.image_size} px")
    return ref


@node(category="conditioning", display_name="CLIP Vision Encode")
def CLIPVisionEncode(clip_vision: ClipVision, image: Image,
                     crop: str = Field("center", choices=["center", "none"]), *,
                     ctx) -> ClipVisionOutput:
    """The image's CLIP embeddings: scaled to the model's size (centre-cropped, or squashed
    with ``none``), as ComfyUI prepares it."""
    from nodeflow.diffusion.clip_vision import encode_image
    from nodeflow.diffusion.placement import place
    from nodeflow.diffusion.runtime import Runtime

    if image.ndim != 4 or image.shape[-1] < 3:
        raise NodeError(f"expected an IMAGE [batch, height, width, 3], got {tuple(image.shape)}",
                        input="image")
    model = place(ctx, clip_vision.load(ctx, Runtime.for_ctx(ctx)),
                  f"the CLIP vision model {Path(clip_vision.file.path).name}")
    return encode_image(model, image, crop == "center")
