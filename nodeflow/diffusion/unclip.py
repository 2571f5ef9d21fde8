"""SD 2.1 unCLIP: a UNet that also takes a CLIP image embedding, as ComfyUI runs it.

Stability's unCLIP checkpoints (sd21-unclip-h/-l) are SD 2.1 v-prediction models whose UNet has
an extra "label" input (``label_emb``, diffusers' ``class_embed_type="projection"``) and that
carry the CLIP image tower they were trained with (``embedder.model.visual.*``, open_clip's
layout: ViT-H/14 for -h, ViT-L/14 for -l). The label is the image embedding noised to a level
("noise augmentation") concatenated with that level's sinusoidal embedding (cos first), x the
strength; several image embeddings are summed and noised once more at level 0.05 (ComfyUI's
``unclip_adm``); with none, the label is zeros. The noise follows a cosine schedule of 1000
steps (squaredcos_cap_v2) and is drawn from the sampler's seed - 10. Like ComfyUI, the CLIP
statistics the original code normalised with are not applied (mean 0, deviation 1).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint_errors import CheckpointError
from .checkpoint_keys import UNET_PREFIX
from .clip_vision import ClipVisionRef

VISION_PREFIX = "embedder.model.visual."
NOISE_STEPS = 1000
MERGED_NOISE = 0.05  # ComfyUI's unclip_noise_augment_merge
SEED_OFFSET = -10


def is_unclip(sd) -> bool:
    return UNET_PREFIX + "label_emb.0.0.weight" in sd and \
        any(k.startswith(VISION_PREFIX) for k in sd)


def unet_fields(sd) -> dict:
    """The UNet config of an unCLIP file: the image-embedding input; {} for other files."""
    if not is_unclip(sd):
        return {}
    width = sd[UNET_PREFIX + "label_emb.0.0.weight"].shape[1]
    return {"class_embed_type": "projection", "projection_class_embeddings_input_dim": width}


def openclip_vision_to_transformers(get, layers: int) -> dict[str, torch.Tensor]:
    """open_clip's visual tower (names without the prefix; ``get`` raises KeyError when one
    is missing) as transformers' CLIPVisionModelWithProjection tensors."""
    out = {"vision_model.embeddings.class_embedding": get("class_embedding"),
           "vision_model.embeddings.patch_embedding.weight": get("conv1.weight"),
           "vision_model.embeddings.position_embedding.weight": get("positional_embedding"),
           "vision_model.pre_layrnorm.weight": get("ln_pre.weight"),
           "vision_model.pre_layrnorm.bias": get("ln_pre.bias"),
           "vision_model.post_layernorm.weight": get("ln_post.weight"),
           "vision_model.post_layernorm.bias": get("ln_post.bias"),
           "visual_projection.weight": get("proj").t().contiguous()}
    names = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
             "mlp.c_proj": "mlp.fc2", "attn.out_proj": "self_attn.out_proj"}
    for i in range(layers):
        src, dst = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for p in ("weight", "bias"):
            for old, new in names.items():
                out[f"{dst}{new}.{p}"] = get(f"{src}{old}.{p}")
            for name, part in zip("qkv", get(f"{src}attn.in_proj_{p}").chunk(3, dim=0)):
                out[f"{dst}self_attn.{name}_proj.{p}"] = part
    return out


def load_unclip_vision(path: str | os.PathLike, *, allow_pickle: bool = False, device="cpu",
                       dtype: torch.dtype = torch.float32):
    """The CLIP image tower inside an unCLIP checkpoint, as CLIPVisionModelWithProjection."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .checkpoint_build import fill
    from .checkpoint_files import read_state_dict
    from .clip_vision import vision_config

    path = Path(path)
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    if not is_unclip(sd):
        raise CheckpointError(f"{path}: not an unCLIP checkpoint (no {VISION_PREFIX}* image "
                              "encoder and UNet label_emb); load it with Load Checkpoint")
    layers = 1 + max(int(k[len(VISION_PREFIX):].split(".")[2]) for k in sd
                     if k.startswith(VISION_PREFIX + "transformer.resblocks."))
    try:
        tensors = openclip_vision_to_transformers(lambda n: sd[VISION_PREFIX + n], layers)
    except KeyError as exc:
        raise CheckpointError(f"{path}: the CLIP image encoder is incomplete: missing "
                              f"{exc.args[0]}") from None
    config = CLIPVisionConfig(**vision_config(tensors))
    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(config)
    fill(model, tensors, {k: k for k in model.state_dict()}, set(), path, "CLIP vision model",
         device, dtype)
    return model


def _sqrt_alphas() -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(alpha_bar), sqrt(1 - alpha_bar) of the cosine schedule (Nichol & Dhariwal 2021,
    s = 0.008, betas capped at 0.999), computed in float64 and stored in float32."""
    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - alpha_bar((i + 1) / NOISE_STEPS) / alpha_bar(i / NOISE_STEPS), 0.999)
                          for i in range(NOISE_STEPS)], dtype=torch.float64)
    alphas = torch.cumprod(1.0 - betas, dim=0)
    return alphas.sqrt().float(), (1.0 - alphas).sqrt().float()


def level_embedding(level: int, dim: int) -> torch.Tensor:
    """[1, dim] the sinusoidal embedding of a noise level, cosines first (max period 10000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = torch.tensor([level], dtype=torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def augment(embedding: torch.Tensor, noise_augmentation: float, seed: int) -> torch.Tensor:
    """An image embedding [1, dim] noised to ``noise_augmentation`` (0..1 of the schedule)
    joined with its level's embedding: [1, 2 dim]."""
    level = round((NOISE_STEPS - 1) * noise_augmentation)
    signal, noise_share = _sqrt_alphas()
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(embedding.shape, dtype=embedding.dtype, generator=generator)
    noised = signal[level] * embedding + noise_share[level] * noise
    return torch.cat([noised, level_embedding(level, embedding.shape[-1])], dim=1)


def class_labels(unclip: list[tuple], width: int, seed: int) -> torch.Tensor:
    """The UNet's label input [1, width] for a conditioning's unCLIP entries, each
    (ClipVisionOutput, strength, noise_augmentation); zeros when there are none."""
    if not unclip:
        return torch.zeros(1, width)
    seed = seed + SEED_OFFSET
    parts = [augment(embedding[None].float(), augmentation, seed) * strength
             for output, strength, augmentation in unclip
             for embedding in output.image_embeds]
    if len(parts) == 1:
        return parts[0]
    summed = torch.stack(parts).sum(0)
    return augment(summed[:, :width // 2], MERGED_NOISE, seed)


@dataclass(frozen=True)
class UnclipVisionRef(ClipVisionRef):
    """The CLIP_VISION socket of unCLIPCheckpointLoader: the image tower inside the
    checkpoint file, loaded once per device and precision (CLIPVisionEncode takes it as it
    takes a CLIPVisionLoader's)."""

    KIND = "unclip_vision"

    @staticmethod
    def read(path, **options):
        return load_unclip_vision(path, **options)
