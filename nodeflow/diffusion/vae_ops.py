"""The VAE steps a user can see: encode (mean or sample), decode, tiled versions, fidelity.

Works on a diffusers AutoencoderKL. Images are IMAGE tensors [B, H, W, 3] in 0..1; latents are
raw VAE latents [B, C, H/f, W/f] (see latent.py).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders.vae import Decoder, DiagonalGaussianDistribution, Encoder

from ..engine.heap import release_free_memory
from .stored_weights import working_dtype
from .vae_segments import TileGrid, decoder_steps, encoder_steps, run_tiled_segments


def downscale_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _cpu_layout(x: torch.Tensor) -> torch.Tensor:
    """Channels-last on the CPU: oneDNN's convolutions then take the activations as they are
    instead of reordering them for every layer (an SD 1.5 decode at 512 px: 9.8 -> 7.6 s, its
    encode 4.6 -> 3.6 s on the 2-core bench machine; same sums, same results to 1e-6)."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


def _place(vae) -> tuple[torch.device, torch.dtype]:
    """Where the VAE is and what it computes in (its weights may be stored narrower)."""
    return next(vae.parameters()).device, working_dtype(vae)


def _to_vae(images: torch.Tensor, vae) -> torch.Tensor:
    return _cpu_layout((images.movedim(-1, 1) * 2.0 - 1.0).to(*_place(vae)))


def _from_vae(decoded: torch.Tensor) -> torch.Tensor:
    return ((decoded.float() + 1.0) / 2.0).clamp(0, 1).movedim(1, -1).cpu()


TRIM_FROM_BYTES = 32 << 20
"""Activations from which the heap's free memory is returned before each step (see _chain)."""


def _chain(steps, hidden: torch.Tensor) -> torch.Tensor:
    """The steps in turn, each output replacing its input, so that no activation outlives the
    step after it. diffusers' Encoder and Decoder call each block with the block's input still
    held by their own frame, which keeps it alive through the whole block: in an SD 1.5 decode
    at 512 px the last up block's 268 MB input outlived its first resnet (with the resnets'
    own change in cpu_blocks.py, the decode's peak above the weights went from 0.93 to 0.81 GB).

    Before a step on large activations, the C heap's free memory goes back to the system: the
    earlier steps' smaller buffers (widened weights, convolution scratch) stay in glibc's heap
    when freed, where the next step's large tensors cannot use them, and count in RSS (a
    further 0.12 GB off that decode's peak, 0.09 GB off the encode's). malloc_trim takes
    milliseconds; steps this large take seconds."""
    for step in steps:
        if hidden.nbytes >= TRIM_FROM_BYTES and hidden.device.type == "cpu":
            release_free_memory()
        hidden = step.run(hidden)
    return hidden


