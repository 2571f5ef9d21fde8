"""Mask nodes with ComfyUI's names and inputs: masks from an image channel, solid masks, and
combining masks (enough to build an inpainting mask without a file)."""
from __future__ import annotations

from nodeflow import Field, Image, Mask, NodeError, node

CHANNELS = ["red", "green", "blue", "alpha"]
OPERATIONS = ["multiply", "add", "subtract", "and", "or", "xor"]
SIZE = {"ge": 1, "le": 8192}


@node(category="mask", display_name="Image To Mask")
def ImageToMask(image: Image, channel: str = Field("red", choices=CHANNELS)) -> Mask:
    """One channel of an image as a mask (1 = change this pixel)."""
    index = CHANNELS.index(channel)
    if index >= image.shape[-1]:
        raise NodeError(f"the image has no {channel} channel", input="channel")
    return image[..., index].clone()


@node(category="mask", display_name="Solid Mask")
def SolidMask(value: float = Field(1.0, ge=0.0, le=1.0, step=0.01),
              width: int = Field(512, **SIZE), height: int = Field(512, **SIZE)) -> Mask:
    """A mask of one value everywhere."""
    import torch

    return torch.full((1, height, width), float(value), dtype=torch.float32)


@node(category="mask", display_name="Mask Composite")
def MaskComposite(destination: Mask, source: Mask, x: int = Field(0, ge=0, le=8192),
                  y: int = Field(0, ge=0, le=8192),
                  operation: str = Field("multiply", choices=OPERATIONS)) -> Mask:
    """Combine ``source`` into ``destination`` with its top-left corner at (x, y); what falls
    outside the destination is cut off. Results stay within 0..1."""
    import torch

    out = destination.clone()
    height, width = out.shape[-2:]
    h, w = min(source.shape[-2], height - y), min(source.shape[-1], width - x)
    if h <= 0 or w <= 0:
        return out
    region = out[..., y:y + h, x:x + w]
    part = source[..., :h, :w].to(out.dtype)
    if operation == "multiply":
        region = region * part
    elif operation == "add":
        region = region + part
    elif operation == "subtract":
        region = region - part
    else:
        a, b = region.round().bool(), part.round().bool()
        logic = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}
        region = logic[operation](a, b).to(out.dtype)
    out[..., y:y + h, x:x + w] = region.clamp(0, 1)
    return out
