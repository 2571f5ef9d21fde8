"""Pixel arithmetic shared by the image, mask and latent nodes, following ComfyUI's
comfy/utils.py (common_upscale, lanczos) and nodes_mask.py (composite) so the same inputs give
the same numbers.

Tensors here are channels-first ([batch, channels, height, width]); the nodes move IMAGE's
channels-last layout in and out.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_MODES = ("disabled", "center")


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The largest centred window of ``samples`` with the aspect ratio width:height (ComfyUI
    rounds the margin on each side)."""
    old_h, old_w = samples.shape[-2:]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples[..., y:old_h - y, x:old_w - x]


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """PIL's Lanczos resize, through 8-bit pictures as ComfyUI does it."""
    import numpy as np
    from PIL import Image

    out = []
    for picture in samples:
        array = np.clip(255.0 * picture.movedim(0, -1).float().cpu().numpy(), 0, 255)
        array = array.astype(np.uint8)
        resized = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
        resized = resized.resize((width, height), resample=Image.Resampling.LANCZOS)
        values = torch.from_numpy(np.array(resized).astype(np.float32) / 255.0)
        out.append(values.reshape(height, width, -1).movedim(-1, 0))
    return torch.stack(out).to(samples.device, samples.dtype)


def upscale(samples: torch.Tensor, width: int, height: int, method: str,
            crop: str = "disabled") -> torch.Tensor:
    """Resize [B, C, H, W] to width x height (ComfyUI's common_upscale)."""
    if method not in SCALE_METHODS and method != "bislerp":
        raise ValueError(f"unknown resize method {method!r}; expected one of "
                         f"{', '.join(SCALE_METHODS)}")
    if crop == "center":
        samples = center_crop_to_aspect(samples, width, height)
    if method == "lanczos":
        return lanczos(samples, width, height)
    if method == "bislerp":
        from .latent_ops import resize

        return resize(samples, height, width, "bislerp")
    return F.interpolate(samples, size=(height, width), mode=method)


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """``tensor`` cut or repeated along the batch to ``batch`` items (ComfyUI's
    repeat_to_batch_size)."""
    if tensor.shape[0] > batch:
        return tensor[:batch]
    if tensor.shape[0] < batch:
        reps = math.ceil(batch / tensor.shape[0])
        return tensor.repeat(reps, *([1] * (tensor.ndim - 1)))[:batch]
    return tensor


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
              mask: torch.Tensor | None = None, multiplier: int = 1,
              resize_source: bool = False) -> torch.Tensor:
    """``source`` pasted over a copy of ``destination`` ([B, C, H, W] both) with its top-left
    corner at pixel (x, y) (divided by ``multiplier``: 8 for latents), weighted by ``mask``
    (1 = source); what falls outside the destination is cut off."""
    destination = destination.clone()
    source = source.to(destination.device, destination.dtype)
    if resize_source:
        source = F.interpolate(source, size=destination.shape[-2:], mode="bilinear")
    source = repeat_to_batch(source, destination.shape[0])
    left, top = x // multiplier, y // multiplier
    height, width = destination.shape[-2:]
    if left >= width or top >= height:
        return destination
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = mask.to(destination.device, torch.float32).reshape((-1, 1, *mask.shape[-2:]))
        mask = F.interpolate(mask, size=source.shape[-2:], mode="bilinear")
        mask = repeat_to_batch(mask, source.shape[0])
    h, w = min(source.shape[-2], height - top), min(source.shape[-1], width - left)
    mask = mask[..., :h, :w]
    region = destination[..., top:top + h, left:left + w]
    destination[..., top:top + h, left:left + w] = mask * source[..., :h, :w] + (1 - mask) * region
    return destination