def _trimming(on_tile: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
    """``on_tile``, after the heap's free memory has gone back to the system: a tiled pass
    runs every step once per tile, and what glibc kept of their freed buffers grew over the
    pass (a 1024 px tiled decode: 2.34-2.39 GB above the loaded VAE at its peak and 0.88-0.94
    GB held after it without this, 2.06 GB and 0.64-0.65 GB with it, the same time)."""
    def step_done(done: int, total: int) -> None:
        release_free_memory()
        if on_tile is not None:
            on_tile(done, total)
    return step_done


_DIFFUSERS_FORWARDS = (Encoder.forward, Decoder.forward)
"""As imported: a node pack that replaces either forward gets its own called."""


def _chains(vae) -> bool:
    """diffusers' own Encoder and Decoder, without its sliced or tiled modes: the passes
    below are theirs, step for step (same modules, same order, same results)."""
    return (type(getattr(vae, "encoder", None)) is Encoder and type(getattr(vae, "decoder", None)) is Decoder
            and (Encoder.forward, Decoder.forward) == _DIFFUSERS_FORWARDS
            and not getattr(vae, "use_slicing", False) and not getattr(vae, "use_tiling", False))


def _encoder_tail(vae, hidden: torch.Tensor) -> DiagonalGaussianDistribution:
    """The encoder after its down blocks (mid block, output layers, quant_conv): the posterior."""
    encoder = vae.encoder
    moments = encoder.conv_out(encoder.conv_act(encoder.conv_norm_out(encoder.mid_block(hidden))))
    if getattr(vae, "quant_conv", None) is not None:
        moments = vae.quant_conv(moments)
    return DiagonalGaussianDistribution(moments)


def _decoder_head(vae, z: torch.Tensor) -> torch.Tensor:
    """The decoder up to its up blocks (post_quant_conv, conv_in, mid block), in the up blocks'
    working dtype, as diffusers' Decoder does."""
    decoder = vae.decoder
    if getattr(vae, "post_quant_conv", None) is not None:
        z = vae.post_quant_conv(z)
    return decoder.mid_block(decoder.conv_in(z), None).to(working_dtype(decoder.up_blocks))


def _latent(dist: DiagonalGaussianDistribution, mode: str, seed: int) -> torch.Tensor:
    """The posterior's mean, or a sample drawn with ``seed`` (CPU generator: the same on every
    device)."""
    mean = dist.mean.float().cpu().contiguous()
    if mode == "mean":
        return mean
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
    return mean + dist.std.float().cpu().contiguous() * noise


@torch.no_grad()
def encode(vae, images: torch.Tensor, mode: str = "mean", seed: int = 0) -> torch.Tensor:
    """The posterior q(z|x) of each image: its mean, or a sample drawn with ``seed``."""
    pixels = _to_vae(images, vae)
    if not _chains(vae):
        return _latent(vae.encode(pixels).latent_dist, mode, seed)
    return _latent(_encoder_tail(vae, _chain(encoder_steps(vae.encoder), pixels)), mode, seed)


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    z = _cpu_layout(latents.to(*_place(vae)))
    if not _chains(vae):
        return _from_vae(vae.decode(z).sample)
    return _from_vae(_chain(decoder_steps(vae.decoder), _decoder_head(vae, z)))


@torch.no_grad()
def decode_tiled(vae, latents: torch.Tensor, tile_size: int = 512, overlap: int = 64,
                 on_tile: Callable[[int, int], None] | None = None, spill: Path | None = None) -> torch.Tensor:
    """Decode in overlapping tiles (sizes in pixels; ``overlap`` the most that tiles overlap,
    less where the steps' reach needs less: vae_reach). The decoder's first part (its mid
    block's attention sees the whole image) runs on the whole latent, which is small; the up
    blocks run in tiles, segment by segment, whose GroupNorms use the whole image's statistics,
    so the result matches the full decode (vae_segments). ``spill``: a folder from
    spill.spill_folder for the images between steps that RAM should not hold; with it each
    resnet is two steps, the image between them kept too."""
    f = downscale_factor(vae)
    hidden = _decoder_head(vae, _cpu_layout(latents.to(*_place(vae))))
    grid = TileGrid(max(tile_size // f, 1), max(overlap // f, 0))
    if len(grid.along(hidden.shape[-2])[1]) * len(grid.along(hidden.shape[-1])[1]) == 1:
        decoded = _chain(decoder_steps(vae.decoder), hidden).float().cpu()
        if on_tile is not None:
            on_tile(1, 1)
    else:
        steps = decoder_steps(vae.decoder, split_resnets=spill is not None)
        decoded = run_tiled_segments(hidden, steps, tuple(hidden.shape[-2:]), grid, _trimming(on_tile),
                                     spill=spill).float()
    return ((decoded + 1.0) / 2.0).clamp(0, 1).movedim(1, -1)


@torch.no_grad()
def encode_tiled(vae, images: torch.Tensor, tile_size: int = 512, overlap: int = 64,
                 mode: str = "mean", seed: int = 0,
                 on_tile: Callable[[int, int], None] | None = None, spill: Path | None = None) -> torch.Tensor:
    """Encode in overlapping pixel tiles through the down blocks (GroupNorms with the whole
    image's statistics), then the rest of the encoder, with its attention, on the whole
    latent-sized map. ``spill`` as for decode_tiled."""
    f = downscale_factor(vae)
    pixels = _to_vae(images, vae)
    cells = (pixels.shape[-2] // f, pixels.shape[-1] // f)
    pixels = pixels[..., :cells[0] * f, :cells[1] * f]
    grid = TileGrid(max(tile_size // f, 1), max(overlap // f, 0))
    steps = encoder_steps(vae.encoder, split_resnets=spill is not None)
    hidden = run_tiled_segments(pixels, steps, cells, grid, _trimming(on_tile), spill=spill)
    hidden = hidden.to(pixels.device, pixels.dtype)
    return _latent(_encoder_tail(vae, hidden), mode, seed)


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
