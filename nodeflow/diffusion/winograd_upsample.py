"""Nearest 2x upsampling and its 3x3 convolution (every up block of the VAE decoder and of the
UNet) as Winograd F(2x2, 3x3) over the upsampled image, with 9 products per tile instead of 16.

A 2x2 block of outputs at an even position sees the 4x4 upsampled pixels around it, which are
the source rows i-1, i, i, i+1 (columns likewise). The Winograd input transform B^T d B then has
one of its four row sums, d2 - d1, equal to zero, and likewise a column: 7 of the 16 tile
positions are zero, so their products are skipped. The other row sums are the difference with
the row above (d0 - d2 = S[i-1] - S[i]), twice the row itself (d1 + d2 = 2 S[i]; the 2 goes into
the kernel, exactly) and the difference with the row below (d1 - d3 = S[i] - S[i+1]), which is the
first difference one row on. So the tiles are never gathered: each of the 9 positions is a
shifted view of the source, of its differences along rows, or of those along columns, laid out
with two spare columns per row so that every view is one matrix (pixels, channels); the spare
columns' outputs are discarded. Each source pixel gives its 2x2 block of outputs.

That is 9 multiply-adds per source pixel and channel pair where the transposed convolution of
cpu_blocks.py does 16 (and the plain upsampling then convolution 36). The sums are the same up
to rounding, in another order, as for winograd.py: 1-2e-7 of the output's largest value at fp32
against the two steps in float64 on random layers, about what the transposed convolution gives.
Only fp32 takes it, for the reason winograd.py gives. The band and workspace scheme is
winograd.py's: bands of source rows, scratch reused from call to call and dropped after nodes.
"""
from __future__ import annotations

import torch

from . import winograd

PIXELS_PER_BAND = 2048
"""Source pixels (with the two spare columns of each row) per band: each of the 9 products is
then (2048, in) x (in, out), a good size for BLAS, and the scratch at 512 channels is about
60 MB."""

_ROWS, _COLUMNS = (0, 1, 3), (0, 1, 3)
"""The tile positions whose input sums are not zero (index 2 is d2 - d1 = 0)."""


