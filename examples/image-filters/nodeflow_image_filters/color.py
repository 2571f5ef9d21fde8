"""Brightness, contrast and saturation in one node."""
from __future__ import annotations

from nodeflow import Field, Image, node

FACTOR = {"ge": 0.0, "le": 4.0, "step": 0.01}


@node(category="image/filters", version="1.0.0", display_name="Color Adjust")
def ColorAdjust(image: Image, brightness: float = Field(1.0, **FACTOR),
                contrast: float = Field(1.0, **FACTOR),
                saturation: float = Field(1.0, **FACTOR)) -> Image:
    """Scale brightness, contrast (around the mean grey) and saturation; 1.0 keeps the image."""
    grey_weights = image.new_tensor([0.299, 0.587, 0.114])
    out = image * brightness
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean
    grey = (out * grey_weights).sum(dim=-1, keepdim=True)
    out = grey + (out - grey) * saturation
    return out.clamp(0, 1)
