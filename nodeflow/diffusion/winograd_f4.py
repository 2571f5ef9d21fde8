"""Wide 3x3 convolutions on large maps as Winograd F(4x4, 3x3): 4x fewer multiplications.

winograd.py computes each 2x2 block of outputs from a 4x4 block of inputs (16 products for 4
outputs per channel pair); this computes each 4x4 block from the 6x6 block around it (36
products for 16 outputs). Per output it needs 2.25 products instead of 4 (and 9 for a direct
convolution), and its tile and product buffers hold 2.25 values per output
pixel and channel instead of 4, so the memory passes shrink too. Its transforms interpolate at
0, +-1, +-2 and infinity, so the sums lose more to rounding than F(2x2, 3x3)'s: about 7e-6 of the
output's magnitude at fp32 against 4e-7 there and 2-4e-6 for oneDNN's own convolution (measured
against float64; tested). The kernel is transformed on every call, into 36/9 = 4x its size,
which only large maps win back: cpu_kernels.py has the rule. This module brings the transforms;
winograd.py's `conv_tiles` runs them, in its bands and workspace, so the scratch memory is
bounded whatever the image size.
"""
from __future__ import annotations

import torch

from . import winograd
from .winograd import Slices

TILES_PER_BAND = 512
"""4x4 output tiles (batch * tile rows * tiles per row) per band: measured best of 128, 256 and
512 on the VAE's and UNet's shapes (bench/cpu_kernels.py); about 120 MB of scratch at 512 channels."""

_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
_KERNEL_TRANSFORM = torch.kron(_G, _G).float()
"""G w G^T for a 3x3 kernel w flattened row by row, as one (36, 9) matrix (computed in float64,
then rounded once)."""

BIAS_POSITION = 7
"""The tile position (row 1, column 1 of the 6x6 products) that A^T m A adds to all sixteen
outputs with a weight of one: A^T's column 1 is all ones."""


def applies(x: torch.Tensor) -> bool:
    """Height and width divisible by 4 (4x4 output tiles); the rest is winograd.applies'."""
    return x.dim() == 4 and x.shape[2] % 4 == 0 and x.shape[3] % 4 == 0


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.conv2d(x, weight, bias, padding=1) for 3x3 kernels, stride 1, sizes divisible by 4, in
    the memory layout of ``x``."""
    return winograd.conv_tiles(x, weight, bias, F4X4, TILES_PER_BAND)


def _input_transform(d: Slices, into: Slices) -> None:
    """B^T across six slices d0..d5 (rows of Lavin and Gray's matrix for points 0, +-1, +-2):
    4d0 - 5d2 + d4, d3 + d4 - 4(d1 + d2), d4 - d3 + 4(d1 - d2), d4 - d2 + 2(d3 - d1),
    d4 - d2 - 2(d3 - d1), 4d1 - 5d3 + d5."""
    d0, d1, d2, d3, d4, d5 = d
    torch.add(d4, d0, alpha=4, out=into[0]).add_(d2, alpha=-5)
    torch.add(d4, d3, out=into[1]).add_(d1, alpha=-4).add_(d2, alpha=-4)
    torch.sub(d4, d3, out=into[2]).add_(d1, alpha=4).add_(d2, alpha=-4)
    torch.sub(d4, d2, out=into[3]).add_(d3, alpha=2).add_(d1, alpha=-2)
    torch.sub(d4, d2, out=into[4]).add_(d3, alpha=-2).add_(d1, alpha=2)
    torch.add(d5, d1, alpha=4, out=into[5]).add_(d3, alpha=-5)


def _output_transform(m: Slices, into: Slices) -> None:
    """A^T across six slices m0..m5: m0 + m1 + m2 + m3 + m4, m1 - m2 + 2(m3 - m4),
    m1 + m2 + 4(m3 + m4), m1 - m2 + 8(m3 - m4) + m5."""
    m0, m1, m2, m3, m4, m5 = m
    torch.add(m0, m1, out=into[0]).add_(m2).add_(m3).add_(m4)
    torch.sub(m1, m2, out=into[1]).add_(m3, alpha=2).add_(m4, alpha=-2)
    torch.add(m1, m2, out=into[2]).add_(m3, alpha=4).add_(m4, alpha=4)
    torch.sub(m1, m2, out=into[3]).add_(m3, alpha=8).add_(m4, alpha=-8).add_(m5)


F4X4 = winograd.TileScheme(outputs=4, kernel_transform=_KERNEL_TRANSFORM, input_transform=_input_transform,
                           output_transform=_output_transform, bias_position=BIAS_POSITION)
"""Winograd F(4x4, 3x3): 4x4 output tiles from 6x6 input tiles."""
