"""LATENT: what travels between EmptyLatent, VAEEncode, the samplers and VAEDecode.

``samples`` are raw VAE latents [batch, channels, height/f, width/f] (f = the VAE's downscale
factor, 8 for Stable Diffusion), float32, not yet multiplied by the model's scaling factor: the
same convention as ComfyUI, so latents mean the same thing in both. An empty latent made without
knowing the model remembers its pixel size, so a sampler can re-make it with the model's own
channel count and downscale factor. This module does not import torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LatentBatch:
    samples: "torch.Tensor"
    noise_mask: "torch.Tensor | None" = None
    """[batch or 1, 1, h, w] in 0..1: 1 = the sampler may change this area (inpainting)."""
    empty_pixels: tuple[int, int] | None = None
    """(height, width) in pixels when this is an untouched EmptyLatent."""
    downscale: int = 8
    """Pixels per latent pixel of the VAE these latents belong to."""
    batch_index: tuple[int, ...] | None = None
    """ComfyUI's ``batch_index``: for each item, its place in the batch its noise is drawn
    for (LatentFromBatch, RepeatLatentBatch), so item k keeps the noise of item k of the
    whole batch with the same seed. None: 0, 1, 2, ..."""

    @property
    def batch_size(self) -> int:
        return int(self.samples.shape[0])

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(height, width) of the images these latents decode to."""
        return (int(self.samples.shape[-2]) * self.downscale,
                int(self.samples.shape[-1]) * self.downscale)

    def with_samples(self, samples: "torch.Tensor", *, items_of_self: bool = False,
                     **changes: Any) -> "LatentBatch":
        """A new batch with other samples; it is no longer 'empty' unless ``items_of_self``
        says the samples are only items of this batch, picked or repeated (an empty latent
        stays one, for the sampler to re-make at the model's size). A batch of another size
        drops ``batch_index`` unless a new one is given."""
        if "batch_index" not in changes and int(samples.shape[0]) != self.batch_size:
            changes["batch_index"] = None
        empty = self.empty_pixels if items_of_self else None
        return replace(self, samples=samples, empty_pixels=empty, **changes)
