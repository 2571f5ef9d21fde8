"""Latent nodes: empty latents, resizing, interpolation (morphs), batches, inpainting masks."""
from __future__ import annotations

from nodeflow import Field, Latent, Mask, NodeError, node

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
INTERPOLATIONS = ["lerp", "slerp"]
SIZE = {"ge": 16, "le": 8192, "multiple_of": 8}


@node(category="latent", display_name="Empty Latent")
def EmptyLatent(width: int = Field(512, **SIZE), height: int = Field(512, **SIZE),
                batch_size: int = Field(1, ge=1, le=64)) -> Latent:
    """A batch of zero latents for text-to-image. The sampler gives it the channel count and
    downscale factor of the model it uses, so one EmptyLatent serves any model family."""
    import torch

    from nodeflow.diffusion.latent import LatentBatch

    samples = torch.zeros((batch_size, 4, height // 8, width // 8), dtype=torch.float32)
    return LatentBatch(samples, empty_pixels=(height, width))


def _check_pixels(latent, width: int, height: int) -> None:
    if width % latent.downscale or height % latent.downscale:
        raise NodeError(f"{width}x{height} is not a multiple of this latent's downscale factor "
                        f"{latent.downscale}", input="width")


@node(category="latent", display_name="Upscale Latent")
def LatentUpscale(latent: Latent, method: str = Field("nearest-exact", choices=UPSCALE_METHODS),
                  width: int = Field(1024, **SIZE), height: int = Field(1024, **SIZE)) -> Latent:
    """Resize latents to a pixel size (for a second, "hires fix" sampling pass)."""
    from nodeflow.diffusion.latent_ops import resize

    _check_pixels(latent, width, height)
    size = (height // latent.downscale, width // latent.downscale)
    return latent.with_samples(resize(latent.samples, *size, method), noise_mask=None)


@node(category="latent", display_name="Upscale Latent By")
def LatentUpscaleBy(latent: Latent,
                    method: str = Field("nearest-exact", choices=UPSCALE_METHODS),
                    scale_by: float = Field(1.5, ge=0.01, le=8.0, step=0.01)) -> Latent:
    """Resize latents by a factor (rounded to whole latent pixels)."""
    from nodeflow.diffusion.latent_ops import resize

    h, w = latent.samples.shape[-2:]
    size = (max(1, round(h * scale_by)), max(1, round(w * scale_by)))
    return latent.with_samples(resize(latent.samples, *size, method), noise_mask=None)


def _pair(a, b):
    if a.samples.shape[1:] != b.samples.shape[1:]:
        raise NodeError(f"latents of different shapes cannot be mixed: "
                        f"{tuple(a.samples.shape)} and {tuple(b.samples.shape)}", input="b")
    if a.batch_size != b.batch_size and 1 not in (a.batch_size, b.batch_size):
        raise NodeError(f"batch sizes {a.batch_size} and {b.batch_size} do not match", input="b")


@node(category="latent", display_name="Interpolate Latents")
def LatentInterpolate(a: Latent, b: Latent, t: float = Field(0.5, ge=0.0, le=1.0, step=0.01),
                      method: str = Field("slerp", choices=INTERPOLATIONS)) -> Latent:
    """A point between two latents: t=0 is a, t=1 is b. slerp keeps the norm of noise-like
    latents, so the middle of a morph does not wash out as with lerp."""
    from nodeflow.diffusion import latent_ops

    _pair(a, b)
    mix = latent_ops.slerp if method == "slerp" else latent_ops.lerp
    return a.with_samples(mix(a.samples, b.samples, t), noise_mask=None)


@node(category="latent", display_name="Latent Sweep")
def LatentSweep(a: Latent, b: Latent, frames: int = Field(8, ge=2, le=256),
                method: str = Field("slerp", choices=INTERPOLATIONS)) -> Latent:
    """A batch of ``frames`` latents from a to b (t = 0 .. 1): the frames of a morph."""
    import torch

    from nodeflow.diffusion import latent_ops

    _pair(a, b)
    mix = latent_ops.slerp if method == "slerp" else latent_ops.lerp
    first, last = a.samples[:1], b.samples[:1]
    steps = [mix(first, last, i / (frames - 1)) for i in range(frames)]
    return a.with_samples(torch.cat(steps), noise_mask=None)


@node(category="latent", display_name="Join Latent Batches")
def LatentBatchJoin(a: Latent, b: Latent) -> Latent:
    """One batch holding a's latents then b's."""
    import torch

    if a.samples.shape[1:] != b.samples.shape[1:]:
        raise NodeError(f"latents of different shapes cannot be joined: "
                        f"{tuple(a.samples.shape)} and {tuple(b.samples.shape)}", input="b")
    return a.with_samples(torch.cat([a.samples, b.samples]), noise_mask=None)


@node(category="latent", display_name="Latent From Batch")
def LatentFromBatch(latent: Latent, index: int = Field(0, ge=0, le=4095),
                    length: int = Field(1, ge=1, le=4096)) -> Latent:
    """Items ``index`` .. ``index + length - 1`` of a batch."""
    if index >= latent.batch_size:
        raise NodeError(f"index {index} is past the batch of {latent.batch_size}", input="index")
    mask = latent.noise_mask
    if mask is not None and mask.shape[0] > 1:
        mask = mask[index:index + length]
    # ComfyUI's batch_index: the items keep the noise they had in the whole batch
    places = latent.batch_index or tuple(range(latent.batch_size))
    return latent.with_samples(latent.samples[index:index + length], noise_mask=mask,
                               batch_index=tuple(places[index:index + length]),
                               items_of_self=True)


@node(category="latent/inpaint", display_name="Set Latent Noise Mask")
def SetLatentNoiseMask(latent: Latent, mask: Mask) -> Latent:
    """Limit sampling to where the mask is 1 (inpainting); the rest keeps the input latent."""
    import torch.nn.functional as F

    if mask.ndim == 2:
        mask = mask[None]
    size = tuple(latent.samples.shape[-2:])
    resized = F.interpolate(mask[:, None].float(), size=size, mode="bilinear",
                            align_corners=False)
    return latent.with_samples(latent.samples, noise_mask=resized.clamp(0, 1))
