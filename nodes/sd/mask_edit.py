"""Mask nodes with ComfyUI's names, inputs and arithmetic (comfy_extras/nodes_mask.py): grow or
shrink, invert, feather the edges, crop."""
from __future__ import annotations

from nodeflow import Field, Mask, node

MAX = 16384


def _batch(mask):
    return mask.reshape((-1, *mask.shape[-2:]))


@node(category="mask", display_name="Grow Mask")
def GrowMask(mask: Mask, expand: int = Field(0, ge=-MAX, le=MAX),
             tapered_corners: bool = True) -> Mask:
    """Grow (``expand`` > 0) or shrink (< 0) the mask by that many pixels: a grey-level
    dilation or erosion with a 3x3 cross (``tapered_corners``) or square, repeated."""
    import numpy as np
    import scipy.ndimage
    import torch

    corner = 0 if tapered_corners else 1
    footprint = np.array([[corner, 1, corner], [1, 1, 1], [corner, 1, corner]])
    grow = scipy.ndimage.grey_erosion if expand < 0 else scipy.ndimage.grey_dilation
    out = []
    for item in _batch(mask):
        values = item.float().cpu().numpy()
        for _ in range(abs(expand)):
            values = grow(values, footprint=footprint)
        out.append(torch.from_numpy(values))
    return torch.stack(out)


@node(category="mask", display_name="Invert Mask")
def InvertMask(mask: Mask) -> Mask:
    """1 - each value."""
    return 1.0 - mask


@node(category="mask", display_name="Feather Mask")
def FeatherMask(mask: Mask, left: int = Field(0, ge=0, le=MAX), top: int = Field(0, ge=0, le=MAX),
                right: int = Field(0, ge=0, le=MAX),
                bottom: int = Field(0, ge=0, le=MAX)) -> Mask:
    """Fade the mask to zero towards its edges: over ``left`` pixels from the left edge the
    mask is multiplied by 1/left, 2/left, ... 1, and so on for each side.

    Deliberately not ComfyUI's numbers for ``right`` and ``bottom``: its loop indexes the
    column ``-x`` for x = 0, 1, ..., which for x = 0 is the first column, so a right feather
    also dims the LEFT edge column by 1/right and the right edge column ends at 2/right, not
    1/right (the same for bottom and the top row). ComfyUI keeps that for compatibility; here
    the right and bottom edges fade exactly like the left and top ones and a feather never
    touches the opposite edge. Left and top match ComfyUI's."""
    import torch

    out = _batch(mask).clone().float()
    h, w = out.shape[-2:]
    left, right, top, bottom = min(left, w), min(right, w), min(top, h), min(bottom, h)
    ones_w, ones_h = torch.ones(w), torch.ones(h)
    col, row = ones_w.clone(), ones_h.clone()
    if left:
        col[:left] *= torch.arange(1, left + 1) / left
    if right:
        col[w - right:] *= torch.arange(right, 0, -1) / right
    if top:
        row[:top] *= torch.arange(1, top + 1) / top
    if bottom:
        row[h - bottom:] *= torch.arange(bottom, 0, -1) / bottom
    return out * row[:, None] * col[None, :]


@node(category="mask", display_name="Crop Mask")
def CropMask(mask: Mask, x: int = Field(0, ge=0, le=MAX), y: int = Field(0, ge=0, le=MAX),
             width: int = Field(512, ge=1, le=MAX), height: int = Field(512, ge=1, le=MAX)) -> Mask:
    """The width x height window at (x, y), cut at the mask's edges."""
    return _batch(mask)[:, y:y + height, x:x + width].clone()
