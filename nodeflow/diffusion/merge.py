"""Model merging (ComfyUI's ModelMergeSimple / CLIPMergeSimple) and saving a checkpoint.

A merged MODEL or CLIP is a small reference like the loaders' (refs.py): the two inputs and the
ratio. Its weights are built once into the model cache: every weight is a x ratio + b x (1 -
ratio), as ComfyUI's add_patches(patches of b, 1 - ratio, ratio) on a clone of a computes it.
LoRAs on a merged model apply on top of the merge.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import torch

from .checkpoint_errors import CheckpointError
from .placement import place
from .runtime import Runtime

SKIPPED_CLIP_KEYS = ("position_ids", "logit_scale")
"""CLIP tensors CLIPMergeSimple keeps from the first model."""


def merge_modules(a: torch.nn.Module, b: torch.nn.Module, ratio: float, what: str,
                  skip: tuple[str, ...] = ()) -> torch.nn.Module:
    """A copy of ``a`` whose weights are a x ratio + b x (1 - ratio)."""
    merged = copy.deepcopy(a)
    theirs = b.state_dict()
    with torch.no_grad():
        for key, tensor in merged.state_dict().items():
            if key.endswith(skip) or not tensor.is_floating_point():
                continue
            other = theirs.get(key)
            if other is None or other.shape != tensor.shape:
                found = "missing" if other is None else f"of shape {tuple(other.shape)}"
                raise CheckpointError(f"cannot merge two different {what} architectures: {key} "
                                      f"has shape {tuple(tensor.shape)} in the first and is "
                                      f"{found} in the second")
            # in fp32 whatever the storage (a text encoder kept in the file's fp16), rounded once
            tensor.copy_(tensor.float() * ratio + other.to(tensor.device).float() * (1.0 - ratio))
    return merged


def _with_loras(ctx, runtime, unet, encoders, loras, key):
    """``unet``/``encoders`` with ``loras`` applied in order (cached under ``key``)."""
    if not loras:
        return unet, encoders

    def build():
        from .checkpoint_files import read_state_dict
        from .checkpoint_lora import apply_lora

        base_unet, base_encoders = _with_loras(ctx, runtime, unet, encoders, loras[:-1],
                                               key[:-1] + (loras[:-1],))
        spec = loras[-1]
        patched = apply_lora(base_unet, base_encoders, read_state_dict(spec.file.path),
                             spec.strength_model, spec.strength_clip, source=spec.file.path)
        return patched.unet, tuple(patched.text_encoders)

    return ctx.models.get(key, build)


@dataclass(frozen=True)
class MergedModelRef:
    """MODEL: two models' UNets mixed by ``ratio`` (1 = all of ``a``)."""

    a: Any
    b: Any
    ratio: float
    loras: tuple = ()

    def with_lora(self, lora) -> "MergedModelRef":
        return replace(self, loras=self.loras + (lora,))

    def load(self, ctx, runtime: Runtime):
        unet_a, checkpoint = self.a.load(ctx, runtime)
        key = ("merged-model", self.a, self.b, self.ratio, runtime.device, runtime.weights)

        def build():
            unet_b, _ = self.b.load(ctx, runtime)
            return merge_modules(unet_a, unet_b, self.ratio, "UNet")

        merged = ctx.models.get(key, build)
        unet, _ = _with_loras(ctx, runtime, merged, (), self.loras, key + (self.loras,))
        return place(ctx, unet, "the merged UNet"), checkpoint


@dataclass(frozen=True)
class MergedClipRef:
    """CLIP: two text encoders mixed by ``ratio`` (1 = all of ``a``); clip skip as ClipRef."""

    a: Any
    b: Any
    ratio: float
    loras: tuple = ()
    skip: int | None = None

    def with_lora(self, lora) -> "MergedClipRef":
        return replace(self, loras=self.loras + (lora,))

    def load(self, ctx, runtime: Runtime):
        encoders_a, arch = self.a.load(ctx, runtime)
        key = ("merged-clip", self.a, self.b, self.ratio, runtime.device, runtime.weights)

        def build():
            encoders_b, arch_b = self.b.load(ctx, runtime)
            if arch_b.split("-")[0] != arch.split("-")[0] or len(encoders_b) != len(encoders_a):
                raise CheckpointError(f"cannot merge text encoders of {arch} and {arch_b}")
            return tuple(merge_modules(x, y, self.ratio, "text encoder", SKIPPED_CLIP_KEYS)
                         for x, y in zip(encoders_a, encoders_b))

        merged = ctx.models.get(key, build)
        # the LoRA's UNet layers are not for this CLIP: an empty module takes their place
        _, merged = _with_loras(ctx, runtime, torch.nn.Module(), merged, self.loras,
                                key + (self.loras,))
        for encoder in merged:
            place(ctx, encoder, "the merged text encoder")
        return merged, arch


def checkpoint_state_dict(arch: str, unet, vae, encoders) -> dict[str, torch.Tensor]:
    """The parts as one original-layout state dict (what model sites ship), on the CPU."""
    from .checkpoint_keys import to_original_state_dict

    tensors = to_original_state_dict(arch, unet, vae, encoders)
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
