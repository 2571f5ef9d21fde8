"""Inpainting and latent compositing with ComfyUI's names and arithmetic: encode for an
inpainting pass (VAEEncodeForInpaint, InpaintModelConditioning), paste latents into latents
(LatentComposite, LatentCompositeMasked) and mix them (LatentBlend)."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Conditioning, Field, Image, Latent, Mask, NodeError, Vae, node

from .conditioning_edit import _set

MAX = 16384


class InpaintConditioning(NamedTuple):
    positive: Conditioning
    negative: Conditioning
    latent: Latent


def _grey_out(pixels, mask, factor: int):
    """(pixels cut to multiples of ``factor`` (centred), the mask at that size [B, 1, H, W],
    the pixels with the masked part grey): ComfyUI's preparation for inpainting."""
    import torch.nn.functional as F

    height, width = pixels.shape[1:3]
    mask = F.interpolate(mask.reshape((-1, 1, *mask.shape[-2:])).float(), size=(height, width),
                         mode="bilinear")
    h, w = height // factor * factor, width // factor * factor
    if (h, w) == (0, 0) or h == 0 or w == 0:
        raise NodeError(f"the image ({width}x{height}) is smaller than one latent pixel "
                        f"({factor}x{factor})", input="pixels")
    top, left = (height % factor) // 2, (width % factor) // 2
    pixels = pixels[:, top:top + h, left:left + w, :]
    mask = mask[:, :, top:top + h, left:left + w]
    keep = (1.0 - mask.round()).squeeze(1)[..., None]
    grey = (pixels - 0.5) * keep + 0.5
    return pixels, mask, grey


def _encode(ctx, vae, images):
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.vae_ops import downscale_factor, encode

    module = vae.load(ctx, Runtime.for_ctx(ctx))
    return encode(module, images, "mean", 0), downscale_factor(module)


def _factor(ctx, vae) -> int:
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.vae_ops import downscale_factor

    return downscale_factor(vae.load(ctx, Runtime.for_ctx(ctx)))


@node(category="latent/inpaint", display_name="VAE Encode (for Inpainting)")
def VAEEncodeForInpaint(pixels: Image, vae: Vae, mask: Mask,
                        grow_mask_by: int = Field(6, ge=0, le=64), *, ctx) -> Latent:
    """Encode an image for inpainting with any model: the masked part becomes grey before
    encoding (so use denoise 1), and the latent's noise mask is the mask grown by
    ``grow_mask_by`` pixels, so the seam blends."""
    import math

    import torch
    import torch.nn.functional as F

    from nodeflow.diffusion.latent import LatentBatch

    factor = _factor(ctx, vae)
    _, mask, grey = _grey_out(pixels, mask, factor)
    grown = mask
    if grow_mask_by:
        kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
        padding = math.ceil((grow_mask_by - 1) / 2)
        grown = F.conv2d(mask.round(), kernel, padding=padding).clamp(0, 1)
    samples, factor = _encode(ctx, vae, grey)
    h, w = mask.shape[-2:]
    return LatentBatch(samples, noise_mask=grown[:, :, :h, :w].round(), downscale=factor)


@node(category="conditioning/inpaint", display_name="InpaintModelConditioning")
def InpaintModelConditioning(positive: Conditioning, negative: Conditioning, vae: Vae,
                             pixels: Image, mask: Mask, noise_mask: bool = True, *,
                             ctx) -> InpaintConditioning:
    """Inpaint with an inpainting model (9 input channels): both prompts carry the masked
    image and the mask, which the model sees besides the latent; the latent is the whole
    image. ``noise_mask`` also limits sampling to the mask (the rest stays as it was)."""
    from nodeflow.diffusion.latent import LatentBatch

    factor = _factor(ctx, vae)
    original, mask, grey = _grey_out(pixels, mask, factor)
    concat, factor = _encode(ctx, vae, grey)
    samples, _ = _encode(ctx, vae, original)
    latent = LatentBatch(samples, noise_mask=mask if noise_mask else None, downscale=factor)
    extra = {"concat_latent_image": concat, "concat_mask": mask}
    return InpaintConditioning(_set(positive, **extra), _set(negative, **extra), latent)


