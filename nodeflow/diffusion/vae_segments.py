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
not stored; the segment goes on to a step whose output does), which bounds the memory.
Tiles are laid out in cells of the coarsest resolution (latent cells), so they line up at
every scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .vae_norms import NormGathered, SharedGroupNorms

MAX_STORED_BYTES = 5 * 1024**3 // 4  # 1.25 GiB: a 2048x2048 SD 1.5 decode took 2.59 GB extra with it
# (README; 3.59 GB before the heap was trimmed after every tile step)


@dataclass(frozen=True)
class Step:
    run: Callable[[torch.Tensor], torch.Tensor]
    modules: tuple[torch.nn.Module, ...]  # whose GroupNorms the step reaches


def decoder_steps(decoder) -> list[Step]:
    """The decoder after its mid block: resnets and upsamplers one by one, then the output."""
    steps = []
    for block in decoder.up_blocks:
        if getattr(block, "attentions", None) or not hasattr(block, "resnets"):
            steps.append(Step(lambda h, b=block: b(h, None), (block,)))
            continue
        steps += [Step(lambda h, r=r: r(h, None), (r,)) for r in block.resnets]
        steps += [Step(lambda h, u=u: u(h), (u,)) for u in (block.upsamplers or ())]
    steps.append(Step(lambda h: decoder.conv_out(decoder.conv_act(decoder.conv_norm_out(h))),
                      (decoder.conv_norm_out,)))
    return steps


def encoder_steps(encoder) -> list[Step]:
    """The encoder before its mid block: the input convolution, resnets and downsamplers."""
    steps = [Step(encoder.conv_in, (encoder.conv_in,))]
    for block in encoder.down_blocks:
        if getattr(block, "attentions", None) or not hasattr(block, "resnets"):
            steps.append(Step(block, (block,)))
            continue
        steps += [Step(lambda h, r=r: r(h, None), (r,)) for r in block.resnets]
        steps += [Step(d, (d,)) for d in (block.downsamplers or ())]
    return steps


def _probe(steps: Sequence[Step], channels: int, dtype, device) -> list[tuple[int, float]]:
    """(channels, how much the step scales the size) of each step, from an 8x8 input."""
    shapes = []
    h = torch.zeros(1, channels, 8, 8, dtype=dtype, device=device)
    for step in steps:
        before = h.shape[-1]
        h = step.run(h)
        shapes.append((h.shape[1], h.shape[-1] / before))
    return shapes


def _segments(steps: Sequence[Step], shapes, source: torch.Tensor, max_bytes: int) -> list[list[Step]]:
    """Steps grouped so that every stored output (all but inside a segment) fits."""
    batch, _, height, width = source.shape
    segments, current, scale = [], [], 1.0
    for i, (step, (channels, factor)) in enumerate(zip(steps, shapes)):
        current.append(step)
        scale *= factor
        stored = batch * channels * height * scale * width * scale * source.element_size()
        if stored <= max_bytes or i == len(steps) - 1:
            segments.append(current)
            current = []
    return segments


def _cuts(starts: list[int], size: int, length: int) -> list[float]:
    """Where each tile's own region begins and ends (the middle of each overlap), in cells."""
    return [0.0] + [(b + a + size) / 2 for a, b in zip(starts, starts[1:])] + [float(length)]


def run_tiled_segments(source: torch.Tensor, steps: Sequence[Step], cells: tuple[int, int],
                       layout: Callable[[int], tuple[int, list[int]]],
                       on_tile: Callable[[int, int], None] | None = None,
                       max_stored_bytes: int = MAX_STORED_BYTES) -> torch.Tensor:
    """``steps`` applied to ``source`` [B, C, H, W] in tiles, GroupNorms with the whole image's
    statistics. ``cells`` is the (height, width) in layout cells; ``layout(length)`` gives
    (tile length, starts) in cells. Intermediate images are kept on the CPU."""
    device = source.device
    shapes = _probe(steps, source.shape[1], source.dtype, device)
    segments = _segments(steps, shapes, source, max_stored_bytes)
    (th, ys), (tw, xs) = layout(cells[0]), layout(cells[1])
    cut_y, cut_x = _cuts(ys, th, cells[0]), _cuts(xs, tw, cells[1])
    tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    norm_sets = [SharedGroupNorms(*(m for step in segment for m in step.modules)) for segment in segments]
    total = sum(len(tiles) * (len(norms.norms) + 1) for norms in norm_sets)
    done = 0
    current = source.cpu()
    for segment, norms in zip(segments, norm_sets):
        scale = current.shape[-2] / cells[0]

        def run(i: int, j: int) -> torch.Tensor:
            y, x = round(ys[i] * scale), round(xs[j] * scale)
            h = current[..., y:y + round(th * scale), x:x + round(tw * scale)].to(device)
            for step in segment:
                h = step.run(h)
            return h

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
            out = None
            for i, j in tiles:
                part = run(i, j)
                out_scale = part.shape[-2] / th
                if out is None:
                    out = torch.empty(part.shape[:2] + (round(cells[0] * out_scale), round(cells[1] * out_scale)),
                                      dtype=part.dtype)
                top, bottom = round(cut_y[i] * out_scale), round(cut_y[i + 1] * out_scale)
                left, right = round(cut_x[j] * out_scale), round(cut_x[j + 1] * out_scale)
                oy, ox = round(ys[i] * out_scale), round(xs[j] * out_scale)
                out[..., top:bottom, left:right] = part[..., top - oy:bottom - oy, left - ox:right - ox].cpu()
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
        current = out
    return current
