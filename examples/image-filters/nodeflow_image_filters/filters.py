"""Blur and sharpen with a separable Gaussian kernel (two 1-D convolutions, cheap at any size)."""
from __future__ import annotations

from nodeflow import Field, Image, node

RADIUS = Field(2.0, ge=0.1, le=64.0, step=0.1)


def gaussian_blur(image, radius: float):
    """Blur an IMAGE [B, H, W, C]; edges are reflected so borders do not darken."""
    import torch
    import torch.nn.functional as F

    size = max(3, int(radius * 3) * 2 + 1)
    size = min(size, 2 * min(image.shape[1], image.shape[2]) - 1) | 1
    x = torch.arange(size, dtype=torch.float32) - size // 2
    kernel = torch.exp(-(x**2) / (2 * radius**2))
    kernel = kernel / kernel.sum()
    pixels = image.movedim(-1, 1)
    channels = pixels.shape[1]
    pad = size // 2
    horizontal = kernel.view(1, 1, 1, size).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, size, 1).repeat(channels, 1, 1, 1)
    pixels = F.conv2d(F.pad(pixels, (pad, pad, 0, 0), mode="reflect"), horizontal, groups=channels)
    pixels = F.conv2d(F.pad(pixels, (0, 0, pad, pad), mode="reflect"), vertical, groups=channels)
    return pixels.movedim(1, -1)


@node(category="image/filters", version="1.0.0", display_name="Gaussian Blur")
def GaussianBlur(image: Image, radius: float = RADIUS) -> Image:
    """Soften an image; radius is the Gaussian's standard deviation in pixels."""
    return gaussian_blur(image, radius).clamp(0, 1)


@node(category="image/filters", version="1.0.0")
def Sharpen(image: Image, amount: float = Field(0.5, ge=0.0, le=5.0, step=0.05),
            radius: float = RADIUS) -> Image:
    """Unsharp mask: add back ``amount`` times the detail a blur would remove."""
    return (image + amount * (image - gaussian_blur(image, radius))).clamp(0, 1)
