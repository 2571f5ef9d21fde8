"""Tiled VAE passes run in segments, with the whole image's activations kept between them.

The decoder's up blocks (or the encoder's down blocks) are a chain of steps (a resnet, an
upsampler, ...). Running the whole chain per tile has two costs: gathering the statistics of
every GroupNorm (vae_norms) re-runs each tile from the start once per norm (about 25 passes
for SD 1.5), and a tile's zero padding reaches further into it with every convolution, so the
overlap must cover the whole chain's reach (32 px of overlap gave 28 dB on SD 1.5).

Here the chain is cut into segments. After each segment the tiles' outputs are put together
into the whole image at that resolution (each tile gives only the region it owns) and the
next segment cuts fresh, overlapping tiles from it: the statistics passes re-run only the
current segment, and the padding only reaches as far as one segment does. A segment ends
where its output fits ``max_stored_bytes`` (high-resolution activations that would not fit are
not stored; the segment goes on to a step whose output does), which bounds the memory. Given
a folder on a disk, outputs too large for RAM are spilled there instead (spill.py), so that
every step is a segment of its own, and resnets are cut in two after their first convolution
(whose output is then kept too): no convolution runs again for a GroupNorm's statistics.
Tiles are laid out in cells of the coarsest resolution (latent cells), so they line up at
every scale, afresh for each segment: they overlap by what the segment's convolutions reach
(vae_reach), at most by the overlap asked for.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D

from .cpu_blocks import CpuResnetBlock2D
from .spill import SpilledImage, free_bytes
from .vae_norms import NormGathered, SharedGroupNorms
from .vae_reach import conv_reach, downsample_reach, overlap_cells, resnet_reach, segment_reach, upsample_reach

log = logging.getLogger(__name__)

MAX_STORED_BYTES = 5 * 1024**3 // 4  # 1.25 GiB: a 2048x2048 SD 1.5 decode took 2.59 GB extra with it
# (README; 3.59 GB before the heap was trimmed after every tile step)


@dataclass(frozen=True)
class Step:
    run: Callable[..., torch.Tensor]
    modules: tuple[torch.nn.Module, ...]  # whose GroupNorms the step reaches
    takes_skip: bool = False
    """run(h, skip): ``skip`` is the input of the step before (a resnet's shortcut), or a
    function that reads it, called only once the step needs it."""
    reach: int | None = None
    """How far around a pixel the step reads, in pixels of its input (vae_reach); None: not
    known, so tiles overlap as much as asked."""


@dataclass(frozen=True)
class TileGrid:
    """Tiles of at most ``size`` layout cells, overlapping by ``overlap`` cells where a
    segment's reach is not known and by less where less is enough."""
    size: int
    overlap: int

    def along(self, length: int, needed: int | None = None, multiple: int = 1) -> tuple[int, list[int]]:
        """(tile length, starts) along ``length`` cells, overlapping by ``needed`` if smaller."""
        overlap = self.overlap if needed is None else min(self.overlap, needed)
        return tile_layout(length, self.size, overlap, multiple)


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """(tile length, starts) covering 0..length with as few tiles of at most `tile` as overlaps
    of at least `overlap` allow, all of one length and spread evenly: no tile is wasted on a
    sliver at the end (1024 in tiles of 512 overlapping by 64: three of 384, not of 512). The
    length is rounded up to a multiple of `multiple` where `tile` allows (more overlap)."""
    if length <= tile:
        return length, [0]
    overlap = min(overlap, tile - 1)
    count = -(-(length - overlap) // (tile - overlap))
    size = min(tile, -(-(length + (count - 1) * overlap) // count))
    if size % multiple and size + multiple - size % multiple <= tile:
        size += multiple - size % multiple
    return size, [round(i * (length - size) / (count - 1)) for i in range(count)]


def _splits(resnet) -> bool:
    """A resnet whose forward, without a time embedding, is exactly the two halves below:
    diffusers' ResnetBlock2D (or cpu_blocks' lean one) at inference, without a time embedding
    (the VAE's) or resampling."""
    return (type(resnet) in (ResnetBlock2D, CpuResnetBlock2D) and not resnet.training
            and isinstance(resnet.nonlinearity, torch.nn.SiLU) and resnet.time_emb_proj is None
            and resnet.time_embedding_norm != "scale_shift" and resnet.upsample is None and resnet.downsample is None)


def _first_half(resnet, h: torch.Tensor) -> torch.Tensor:
    return resnet.conv1(F.silu(resnet.norm1(h), inplace=True))  # the norm's output is new


def _second_half(resnet, h: torch.Tensor, skip) -> torch.Tensor:
    h = resnet.conv2(F.silu(resnet.norm2(h), inplace=True))
    skip = skip() if callable(skip) else skip  # not read in a pass that stops at norm2
    shortcut = skip if resnet.conv_shortcut is None else resnet.conv_shortcut(skip)
    h = h.add_(shortcut) if h.shape == shortcut.shape else shortcut + h
    return h if resnet.output_scale_factor == 1 else h.div_(resnet.output_scale_factor)


def _resnet_steps(resnet, split: bool) -> list[Step]:
    """A resnet as one step, or (``split``) as two, so that the image between them (its first
    convolution's output) can be kept whole and its second GroupNorm's statistics need no
    re-run of the first convolution."""
    if not (split and _splits(resnet)):
        return [Step(lambda h: resnet(h, None), (resnet,), reach=resnet_reach(resnet))]
    return [Step(lambda h: _first_half(resnet, h), (resnet.norm1,), reach=resnet_reach(resnet, 1)),
            Step(lambda h, skip: _second_half(resnet, h, skip), (resnet.norm2,), takes_skip=True,
                 reach=resnet_reach(resnet, 2))]


def decoder_steps(decoder, split_resnets: bool = False) -> list[Step]:
    """The decoder after its mid block: resnets and upsamplers one by one, then the output."""
    steps = []
    for block in decoder.up_blocks:
        if getattr(block, "attentions", None) or not hasattr(block, "resnets"):
            steps.append(Step(lambda h, b=block: b(h, None), (block,)))
            continue
        steps += [step for r in block.resnets for step in _resnet_steps(r, split_resnets)]
        steps += [Step(lambda h, u=u: u(h), (u,), reach=upsample_reach(u)) for u in (block.upsamplers or ())]
    steps.append(Step(lambda h: decoder.conv_out(decoder.conv_act(decoder.conv_norm_out(h))),
                      (decoder.conv_norm_out,), reach=conv_reach(decoder.conv_out)))
    return steps


def encoder_steps(encoder, split_resnets: bool = False) -> list[Step]:
    """The encoder before its mid block: the input convolution, resnets and downsamplers."""
    steps = [Step(encoder.conv_in, (encoder.conv_in,), reach=conv_reach(encoder.conv_in))]
    for block in encoder.down_blocks:
        if getattr(block, "attentions", None) or not hasattr(block, "resnets"):
            steps.append(Step(block, (block,)))
            continue
        steps += [step for r in block.resnets for step in _resnet_steps(r, split_resnets)]
        steps += [Step(d, (d,), reach=downsample_reach(d)) for d in (block.downsamplers or ())]
    return steps


def _call(step: Step, h: torch.Tensor, skip) -> torch.Tensor:
    return step.run(h, skip) if step.takes_skip else step.run(h)


def _run_steps(steps: Sequence[Step], h: torch.Tensor, skip=None) -> torch.Tensor:
    """``steps`` in turn; ``skip`` is the input of the step before the first one. A step's input
    is kept only while the step after it takes it."""
    for index, step in enumerate(steps):
        keep = index + 1 < len(steps) and steps[index + 1].takes_skip
        h, skip = _call(step, h, skip), (h if keep else None)
    return h


def _probe(steps: Sequence[Step], channels: int, dtype, device) -> list[tuple[int, float]]:
    """(channels, how much the step scales the size) of each step, from an 8x8 input."""
    shapes = []
    h, previous = torch.zeros(1, channels, 8, 8, dtype=dtype, device=device), None
    for step in steps:
        before = h.shape[-1]
        h, previous = _call(step, h, previous), h
        shapes.append((h.shape[1], h.shape[-1] / before))
    return shapes


def _segments(steps: Sequence[Step], shapes, source: torch.Tensor, max_bytes: int,
              spill_bytes: int = 0) -> list[list[Step]]:
    """Steps grouped so that every stored output (all but inside a segment) fits: in RAM
    (``max_bytes``) or spilled to disk (``spill_bytes``). A step that takes the input of the
    step before it starts a segment only where that input is stored too."""
    batch, _, height, width = source.shape
    segments, current, scale = [], [], 1.0
    for i, (step, (channels, factor)) in enumerate(zip(steps, shapes)):
        current.append(step)
        scale *= factor
        stored = batch * channels * height * scale * width * scale * source.element_size()
        skip_stored = i + 1 == len(steps) or not steps[i + 1].takes_skip or len(current) == 1
        if stored <= max(max_bytes, spill_bytes) and skip_stored or i == len(steps) - 1:
            segments.append(current)
            current = []
    return segments


def _spill_allowance(folder: Path | None) -> int:
    """The largest image that may be spilled to ``folder``: up to three are on disk at once (a
    resnet's input, the image read and the one written), and a quarter of the free space is
    left to others."""
    return 0 if folder is None else free_bytes(folder) // 4


def _new_image(shape: tuple[int, ...], like: torch.Tensor, spill: Path | None, max_bytes: int):
    """(tensor, its spill or None) for a segment's output, in the dtype and layout of the tiles
    (``like``: channels-last on the CPU, so that neither putting tiles in nor cutting them out
    transposes them): in RAM where it fits ``max_bytes`` or there is no spill folder or the
    file cannot be made (the disk filled since the plan)."""
    channels_last = like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last) \
        and not like.is_contiguous()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    nbytes = torch.Size(shape).numel() * like.element_size()
    if spill is None or nbytes <= max_bytes:
        return torch.empty(shape, dtype=like.dtype, memory_format=layout), None
    try:
        image = SpilledImage(shape, like.dtype, spill, channels_last)
    except OSError as exc:
        log.warning("tiled VAE: could not spill a %.2f GB image to %s (%s); keeping it in RAM",
                    nbytes / 1024**3, spill, exc)
        return torch.empty(shape, dtype=like.dtype, memory_format=layout), None
    return image.tensor, image


def _cuts(starts: list[int], size: int, length: int) -> list[int]:
    """Where each tile's own region begins and ends, in cells: the middle of each overlap, or
    the whole cell before it. Whole cells are whole pixels at every resolution, so the regions
    that place a tile's output and gather its statistics agree; a half cell at the latent's
    resolution was rounded half to even, one way from one tile and the other way from the
    next, and the statistics missed or counted twice a row (61 dB instead of 116)."""
    return [0] + [(b + a + size) // 2 for a, b in zip(starts, starts[1:])] + [length]


WINOGRAD_PIXELS = 4
"""Tiles are made multiples of this many pixels where they can be: the CPU's Winograd
convolutions (cpu_kernels.py) take sides divisible by 4 (F(4x4)) or 2 (F(2x2)) and leave
others to PyTorch's slower direct one."""


def _layouts(segments: Sequence[Sequence[Step]], shapes, cells: tuple[int, int], pixels_per_cell: float,
             grid: TileGrid) -> list[tuple[tuple[int, list[int]], tuple[int, list[int]]]]:
    """Each segment's tiles down and across: overlapping by what its steps reach at the
    resolution of its input, at most by the grid's overlap."""
    layouts, first = [], 0
    for segment in segments:
        factors = [factor for _, factor in shapes[first:first + len(segment)]]
        reach = segment_reach([step.reach for step in segment], factors)
        needed = None if reach is None else overlap_cells(reach, pixels_per_cell)
        multiple = WINOGRAD_PIXELS // math.gcd(WINOGRAD_PIXELS, round(pixels_per_cell))
        layouts.append((grid.along(cells[0], needed, multiple), grid.along(cells[1], needed, multiple)))
        for factor in factors:
            pixels_per_cell *= factor
        first += len(segment)
    return layouts


def run_tiled_segments(source: torch.Tensor, steps: Sequence[Step], cells: tuple[int, int], grid: TileGrid,
                       on_tile: Callable[[int, int], None] | None = None,
                       max_stored_bytes: int | None = None,
                       spill: Path | None = None) -> torch.Tensor:
    """``steps`` applied to ``source`` [B, C, H, W] in tiles, GroupNorms with the whole image's
    statistics. ``cells`` is the (height, width) in layout cells, whose multiples the tiles of
    ``grid`` span. Intermediate images are kept on the CPU, those larger than
    ``max_stored_bytes`` (default MAX_STORED_BYTES) in files in ``spill`` (a folder that
    spill.spill_folder accepted)."""
    max_stored_bytes = MAX_STORED_BYTES if max_stored_bytes is None else max_stored_bytes
    if any(step.takes_skip for step in steps):
        max_stored_bytes //= 2  # three images may be kept at once: a resnet's input too
    device = source.device
    shapes = _probe(steps, source.shape[1], source.dtype, device)
    segments = _segments(steps, shapes, source, max_stored_bytes, _spill_allowance(spill))
    layouts = _layouts(segments, shapes, cells, source.shape[-2] / cells[0], grid)
    norm_sets = [SharedGroupNorms(*(m for step in segment for m in step.modules)) for segment in segments]
    total = sum(len(ys) * len(xs) * (len(norms.norms) + 1)
                for ((_, ys), (_, xs)), norms in zip(layouts, norm_sets))
    done = 0
    current, current_spill = source.cpu(), None
    previous = previous_spill = None  # the image before current, where a segment takes it
    for index, (segment, norms, ((th, ys), (tw, xs))) in enumerate(zip(segments, norm_sets, layouts)):
        scale = current.shape[-2] / cells[0]
        cut_y, cut_x = _cuts(ys, th, cells[0]), _cuts(xs, tw, cells[1])
        tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
        if not segment[0].takes_skip:
            previous = previous_spill = None

        def tile(image: torch.Tensor, image_spill, i: int, j: int) -> torch.Tensor:
            y, x = round(ys[i] * scale), round(xs[j] * scale)
            h = image[..., y:y + round(th * scale), x:x + round(tw * scale)]
            if image_spill is not None:
                h = h.to(device, copy=True)
                image_spill.drop_pages()
            return h.to(device)

        def run(i: int, j: int) -> torch.Tensor:
            skip = (lambda: tile(previous, previous_spill, i, j)) if segment[0].takes_skip else None
            return _run_steps(segment, tile(current, current_spill, i, j), skip)

        with norms.installed():
            norms.gathering = True
            while not norms.complete:
                for i, j in tiles:
                    norms.owned = ((cut_y[i] - ys[i]) / th, (cut_y[i + 1] - ys[i]) / th,
                                   (cut_x[j] - xs[j]) / tw, (cut_x[j + 1] - xs[j]) / tw)
                    try:
                        run(i, j)
                    except NormGathered:
                        pass
                    done += 1
                    if on_tile is not None:
                        on_tile(done, total)
                norms.pool()
            norms.gathering = False
            out = out_spill = None
            last = index == len(segments) - 1  # the result: always in RAM
            for i, j in tiles:
                part = run(i, j)
                out_scale = part.shape[-2] / th
                if out is None:
                    out, out_spill = _new_image(
                        part.shape[:2] + (round(cells[0] * out_scale), round(cells[1] * out_scale)),
                        part, None if last else spill, max_stored_bytes)
                top, bottom = round(cut_y[i] * out_scale), round(cut_y[i + 1] * out_scale)
                left, right = round(cut_x[j] * out_scale), round(cut_x[j + 1] * out_scale)
                oy, ox = round(ys[i] * out_scale), round(xs[j] * out_scale)
                out[..., top:bottom, left:right] = part[..., top - oy:bottom - oy, left - ox:right - ox].cpu()
                del part
                if out_spill is not None:
                    out_spill.drop_pages()
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
        previous, previous_spill, current, current_spill = current, current_spill, out, out_spill
    return current
