"""The VAE steps a user can see: encode (mean or sample), decode, tiled versions, fidelity.

Works on a diffusers AutoencoderKL. Images are IMAGE tensors [B, H, W, 3] in 0..1; latents are
raw VAE latents [B, C, H/f, W/f] (see latent.py).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from .vae_norms import NormGathered, SharedGroupNorms


def downscale_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _to_vae(images: torch.Tensor, vae) -> torch.Tensor:
    param = next(vae.parameters())
    return (images.movedim(-1, 1) * 2.0 - 1.0).to(param.device, param.dtype)


def _from_vae(decoded: torch.Tensor) -> torch.Tensor:
    return ((decoded.float() + 1.0) / 2.0).clamp(0, 1).movedim(1, -1).cpu()


@torch.no_grad()
def encode(vae, images: torch.Tensor, mode: str = "mean", seed: int = 0) -> torch.Tensor:
    """The posterior q(z|x) of each image: its mean, or a sample drawn with ``seed``."""
    dist = vae.encode(_to_vae(images, vae)).latent_dist
    if mode == "mean":
        return dist.mean.float().cpu()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
    return (dist.mean.float().cpu() + dist.std.float().cpu() * noise)


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    param = next(vae.parameters())
    return _from_vae(vae.decode(latents.to(param.device, param.dtype)).sample)


def tile_layout(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """(tile length, starts) covering 0..length with as few tiles of at most `tile` as overlaps
    of at least `overlap` allow, all of one length and spread evenly: no tile is wasted on a
    sliver at the end (1024 in tiles of 512 overlapping by 64: three of 384, not of 512)."""
    if length <= tile:
        return length, [0]
    overlap = min(overlap, tile - 1)
    count = -(-(length - overlap) // (tile - overlap))
    size = min(tile, -(-(length + (count - 1) * overlap) // count))
    return size, [round(i * (length - size) / (count - 1)) for i in range(count)]


def _ramp(length: int, overlap: int, device) -> torch.Tensor:
    """1-D blending weights: near 0 in the outer quarter of the overlap at both ends (where the
    tile's zero padding shows most), rising to 1 across the middle of it, never 0."""
    index = torch.arange(length, device=device, dtype=torch.float32)
    edge = torch.minimum(index + 1, length - index)
    if overlap <= 0:
        return torch.ones(length, device=device)
    margin = overlap // 4
    return ((edge - margin) / (overlap - 2 * margin + 1)).clamp(min=1e-3, max=1.0)


def _grid_layout(length: int, tile: int, overlap: int, grid: int) -> tuple[int, list[int]]:
    """`tile_layout` on a grid of `grid` units (pixel tiles must start on latent cells)."""
    size, starts = tile_layout(length // grid, max(tile // grid, 1), overlap // grid)
    return size * grid, [start * grid for start in starts]


def _owned(starts: list[int], size: int, length: int) -> list[tuple[float, float]]:
    """The part of each tile, as fractions of it, that it alone owns: cut at the middle of each
    overlap, so the parts partition the whole length."""
    cuts = [0.0] + [(b + a + size) / 2 for a, b in zip(starts, starts[1:])] + [float(length)]
    return [((cuts[i] - s) / size, (cuts[i + 1] - s) / size) for i, s in enumerate(starts)]


def _tiled(source: torch.Tensor, fn: Callable[..., torch.Tensor], tile: int,
           overlap: int, scale: float, on_tile: Callable[[int, int], None] | None,
           grid: int = 1) -> torch.Tensor:
    """Apply ``fn(part, owned)`` to overlapping tiles of ``source`` [B, C, H, W] and blend the
    results (which are ``scale`` times larger) with feathered weights, so seams do not show.
    ``owned`` is the tile's own region as fractions (top, bottom, left, right) of it."""
    height, width = source.shape[-2:]
    (th, ys), (tw, xs) = _grid_layout(height, tile, overlap, grid), _grid_layout(width, tile, overlap, grid)
    rows, columns = _owned(ys, th, height), _owned(xs, tw, width)
    out = weight = None
    done, total = 0, len(ys) * len(xs)
    for y, row in zip(ys, rows):
        for x, column in zip(xs, columns):
            part = fn(source[..., y:y + th, x:x + tw], row + column)
            if out is None:
                out_h, out_w = round(height * scale), round(width * scale)
                out = torch.zeros(part.shape[:2] + (out_h, out_w), dtype=torch.float32)
                weight = torch.zeros((1, 1, out_h, out_w), dtype=torch.float32)
            ph, pw = part.shape[-2:]
            o = round(overlap * scale)
            mask = _ramp(ph, o, "cpu")[:, None] * _ramp(pw, o, "cpu")[None, :]
            oy, ox = round(y * scale), round(x * scale)
            out[..., oy:oy + ph, ox:ox + pw] += part.float().cpu() * mask
            weight[..., oy:oy + ph, ox:ox + pw] += mask
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return out / weight


def _shared_norm_passes(source: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], tiled_part,
                        tile: int, overlap: int, scale: float, grid: int,
                        on_tile: Callable[[int, int], None] | None) -> torch.Tensor:
    """`_tiled` with every GroupNorm in the modules `tiled_part` using the statistics of the
    whole image, gathered first, one norm per pass over the tiles (see vae_norms)."""
    norms = SharedGroupNorms(*tiled_part)
    height, width = source.shape[-2:]
    (th, ys), (tw, xs) = _grid_layout(height, tile, overlap, grid), _grid_layout(width, tile, overlap, grid)
    if len(ys) * len(xs) == 1:
        return _tiled(source, lambda part, owned: fn(part), tile, overlap, scale, on_tile, grid)
    tiles = [(y, x, row + column) for y, row in zip(ys, _owned(ys, th, height))
             for x, column in zip(xs, _owned(xs, tw, width))]
    total = len(tiles) * (len(norms.norms) + 1)
    done = 0
    with norms.installed():
        norms.gathering = True
        while not norms.complete:
            for y, x, owned in tiles:
                norms.owned = owned
                try:
                    fn(source[..., y:y + th, x:x + tw])
                except NormGathered:
                    pass
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
            norms.pool()
        norms.gathering = False
        return _tiled(source, lambda part, owned: fn(part), tile, overlap, scale,
                      None if on_tile is None else lambda d, t: on_tile(done + d, total), grid)


@torch.no_grad()
def decode_tiled(vae, latents: torch.Tensor, tile_size: int = 512, overlap: int = 64,
                 on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Decode in overlapping tiles (sizes in pixels), memory that of one tile past the latent
    resolution. The decoder's first part (its mid block's attention sees the whole image) runs
    on the whole latent, which is small; the up blocks run in tiles whose GroupNorms use the
    whole image's statistics, so the result matches the full decode."""
    f = downscale_factor(vae)
    param = next(vae.parameters())
    decoder = vae.decoder
    z = latents.to(param.device, param.dtype)
    if getattr(vae, "post_quant_conv", None) is not None:
        z = vae.post_quant_conv(z)
    hidden = decoder.mid_block(decoder.conv_in(z), None)
    hidden = hidden.to(next(iter(decoder.up_blocks.parameters())).dtype)

    def tail(h: torch.Tensor) -> torch.Tensor:
        for block in decoder.up_blocks:
            h = block(h, None)
        return decoder.conv_out(decoder.conv_act(decoder.conv_norm_out(h)))

    decoded = _shared_norm_passes(hidden, tail, (decoder.up_blocks, decoder.conv_norm_out),
                                  max(tile_size // f, 1), overlap // f, f, 1, on_tile)
    return ((decoded + 1.0) / 2.0).clamp(0, 1).movedim(1, -1)


@torch.no_grad()
def encode_tiled(vae, images: torch.Tensor, tile_size: int = 512, overlap: int = 64,
                 mode: str = "mean", seed: int = 0,
                 on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Encode in overlapping pixel tiles through the down blocks (GroupNorms with the whole
    image's statistics), then the rest of the encoder, with its attention, on the whole
    latent-sized map."""
    f = downscale_factor(vae)
    encoder = vae.encoder
    pixels = _to_vae(images, vae)

    def head(x: torch.Tensor) -> torch.Tensor:
        h = encoder.conv_in(x)
        for block in encoder.down_blocks:
            h = block(h)
        return h

    hidden = _shared_norm_passes(pixels, head, (encoder.down_blocks,), tile_size, overlap, 1.0 / f, f, on_tile)
    hidden = hidden.to(pixels.device, pixels.dtype)
    moments = encoder.conv_out(encoder.conv_act(encoder.conv_norm_out(encoder.mid_block(hidden))))
    if getattr(vae, "quant_conv", None) is not None:
        moments = vae.quant_conv(moments)
    dist = DiagonalGaussianDistribution(moments)
    mean, std = dist.mean.float().cpu(), dist.std.float().cpu()
    if mode == "mean":
        return mean
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return mean + std * torch.randn(mean.shape, generator=generator, dtype=torch.float32)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two IMAGE batches in 0..1."""
    mse = F.mse_loss(a.float(), b.float()).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004): Gaussian window, per channel."""
    x, y = a.float().movedim(-1, 1), b.float().movedim(-1, 1)
    window = min(window, x.shape[-1], x.shape[-2]) | 1
    coords = torch.arange(window, dtype=torch.float32) - window // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum())
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(value.mean())
