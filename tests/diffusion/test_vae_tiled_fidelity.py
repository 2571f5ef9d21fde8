"""Tiled VAE decode and encode match the full ones (>= 40 dB), on the built-in model and on
the SD 1.5 VAE (random weights from the shipped config, at a small size). The overlap must
cover the reach of the tile's zero padding through one segment (vae_segments): 32 px is enough
for the SD 1.5 VAE (64 px is the nodes' default)."""
from __future__ import annotations

import math

import pytest
import torch

from nodeflow.diffusion import vae_ops
from nodeflow.diffusion.checkpoint_paths import builtin_checkpoint
from nodeflow.diffusion.checkpoints import load_checkpoint

from tests.diffusion.tiny_models import random_sd15_vae


def latent_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR with the reference's range as the peak (latents have no fixed 0..1 range)."""
    return 10 * math.log10(float(b.max() - b.min()) ** 2 / float(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def tiny_vae():
    return load_checkpoint(builtin_checkpoint()).vae


@pytest.fixture(scope="module")
def sd15_vae():
    return random_sd15_vae()


@pytest.mark.parametrize("which, latent_size, tile, overlap", [
    ("tiny", (24, 32), 64, 32), ("sd15", (8, 20), 96, 64), ("sd15", (8, 20), 96, 32)])
def test_tiled_decode_and_encode_match_the_full_ones(request, which, latent_size, tile, overlap):
    vae = request.getfixturevalue(f"{which}_vae")
    torch.manual_seed(1)
    latent = torch.randn(1, vae.config.latent_channels, *latent_size)
    full = vae_ops.decode(vae, latent)
    progress = []
    tiled = vae_ops.decode_tiled(vae, latent, tile, overlap, on_tile=lambda d, t: progress.append((d, t)))
    assert tiled.shape == full.shape
    assert vae_ops.psnr(tiled, full) >= 40.0
    assert progress[-1][0] == progress[-1][1] and progress == sorted(progress)
    image = full
    assert latent_psnr(vae_ops.encode_tiled(vae, image, tile, overlap), vae_ops.encode(vae, image)) >= 40.0


def test_one_tile_is_the_full_decode(tiny_vae):
    """The same call in the same memory layout (channels-last on the CPU): the same bits."""
    latent = torch.randn(1, 4, 8, 8)
    assert torch.equal(vae_ops.decode_tiled(tiny_vae, latent, 512, 64), vae_ops.decode(tiny_vae, latent))


def test_tiles_normalised_on_their_own_are_what_this_fixes(tiny_vae, monkeypatch):
    """Without the shared statistics (each tile its own GroupNorm) the same decode is far off."""
    from nodeflow.diffusion import vae_norms

    torch.manual_seed(1)
    latent = torch.randn(1, 4, 24, 32)
    full = vae_ops.decode(tiny_vae, latent)
    monkeypatch.setattr(vae_norms.SharedGroupNorms, "installed", _own_statistics)
    monkeypatch.setattr(vae_norms.SharedGroupNorms, "complete", True)
    assert vae_ops.psnr(vae_ops.decode_tiled(tiny_vae, latent, 64, 32), full) < 36.0


def _own_statistics(self):
    import contextlib

    return contextlib.nullcontext(self)
