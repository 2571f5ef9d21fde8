"""Wide 3x3 convolutions on the CPU as Winograd F(2x2, 3x3): 2.25x fewer multiplications.

Both Stable Diffusion models spend most of an fp32 CPU pass in 3x3 convolutions, and oneDNN
already runs those near the machine's peak, so only less arithmetic makes them faster. Winograd's
minimal filtering computes each 2x2 block of outputs from the 4x4 block of inputs around it with
16 products per channel pair instead of 36: the input tiles and the kernel are transformed (sums
and differences, and halves for the kernel), the 16 tile positions become 16 matrix products
(tiles x in_channels by in_channels x out_channels), and the products are transformed back.
`conv_tiles` does that for any output tile size a `TileScheme` describes; winograd_f4.py brings
the 4x4 one.

The transforms cost memory passes, which the products win back only for wide layers: measured
with bench/cpu_kernels.py (see cpu_kernels.py for the rule). The image is done in bands of tile
rows, so the scratch memory is bounded whatever the image size (about 110 MB for 512 channels,
less for narrower layers). The scratch and the transformed kernel live in one workspace that
consecutive calls reuse: fresh memory of that size costs page faults on every call (the kernel
transform of a 1280-channel layer took 57 ms into fresh memory and 15 ms into reused memory).
The workspace is dropped after every node and whenever the heap is trimmed (between VAE steps;
nodeflow/engine/heap.py), so it lives only within the node that uses it. The sums are the same
up to rounding, in another order: about 2e-6 of the output's magnitude at fp32, as another
convolution algorithm gives. Only fp32 takes this path: at bf16 the transforms' sums would lose
bits that a direct bf16 convolution keeps in its fp32 accumulators.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..engine.heap import on_release

TILES_PER_BAND = 1024
"""2x2 output tiles (batch * tile rows * tiles per row) per band: large enough that each
elementwise step is split across threads and each product is a good size for BLAS; measured
best among 256-2048 on the VAE's and UNet's shapes (bench/cpu_kernels.py). The band's buffers
are then 16 * 1024 tiles * 512 channels * 4 bytes = 32 MB each at the VAE's widest."""


_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_KERNEL_TRANSFORM = torch.kron(_G, _G)
"""G w G^T for a 3x3 kernel w flattened row by row, as one (16, 9) matrix."""


BIAS_POSITION = 5
"""The tile position (row 1, column 1 of the 4x4 products) that A^T m A adds to all four outputs
with a weight of one: the bias added there costs a quarter of a pass over the output."""

Slices = Sequence[torch.Tensor]


@dataclass(frozen=True)
class TileScheme:
    """What one Winograd F(m x m, 3x3) form brings to `conv_tiles`: the output tile's side m
    (its input tiles are m + 2 wide), G (x) G as an ((m + 2)^2, 9) fp32 matrix, B^T and A^T as
    functions applied across m + 2 slices (writing m + 2 and m slices of ``into``), and the
    product position that A^T adds to every output with a weight of one (where the bias goes)."""

    outputs: int
    kernel_transform: torch.Tensor
    input_transform: Callable[[Slices, Slices], None]
    output_transform: Callable[[Slices, Slices], None]
    bias_position: int

    @property
    def inputs(self) -> int:
        return self.outputs + 2


def transformed_kernel(weight: torch.Tensor, out: torch.Tensor,
                       transform: torch.Tensor = _KERNEL_TRANSFORM) -> torch.Tensor:
    """The kernel (out, in, 3, 3) as the n matrices (in, out) that the tiles are multiplied by
    (n: ``transform``'s rows, 16 for F(2x2, 3x3)): G w G^T at each (out, in) pair, computed in
    fp32 into ``out`` (n * out * in values) as one matrix product over the kernel as it lies in
    memory (a transposed view of (n, out, in), which the product reads as is)."""
    out_channels, in_channels = weight.shape[:2]
    positions = transform.shape[0]
    flat = weight.float().reshape(out_channels * in_channels, 9)
    product = torch.mm(transform.to(weight.device), flat.t(), out=out.view(positions, out_channels * in_channels))
    return product.view(positions, out_channels, in_channels).transpose(1, 2)