def upsample_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1) for a
    3x3 ``weight``, in the memory layout of ``x``."""
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    pitch = width + 2
    rows = max(1, min(height, PIXELS_PER_BAND // pitch))
    pixels = x.permute(0, 2, 3, 1)
    out = torch.empty((batch, 2 * height, 2 * width, out_channels), dtype=x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    kernel_size = 16 * channels * out_channels
    scratch = _Scratch.sizes(rows, pitch, channels, out_channels)
    with winograd.WORKSPACE.take(kernel_size + sum(scratch), x.dtype) as flat:
        kernel = _doubled(winograd.transformed_kernel(weight, out=flat[:kernel_size]))
        band = _Scratch(flat[kernel_size:], scratch, rows, pitch, channels, out_channels)
        for image in range(batch):
            for first in range(0, height, rows):
                count = min(rows, height - first)
                products = band.products(pixels[image], first, count, kernel)
                if bias is not None:
                    products[1][1].add_(bias)  # position (1, 1) adds to all four outputs once
                band.outputs(products, out[image, 2 * first:2 * (first + count)], count, width)
    out = out.permute(0, 3, 1, 2)
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


def _doubled(kernel: torch.Tensor) -> torch.Tensor:
    """The transformed kernel with the factor 2 of the row and column sums d1 + d2 folded in:
    position (a, b) times 2 for a == 1 and again for b == 1 (exact: a power of two)."""
    grid = kernel.view(4, 4, *kernel.shape[1:])
    grid[1].mul_(2.0)
    grid[:, 1].mul_(2.0)
    return grid


class _Scratch:
    """One band's buffers, carved from the workspace: the source rows first - 1 ... first + rows
    with zero columns either side (``padded``), their differences along rows (``down``), the
    column differences of both (``across_down``, ``across``), and the 9 products."""

    @staticmethod
    def sizes(rows: int, pitch: int, channels: int, out_channels: int) -> list[int]:
        spare = pitch + 1  # the views start up to one row and one pixel on
        return [(rows + 2) * pitch * channels + spare * channels, (rows + 1) * pitch * channels + spare * channels,
                (rows + 1) * pitch * channels + spare * channels, rows * pitch * channels + spare * channels,
                9 * rows * pitch * out_channels]

    def __init__(self, flat: torch.Tensor, sizes: list[int], rows: int, pitch: int, channels: int,
                 out_channels: int):
        self.pitch, self.channels, self.out_channels = pitch, channels, out_channels
        padded, down, across_down, across, self._products = torch.split(flat, sizes)
        self._flat = {"padded": padded, "down": down, "across_down": across_down, "across": across}
        for buffer in self._flat.values():
            buffer.zero_()  # the zero columns, and spare ends that only discarded outputs read

    def _grid(self, name: str, rows: int) -> torch.Tensor:
        return self._flat[name][:rows * self.pitch * self.channels].view(rows, self.pitch, self.channels)

    def _matrix(self, name: str, start: int, count: int) -> torch.Tensor:
        """``count`` pixels of a buffer from pixel ``start`` on, as (pixels, channels)."""
        flat = self._flat[name]
        return flat[start * self.channels:(start + count) * self.channels].view(count, self.channels)

    def products(self, image: torch.Tensor, first: int, rows: int, kernel: torch.Tensor) -> list[list[torch.Tensor]]:
        """The 9 products of the band's source rows ``first`` ... ``first + rows - 1`` of ``image``
        (height, width, channels), as [row position][column position] -> (rows * pitch, out)."""
        padded = self._grid("padded", rows + 2)
        winograd.fill_band(padded.unsqueeze(0), image.unsqueeze(0), first - 1)
        down = self._grid("down", rows + 1)
        torch.sub(padded[:-1], padded[1:], out=down)  # down[k] = S[first + k - 1] - S[first + k]
        torch.sub(down[:, :-1], down[:, 1:], out=self._grid("across_down", rows + 1)[:, :-1])
        torch.sub(padded[1:-1, :-1], padded[1:-1, 1:], out=self._grid("across", rows)[:, :-1])
        count = rows * self.pitch
        p = self.pitch
        views = {  # (row position, column position) -> (buffer, first pixel)
            (0, 0): ("across_down", 0), (0, 1): ("down", 1), (0, 3): ("across_down", 1),
            (1, 0): ("across", 0), (1, 1): ("padded", p + 1), (1, 3): ("across", 1),
            (3, 0): ("across_down", p), (3, 1): ("down", p + 1), (3, 3): ("across_down", p + 1),
        }
        out = self._products[:9 * count * self.out_channels].view(9, count, self.out_channels)
        grid = [[None] * 4 for _ in range(4)]
        for n, (a, b) in enumerate((a, b) for a in _ROWS for b in _COLUMNS):
            name, start = views[a, b]
            grid[a][b] = torch.mm(self._matrix(name, start, count), kernel[a, b], out=out[n])
        return grid

    def outputs(self, m: list[list[torch.Tensor]], out: torch.Tensor, rows: int, width: int) -> None:
        """A^T m A with the zero positions left out, each source pixel's 2x2 block written to
        ``out`` (2 * rows, 2 * width, out): rows first (into the products' own buffers), then
        columns straight into the output."""
        for b in _COLUMNS:
            torch.sub(m[1][b], m[3][b], out=m[3][b])  # output row 1: m1 - m3
            m[0][b].add_(m[1][b])  # output row 0: m0 + m1
        for p, row in ((0, m[0]), (1, m[3])):
            grid = [t.view(rows, self.pitch, self.out_channels)[:, :width] for t in (row[0], row[1], row[3])]
            torch.add(grid[0], grid[1], out=out[p::2, 0::2])  # output column 0: m0 + m1
            torch.sub(grid[1], grid[2], out=out[p::2, 1::2])  # output column 1: m1 - m3
