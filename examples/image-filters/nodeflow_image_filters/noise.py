"""Seeded latent noise: variations of a latent before a second sampling pass."""
from __future__ import annotations

from nodeflow import Field, Latent, node


@node(category="latent/noise", version="1.0.0", display_name="Latent Noise")
def LatentNoise(latent: Latent, strength: float = Field(0.1, ge=0.0, le=10.0, step=0.01),
                seed: int = Field(0, ge=0, le=2**64 - 1, control_after_generate=True)) -> Latent:
    """Add Gaussian noise (drawn on the CPU from ``seed``, so any device gives the same
    result) times ``strength`` to a latent. The seed is an input, so the result is cached
    like any other: same seed, same latent."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(latent.samples.shape, generator=generator, dtype=torch.float32)
    return latent.with_samples(latent.samples + strength * noise.to(latent.samples.device),
                               noise_mask=latent.noise_mask)