class _Workspace:
    """One flat buffer that consecutive calls carve their kernel and scratch from, grown to the
    largest call's need. A call made while another thread holds it gets fresh memory instead."""

    def __init__(self):
        self._buffer: torch.Tensor | None = None
        self._lock = threading.Lock()

    @contextmanager
    def take(self, numel: int, dtype: torch.dtype) -> Iterator[torch.Tensor]:
        if not self._lock.acquire(blocking=False):
            yield torch.empty(numel, dtype=dtype)
            return
        try:
            if self._buffer is None or self._buffer.numel() < numel or self._buffer.dtype != dtype:
                self._buffer = None  # the old one goes before the larger one is made
                self._buffer = torch.empty(numel, dtype=dtype)
            yield self._buffer[:numel]
        finally:
            self._lock.release()

    def drop(self) -> None:
        """Let the buffer go, unless a call is using it (that call's node drops it later)."""
        if self._buffer is not None and self._lock.acquire(blocking=False):
            self._buffer = None
            self._lock.release()

    def held_bytes(self) -> int:
        buffer = self._buffer
        return 0 if buffer is None else buffer.numel() * buffer.element_size()


WORKSPACE = _Workspace()
on_release(WORKSPACE.drop)


def applies(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups: int) -> bool:
    """The shapes this implements: a 3x3 kernel, stride 1, padding 1, even height and width."""
    return (x.dim() == 4 and weight.dim() == 4 and tuple(weight.shape[2:]) == (3, 3) and groups == 1
            and tuple(stride) == (1, 1) and tuple(padding) == (1, 1) and tuple(dilation) == (1, 1)
            and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and x.shape[2] > 0 and x.shape[3] > 0)


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.conv2d(x, weight, bias, padding=1) for the shapes `applies` accepts, in the memory
    layout of ``x`` (the VAE runs channels-last on the CPU, the UNet in the plain layout)."""
    return conv_tiles(x, weight, bias, F2X2, TILES_PER_BAND)


def conv_tiles(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
               scheme: TileScheme, tiles_per_band: int) -> torch.Tensor:
    """F.conv2d(x, weight, bias, padding=1) for a 3x3 kernel, stride 1 and sizes divisible by
    ``scheme.outputs``, as ``scheme``'s Winograd form, in bands of about ``tiles_per_band``
    tiles, in the memory layout of ``x``."""
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    pixels = x.permute(0, 2, 3, 1)  # a plain-layout input is transposed by the band copies
    out = torch.empty((batch, height, width, out_channels), dtype=x.dtype)
    tile_rows, per_row = height // scheme.outputs, width // scheme.outputs
    band = max(1, min(tile_rows, tiles_per_band // (batch * per_row)))
    bias = None if bias is None else bias.to(x.dtype)
    kernel_size = scheme.inputs ** 2 * channels * out_channels
    sizes = _band_sizes(scheme, batch, band, width, channels, out_channels)
    with WORKSPACE.take(kernel_size + sum(sizes), x.dtype) as flat:
        kernel = transformed_kernel(weight, flat[:kernel_size], scheme.kernel_transform)
        scratch = _Band(scheme, flat[kernel_size:], sizes, batch, band, width, channels, out_channels)
        for first in range(0, tile_rows, band):
            rows = min(band, tile_rows - first)
            tiles = scratch.input_tiles(pixels, first, rows, per_row)
            products = torch.bmm(tiles, kernel, out=scratch.products(rows, per_row))
            if bias is not None:
                products[scheme.bias_position].add_(bias)
            block = out[:, scheme.outputs * first:scheme.outputs * (first + rows)]
            scratch.output_tiles(products, block, rows, per_row)
    out = out.permute(0, 3, 1, 2)
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


def _band_sizes(scheme: TileScheme, batch: int, rows: int, width: int, channels: int,
                out_channels: int) -> list[int]:
    """Elements of a band's buffers: the padded input rows, their row transforms, the n tile
    matrices, the n products and the products' row reductions (n: positions in a tile)."""
    m, n = scheme.outputs, scheme.inputs
    tiles = batch * rows * (width // m)
    return [batch * (m * rows + 2) * (width + 2) * channels, n * batch * rows * (width + 2) * channels,
            n * n * tiles * channels, n * n * tiles * out_channels, m * n * tiles * out_channels]


class _Band:
    """The buffers of one band, carved from the workspace and reused by every band (the last,
    shorter band uses the front of each buffer)."""

    def __init__(self, scheme: TileScheme, flat: torch.Tensor, sizes: list[int], batch: int, rows: int,
                 width: int, channels: int, out_channels: int):
        self.scheme, self.batch, self.width = scheme, batch, width
        self.channels, self.out_channels = channels, out_channels
        padded, self._rows, self._tiles, self._products, self._sums = torch.split(flat, sizes)
        self._padded = padded.view(batch, scheme.outputs * rows + 2, width + 2, channels)
        self._padded[:, :, 0].zero_()  # the columns either side of the image, never written
        self._padded[:, :, width + 1].zero_()

    def input_tiles(self, pixels: torch.Tensor, first: int, rows: int, per_row: int) -> torch.Tensor:
        """B^T d B for every input tile of tile rows ``first`` ... ``first + rows - 1`` of
        ``pixels`` (batch, height, width, channels), as n matrices (tiles, channels)."""
        m, n = self.scheme.outputs, self.scheme.inputs
        band = self._padded[:, :m * rows + 2]
        fill_band(band, pixels, m * first - 1)
        line = (self.batch, rows, self.width + 2, self.channels)
        sums = self._rows[:n * self.batch * rows * (self.width + 2) * self.channels].view(n, *line)
        self.scheme.input_transform([band[:, a::m][:, :rows] for a in range(n)], sums)  # row a of each tile
        tiles = self._tiles[:n * n * self.batch * rows * per_row * self.channels]
        tiles = tiles.view(n, n, self.batch, rows, per_row, self.channels)
        for a in range(n):
            self.scheme.input_transform([sums[a][:, :, b::m][:, :, :per_row] for b in range(n)], tiles[a])
        return tiles.view(n * n, -1, self.channels)

    def products(self, rows: int, per_row: int) -> torch.Tensor:
        positions = self.scheme.inputs ** 2
        return self._products[:positions * self.batch * rows * per_row * self.out_channels].view(
            positions, -1, self.out_channels)

    def output_tiles(self, products: torch.Tensor, out: torch.Tensor, rows: int, per_row: int) -> None:
        """A^T m A for every tile, written to its m x m block of ``out`` (batch, m * rows, width, out)."""
        m, n = self.scheme.outputs, self.scheme.inputs
        tiles = products.view(n, n, self.batch, rows, per_row, self.out_channels)
        sums = self._sums[:m * n * self.batch * rows * per_row * self.out_channels]
        sums = sums.view(m, n, self.batch, rows, per_row, self.out_channels)
        self.scheme.output_transform(tiles, sums)
        for p in range(m):
            self.scheme.output_transform(sums[p], [out[:, p::m, q::m] for q in range(m)])


def fill_band(band: torch.Tensor, pixels: torch.Tensor, top: int) -> None:
    """Rows ``top`` ... ``top`` + band's rows - 1 of ``pixels`` (batch, height, width, channels)
    into ``band`` (batch, rows, width + 2, channels) between its two side columns, which are left
    as they are; rows outside the image are zeroed (the buffer is reused band after band)."""
    height, width = pixels.shape[1:3]
    skip = max(0, -top)
    source = pixels[:, max(top, 0):min(top + band.shape[1], height)]
    band[:, skip:skip + source.shape[1], 1:width + 1].copy_(source)
    band[:, :skip].zero_()
    band[:, skip + source.shape[1]:].zero_()


def _transform(d: Slices, into: Slices) -> None:
    """B^T applied across four slices: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    torch.sub(d[0], d[2], out=into[0])
    torch.add(d[1], d[2], out=into[1])
    torch.sub(d[2], d[1], out=into[2])
    torch.sub(d[1], d[3], out=into[3])


def _reduce(m: Slices, into: Slices) -> None:
    """A^T applied across four slices: m0 + m1 + m2, m1 - m2 - m3."""
    torch.add(m[0], m[1], out=into[0]).add_(m[2])
    torch.sub(m[1], m[2], out=into[1]).sub_(m[3])


F2X2 = TileScheme(outputs=2, kernel_transform=_KERNEL_TRANSFORM, input_transform=_transform,
                  output_transform=_reduce, bias_position=BIAS_POSITION)
"""Winograd F(2x2, 3x3): 2x2 output tiles from 4x4 input tiles."""