@node(category="latent", display_name="Latent Composite")
def LatentComposite(samples_to: Latent, samples_from: Latent,
                    x: int = Field(0, ge=0, le=MAX, step=8), y: int = Field(0, ge=0, le=MAX, step=8),
                    feather: int = Field(0, ge=0, le=MAX, step=8)) -> Latent:
    """``samples_from`` pasted into ``samples_to`` at pixel (x, y) (in latent pixels of 8);
    ``feather`` fades its inner edges over that many pixels."""
    import torch

    from nodeflow.diffusion.image_ops import repeat_to_batch

    x, y, feather = x // 8, y // 8, feather // 8
    target = samples_to.samples
    out = target.clone()
    height, width = target.shape[-2:]
    if x >= width or y >= height:
        return samples_to.with_samples(out)
    source = samples_from.samples[..., :height - y, :width - x].to(out)
    if source.shape[1] != out.shape[1]:
        raise NodeError(f"latents with {source.shape[1]} and {out.shape[1]} channels cannot "
                        "be composited", input="samples_from")
    source = repeat_to_batch(source, out.shape[0])
    h, w = source.shape[-2:]
    window = out[..., y:y + h, x:x + w]
    if feather == 0:
        out[..., y:y + h, x:x + w] = source
        return samples_to.with_samples(out)
    mask = torch.ones_like(source)
    for t in range(feather):
        rate = (t + 1) / feather
        if y != 0:
            mask[:, :, t] *= rate
        if y + h < height:
            mask[:, :, h - 1 - t] *= rate
        if x != 0:
            mask[:, :, :, t] *= rate
        if x + w < width:
            mask[:, :, :, w - 1 - t] *= rate
    out[..., y:y + h, x:x + w] = source * mask + window * (1 - mask)
    return samples_to.with_samples(out)


@node(category="latent", display_name="LatentCompositeMasked")
def LatentCompositeMasked(destination: Latent, source: Latent,
                          x: int = Field(0, ge=0, le=MAX, step=8),
                          y: int = Field(0, ge=0, le=MAX, step=8), resize_source: bool = False,
                          mask: Mask | None = None) -> Latent:
    """``source`` pasted into ``destination`` at pixel (x, y) (in latent pixels of 8), where
    ``mask`` is 1; ``resize_source`` first stretches it to the destination's size."""
    from nodeflow.diffusion.image_ops import composite

    if source.samples.shape[1] != destination.samples.shape[1]:
        raise NodeError(f"latents with {source.samples.shape[1]} and "
                        f"{destination.samples.shape[1]} channels cannot be composited",
                        input="source")
    out = composite(destination.samples, source.samples, x, y, mask, 8, resize_source)
    return destination.with_samples(out)


@node(category="latent", display_name="Latent Blend")
def LatentBlend(samples1: Latent, samples2: Latent,
                blend_factor: float = Field(0.5, ge=0.0, le=1.0, step=0.01)) -> Latent:
    """samples1 x factor + samples2 x (1 - factor); samples2 is resized (bicubic, centre crop)
    to samples1's size when they differ."""
    from nodeflow.diffusion.image_ops import repeat_to_batch, upscale

    a, b = samples1.samples, samples2.samples
    if a.shape[1] != b.shape[1]:
        raise NodeError(f"latents with {a.shape[1]} and {b.shape[1]} channels cannot be "
                        "blended", input="samples2")
    if a.shape != b.shape:
        b = upscale(b, a.shape[-1], a.shape[-2], "bicubic", "center")
        b = repeat_to_batch(b, a.shape[0])
    return samples1.with_samples(a * blend_factor + b.to(a) * (1 - blend_factor))
