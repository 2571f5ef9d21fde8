"""IMAGE and MASK tensors to and from Pillow images, and PNG/animation files.

IMAGE is float32 [batch, height, width, channels] in 0..1 with 3 channels (RGB); MASK is float32
[batch, height, width] in 0..1 where 1 marks pixels to change. Both follow ComfyUI.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin


def pil_to_image(picture: Image.Image) -> torch.Tensor:
    """An RGB [1, H, W, 3] tensor; EXIF rotation applied as a viewer would."""
    picture = ImageOps.exif_transpose(picture)
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(rgb.copy())[None]


def pil_to_mask(picture: Image.Image, channel: str = "A") -> torch.Tensor:
    """A [1, H, W] mask from one channel. From alpha it is inverted (transparent = change
    this pixel), as ComfyUI's LoadImage does; an image without alpha gives an all-zero mask."""
    picture = ImageOps.exif_transpose(picture)
    if channel == "A":
        if "A" not in picture.getbands() and picture.mode != "P":
            return torch.zeros((1, picture.height, picture.width), dtype=torch.float32)
        alpha = np.asarray(picture.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
        return torch.from_numpy(1.0 - alpha)[None]
    band = np.asarray(picture.convert("RGBA").getchannel(channel), dtype=np.float32) / 255.0
    return torch.from_numpy(band.copy())[None]


def image_to_pils(images: torch.Tensor) -> list[Image.Image]:
    """One Pillow RGB image per batch item (values clamped to 0..1, rounded)."""
    array = (images.detach().float().clamp(0, 1).cpu().numpy() * 255.0).round().astype(np.uint8)
    if array.shape[-1] == 1:
        array = array[..., 0]
    return [Image.fromarray(item) for item in array]


def png_info(texts: dict[str, Any]) -> PngImagePlugin.PngInfo:
    """Text chunks for a PNG; dicts are written as JSON (workflows travel this way)."""
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    return info


def save_animation(frames: Iterable[Image.Image], handle, *, fmt: str, fps: float,
                   loop: int = 0) -> None:
    """Animated WebP (lossless) or GIF from Pillow frames."""
    frames = list(frames)
    duration = int(round(1000 / fps))
    extra = {"lossless": True, "quality": 90} if fmt == "WEBP" else {"optimize": False}
    frames[0].save(handle, format=fmt, save_all=True, append_images=frames[1:],
                   duration=duration, loop=loop, **extra)
