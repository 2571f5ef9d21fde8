"""CLIP vision encoders (ComfyUI's CLIPVisionLoader / CLIPVisionEncode): the image towers of
OpenAI's ViT-L/14 and LAION's ViT-H/14 and ViT-bigG/14, as ComfyUI's clip_vision files hold them
(transformers' layout, ``vision_model.*`` and ``visual_projection``).

The model is transformers' CLIPVisionModelWithProjection with a config read off the weights
(width, patch size, image size, layers, projection); the activation follows the family (quick
GELU for OpenAI's ViT-B/L, GELU for LAION's ViT-H/bigG), as ComfyUI's shipped configs say.
Pictures are prepared as ComfyUI's clip_preprocess does: scaled so the short side is the model's
image size (bicubic, antialiased), centre-cropped (or squashed with crop "none"), rounded to
8 bits, normalised with CLIP's mean and deviation.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint_errors import CheckpointError

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
HEADS = {768: 12, 1024: 16, 1280: 16, 1664: 16}
QUICK_GELU = (768, 1024)  # OpenAI's towers; LAION's (1280, 1664) use GELU


def vision_config(sd) -> dict:
    """A CLIPVisionConfig dict read off a state dict in transformers' layout."""
    prefix = "vision_model."
    try:
        patch = sd[prefix + "embeddings.patch_embedding.weight"]
        positions = sd[prefix + "embeddings.position_embedding.weight"].shape[0]
        fc1 = sd[prefix + "encoder.layers.0.mlp.fc1.weight"]
        projection = sd["visual_projection.weight"]
    except KeyError as exc:
        raise CheckpointError(f"not a CLIP vision model in transformers' layout (missing "
                              f"{exc.args[0]})") from None
    hidden = patch.shape[0]
    layers = 1 + max(int(m.group(1)) for k in sd
                     if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", k)))
    side = math.isqrt(positions - 1)
    heads = HEADS.get(hidden, hidden // 64 if hidden % 64 == 0 else 0)
    if not heads:
        raise CheckpointError(f"a CLIP vision model {hidden} wide: no known number of heads")
    return {"hidden_size": hidden, "intermediate_size": fc1.shape[0], "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_channels": patch.shape[1],
            "patch_size": patch.shape[-1], "image_size": side * patch.shape[-1],
            "projection_dim": projection.shape[0], "layer_norm_eps": 1e-5,
            "hidden_act": "quick_gelu" if hidden in QUICK_GELU else "gelu"}


def load_clip_vision(path: str | os.PathLike, *, allow_pickle: bool = False, device="cpu",
                     dtype: torch.dtype = torch.float32):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .checkpoint_build import fill
    from .checkpoint_files import read_state_dict

    path = Path(path)
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    if any(k.startswith("visual.transformer.") for k in sd):
        raise CheckpointError(f"{path}: a CLIP vision model in open_clip's layout; only "
                              "transformers' layout (vision_model.*) is supported yet")
    try:
        config = CLIPVisionConfig(**vision_config(sd))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(config)
    fill(model, sd, {k: k for k in model.state_dict()}, set(), path, "CLIP vision model",
         device, dtype)
    return model


def preprocess(image: torch.Tensor, size: int, crop: bool = True) -> torch.Tensor:
    """IMAGE [B, H, W, 3] in 0..1 -> normalised pixels [B, 3, size, size]."""
    pixels = image[..., :3].movedim(-1, 1).float()
    if pixels.shape[2:] != (size, size):
        if crop:
            scale = size / min(pixels.shape[2], pixels.shape[3])
            scaled = (round(scale * pixels.shape[2]), round(scale * pixels.shape[3]))
        else:
            scaled = (size, size)
        pixels = torch.nn.functional.interpolate(pixels, size=scaled, mode="bicubic",
                                                 antialias=True)
        top, left = (pixels.shape[2] - size) // 2, (pixels.shape[3] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]
    pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1)
    return (pixels - mean) / std


@dataclass(frozen=True, eq=False)
class ClipVisionOutput:
    """The CLIP_VISION_OUTPUT socket, with ComfyUI's names."""

    image_embeds: torch.Tensor
    last_hidden_state: torch.Tensor
    penultimate_hidden_states: torch.Tensor


def encode_image(model, image: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
    pixels = preprocess(image, model.config.image_size, crop)
    parameter = next(model.parameters())
    with torch.no_grad():
        out = model(pixel_values=pixels.to(parameter.device, parameter.dtype),
                    output_hidden_states=True)
    return ClipVisionOutput(out.image_embeds.float().cpu(), out.last_hidden_state.float().cpu(),
                            out.hidden_states[-2].float().cpu())


@dataclass(frozen=True)
class ClipVisionRef:
    """The CLIP_VISION socket: a file, loaded once per device and precision."""

    file: Any  # refs.FileIdentity
    allow_pickle: bool = False
    KIND = "clip_vision"
    """The model cache's name for what ``read`` makes of the file."""

    @staticmethod
    def read(path, **options):
        return load_clip_vision(path, **options)

    def load(self, ctx, runtime):
        # loaded at the compute dtype whatever the storage: the key names only that
        key = (self.KIND, self.file, runtime.device, str(runtime.dtype))
        return ctx.models.get(key, lambda: self.read(
            self.file.path, allow_pickle=self.allow_pickle, device=runtime.load_device,
            dtype=runtime.dtype))
