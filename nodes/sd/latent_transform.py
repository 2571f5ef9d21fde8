"""Latent nodes with ComfyUI's names and arithmetic: rotate, flip, crop and repeat a batch
(nodes.py). The noise mask is kept as ComfyUI keeps it (rotate, flip and crop leave it as it
is; the sampler scales it to the latent), so a workflow imported from ComfyUI draws the same
pictures."""
from __future__ import annotations

from nodeflow import Field, Latent, node

ROTATIONS = ["none", "90 degrees", "180 degrees", "270 degrees"]
FLIPS = ["x-axis: vertically", "y-axis: horizontally"]
MAX = 16384
MIN_CROP = 8
"""Latent pixels a crop keeps at least (ComfyUI moves the corner back to keep 64 pixels)."""


@node(category="latent/transform", display_name="Rotate Latent")
def LatentRotate(latent: Latent, rotation: str = Field("none", choices=ROTATIONS)) -> Latent:
    """Turn the latents clockwise by a quarter, half or three quarters (before decoding,
    so the picture turns too)."""
    import torch

    quarters = ROTATIONS.index(rotation)
    return latent.with_samples(torch.rot90(latent.samples, k=quarters, dims=[3, 2]),
                               noise_mask=latent.noise_mask)


@node(category="latent/transform", display_name="Flip Latent")
def LatentFlip(latent: Latent, flip_method: str = Field(FLIPS[0], choices=FLIPS)) -> Latent:
    """Mirror the latents: upside down (x-axis) or left to right (y-axis)."""
    import torch

    dim = 2 if flip_method.startswith("x") else 3
    return latent.with_samples(torch.flip(latent.samples, dims=[dim]),
                               noise_mask=latent.noise_mask)


@node(category="latent/transform", display_name="Crop Latent")
def LatentCrop(latent: Latent, width: int = Field(512, ge=64, le=MAX, step=8),
               height: int = Field(512, ge=64, le=MAX, step=8),
               x: int = Field(0, ge=0, le=MAX, step=8),
               y: int = Field(0, ge=0, le=MAX, step=8)) -> Latent:
    """The width x height pixels at (x, y), in whole latent pixels (sizes and corner are
    rounded down to 8 pixels). A corner too close to the right or bottom edge moves back so
    that at least 8 latent pixels remain (not past 0, for latents smaller than that); a box
    past the edge is cut there."""
    samples = latent.samples
    f = latent.downscale
    left = max(0, min(x // f, samples.shape[3] - MIN_CROP))
    top = max(0, min(y // f, samples.shape[2] - MIN_CROP))
    cropped = samples[:, :, top:top + height // f, left:left + width // f]
    return latent.with_samples(cropped, noise_mask=latent.noise_mask)


@node(category="latent/batch", display_name="Repeat Latent Batch")
def RepeatLatentBatch(latent: Latent, amount: int = Field(1, ge=1, le=64)) -> Latent:
    """The batch ``amount`` times over (img2img variations of one picture). A noise mask per
    item is repeated with it; ``batch_index`` (from Latent From Batch) continues past the
    batch's range, so each copy draws new noise."""
    mask = latent.noise_mask
    if mask is not None and mask.shape[0] > 1:
        mask = mask.repeat((amount, 1, 1, 1))
    index = latent.batch_index
    if index is not None:
        offset = max(index) - min(index) + 1
        index = tuple(index) + tuple(i + n * offset for n in range(1, amount) for i in index)
    return latent.with_samples(latent.samples.repeat((amount, 1, 1, 1)), noise_mask=mask,
                               batch_index=index, items_of_self=True)
