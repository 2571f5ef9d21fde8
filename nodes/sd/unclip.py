"""unCLIP with ComfyUI's nodes: unCLIPCheckpointLoader (an SD 2.1 unCLIP checkpoint: model,
text encoder, VAE and the CLIP image encoder it carries) and unCLIPConditioning (a picture's
CLIP embedding added to a prompt, so the model draws variations of it)."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Clip, Conditioning, Field, Model, NodeError, Vae, node

from .clip_vision import ClipVision, ClipVisionOutput
from .loaders import _file_state, _load_or_explain, _resolve, model_names


class ModelClipVaeVision(NamedTuple):
    model: Model
    clip: Clip
    vae: Vae
    clip_vision: ClipVision


@node(category="loaders", display_name="unCLIP Checkpoint Loader",
      fingerprint=_file_state("checkpoints", "checkpoint"))
def unCLIPCheckpointLoader(checkpoint: str = Field(choices=model_names("checkpoints")), *,
                           ctx) -> ModelClipVaeVision:
    """An SD 2.1 unCLIP checkpoint (sd21-unclip-h / -l) split into its model, text encoder,
    VAE and the CLIP image encoder it was trained with (for CLIP Vision Encode)."""
    from nodeflow.diffusion.refs import CheckpointSource, ClipRef, FileIdentity, ModelRef, VaeRef
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.unclip import UnclipVisionRef

    path = _resolve("checkpoints", checkpoint, ctx.settings, "checkpoint")
    identity = FileIdentity.of(path)
    source = CheckpointSource(identity, allow_pickle=ctx.settings.allow_pickle)
    runtime = Runtime.for_ctx(ctx)
    loaded = _load_or_explain(lambda: source.load(ctx, runtime), "checkpoint")
    if getattr(loaded.unet.config, "class_embed_type", None) != "projection":
        raise NodeError(f"{checkpoint} is a {loaded.arch} checkpoint without an image input, "
                        "not an unCLIP model: load it with Load Checkpoint", input="checkpoint")
    vision = UnclipVisionRef(identity, ctx.settings.allow_pickle)
    model = _load_or_explain(lambda: vision.load(ctx, runtime), "checkpoint")
    ctx.log(f"{checkpoint}: {loaded.arch} unCLIP, image encoder {model.config.hidden_size} wide")
    return ModelClipVaeVision(ModelRef(source), ClipRef(source), VaeRef(checkpoint=source), vision)


@node(category="conditioning", display_name="unCLIP Conditioning")
def unCLIPConditioning(conditioning: Conditioning, clip_vision_output: ClipVisionOutput,
                       strength: float = Field(1.0, ge=-10.0, le=10.0, step=0.01),
                       noise_augmentation: float = Field(0.0, ge=0.0, le=1.0, step=0.01)
                       ) -> Conditioning:
    """Add a picture's CLIP embedding to the prompt for an unCLIP model: it draws variations
    of the picture. ``noise_augmentation`` noises the embedding (more: looser variations);
    several stack (their embeddings are added)."""
    from nodeflow.diffusion.conditioning import Conditioning as Cond

    if strength == 0:
        return conditioning
    item = (clip_vision_output, strength, noise_augmentation)
    return Cond(tuple(entry.with_extra(unclip_conditioning=(
        *entry.extra.get("unclip_conditioning", ()), item)) for entry in conditioning))
