"""Values crossing between nodeflow nodes and ComfyUI pack nodes.

IMAGE and MASK tensors have the same layout in both ([B,H,W,C] and [B,H,W], floats in 0..1);
what a foreign node returns is made strict here ([H,W] masks, [H,W,C] images and [B,H,W]
single-channel images are what ComfyUI's own nodes tolerate), so nodeflow's nodes downstream
keep their strict checks. LATENT is ``{"samples": ...}`` in ComfyUI and a ``LatentBatch`` in
nodeflow; CONDITIONING is ``[[cond, {"pooled_output": ..., ...}], ...]`` in ComfyUI and a
``Conditioning`` of ``CondEntry``s in nodeflow; STYLE_MODEL is an object with ComfyUI's
``get_cond`` for the pack. Other types pass through unchanged.
"""
from __future__ import annotations

from typing import Any


def to_comfy(type_name: str, value: Any) -> Any:
    """A nodeflow value, as a ComfyUI node expects it on an input of ``type_name``."""
    if type_name == "LATENT" and _is_latent_batch(value):
        out = {"samples": value.samples}
        if value.noise_mask is not None:
            out["noise_mask"] = value.noise_mask
        if value.batch_index is not None:
            out["batch_index"] = list(value.batch_index)
        return out
    if type_name == "CONDITIONING" and hasattr(value, "entries"):
        return [[e.cond, {**dict(e.extra), **({"pooled_output": e.pooled}
                                               if e.pooled is not None else {})}]
                for e in value.entries]
    if type_name == "*" and _is_latent_batch(value):
        return to_comfy("LATENT", value)
    if type_name == "STYLE_MODEL":
        from .style_model import StyleModel, is_style_model_ref

        return StyleModel(value) if is_style_model_ref(value) else value
    return value


def from_comfy(type_name: str, value: Any) -> Any:
    """What a ComfyUI node returned on an output of ``type_name``, as nodeflow carries it."""
    if type_name == "LATENT" and isinstance(value, dict) and "samples" in value:
        from ..diffusion.latent import LatentBatch

        index = value.get("batch_index")
        return LatentBatch(samples=value["samples"], noise_mask=value.get("noise_mask"),
                           batch_index=None if index is None else tuple(index))
    if type_name == "CONDITIONING" and isinstance(value, list):
        from ..diffusion.conditioning import CondEntry, Conditioning

        entries = []
        for item in value:
            cond, extra = item[0], dict(item[1]) if len(item) > 1 else {}
            pooled = extra.pop("pooled_output", None)
            entries.append(CondEntry(cond, pooled, extra))
        return Conditioning(tuple(entries))
    if type_name == "STYLE_MODEL":
        from .style_model import StyleModel

        return value.ref if isinstance(value, StyleModel) else value
    if type_name == "IMAGE":
        return _strict_image(value)
    if type_name == "MASK":
        return _strict_mask(value)
    return value


def _is_latent_batch(value: Any) -> bool:
    return type(value).__name__ == "LatentBatch" and hasattr(value, "samples")


def _strict_image(value: Any) -> Any:
    ndim = getattr(value, "ndim", None)
    if ndim == 3 and value.shape[-1] in (1, 3, 4) and value.shape[0] > 4:
        return value.unsqueeze(0)  # [H,W,C]
    if ndim == 3:
        return value.unsqueeze(-1).expand(*value.shape, 3)  # [B,H,W] grey
    if ndim == 2:
        return value.unsqueeze(0).unsqueeze(-1).expand(1, *value.shape, 3)
    return value


def _strict_mask(value: Any) -> Any:
    ndim = getattr(value, "ndim", None)
    if ndim == 2:
        return value.unsqueeze(0)
    if ndim == 4 and value.shape[-1] == 1:
        return value[..., 0]
    return value
