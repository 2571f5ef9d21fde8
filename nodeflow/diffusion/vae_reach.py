"""How far a tiled VAE step looks around a pixel, so that tiles overlap no more than they must.

A tile is zero-padded where the whole image has neighbours, so the outputs within a step's reach
of a tile's edge differ from the whole pass's. Each tile keeps only the region it owns, which
ends in the middle of an overlap: when the image a segment starts from is kept whole, tiles that
overlap by twice the segment's reach (in whole cells) give exactly the whole pass's outputs, and
any more overlap is work thrown away (a 1024 px decode in 512 px tiles and 64 px of overlap computed 1.27x the
image's pixels in every up block). A reach is counted in pixels of the step's input, from an
output's place (its position times the stride) to the farthest input it reads; None where it is
not known (a block with attention reads the whole tile).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def conv_reach(layer) -> int | None:
    """A 2-d convolution's or average pool's reach: the larger of its padding and what the
    kernel spans past it (1 for a 3x3 convolution padded by 1, 2 for one padded by 0)."""
    if not isinstance(layer, (torch.nn.Conv2d, torch.nn.AvgPool2d)) or isinstance(layer.padding, str):
        return None
    dilation = _pair(getattr(layer, "dilation", 1))
    return max(max(pad, (kernel - 1) * d - pad)
               for kernel, pad, d in zip(_pair(layer.kernel_size), _pair(layer.padding), dilation))


def _shortcut(resnet) -> int:
    return 0 if resnet.conv_shortcut is None else conv_reach(resnet.conv_shortcut)


def resnet_reach(resnet, half: int | None = None) -> int | None:
    """A diffusers resnet without resampling: its two convolutions in a row (the shortcut reads
    the same input beside them), or (``half``) only the first, or only the second beside the
    shortcut."""
    if not isinstance(resnet, ResnetBlock2D) or resnet.upsample is not None or resnet.downsample is not None:
        return None
    first, second, shortcut = conv_reach(resnet.conv1), conv_reach(resnet.conv2), _shortcut(resnet)
    if None in (first, second, shortcut):
        return None
    if half == 1:
        return first
    if half == 2:
        return max(second, shortcut)
    return max(first + second, shortcut)


def _upsample_conv(block):
    """The convolution diffusers' Upsample2D keeps under the attribute its ``name`` chose."""
    return getattr(block, "conv", None) if block.name == "conv" else getattr(block, "Conv2d_0", None)


def upsample_reach(block) -> int | None:
    """diffusers' Upsample2D: a nearest 2x upscale then a convolution, whose reach over the
    upscaled image halves over the input."""
    if not isinstance(block, Upsample2D) or block.use_conv_transpose:
        return None
    reach = conv_reach(_upsample_conv(block)) if block.use_conv else 0
    if reach is None or not block.interpolate:
        return reach
    return math.ceil(reach / 2)


def downsample_reach(block) -> int | None:
    """diffusers' Downsample2D: a strided convolution (padded on the right and bottom only when
    its own padding is 0, which then spans two pixels past an output's place) or an average pool."""
    if not isinstance(block, Downsample2D):
        return None
    return conv_reach(block.conv)


def segment_reach(reaches: Sequence[int | None], factors: Sequence[float]) -> int | None:
    """The reach of steps run in a row, in pixels of the first one's input: each step's reach
    counted at the scale of its input (``factors``: how much each step scales the size)."""
    total, scale = 0, 1.0
    for reach, factor in zip(reaches, factors):
        if reach is None:
            return None
        total += math.ceil(reach / scale)
        scale *= factor
    return total


def overlap_cells(reach: int, pixels_per_cell: float) -> int:
    """The overlap in layout cells that keeps every owned output ``reach`` pixels from its
    tile's zero padding: owned regions end on the whole cell at or before the middle of an
    overlap, so each side gets at least half of it, rounded down."""
    return 2 * math.ceil(reach / pixels_per_cell)
