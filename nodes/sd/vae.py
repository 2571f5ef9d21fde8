"""VAE nodes: the latent space made visible. Encode by the posterior's mean or a sample,
decode, tiled versions for large images, and the reconstruction's fidelity as numbers."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Field, Image, Latent, NodeError, Vae, node

MODES = ["mean", "sample"]
TILE = Field(512, ge=64, le=4096, multiple_of=64,
             tooltip="largest tile side in pixels; tiles are spread evenly, so they may be smaller")
OVERLAP = Field(64, ge=0, le=2048, multiple_of=8, tooltip="least overlap of neighbouring tiles, in pixels")


def _vae(ctx, vae):
    from nodeflow.diffusion.runtime import Runtime

    return vae.load(ctx, Runtime.for_ctx(ctx))


def _check_image(image, module) -> None:
    from nodeflow.diffusion.vae_ops import downscale_factor

    if image.ndim != 4 or image.shape[-1] != 3:
        raise NodeError(f"expected an IMAGE batch [batch, height, width, 3], got shape "
                        f"{tuple(image.shape)}", input="image")
    factor = downscale_factor(module)
    height, width = image.shape[1:3]
    if height % factor or width % factor:
        raise NodeError(f"the image is {width}x{height}; this VAE needs sizes that are "
                        f"multiples of {factor} (crop or resize it first)", input="image")


def _latent(samples, module):
    from nodeflow.diffusion.latent import LatentBatch
    from nodeflow.diffusion.vae_ops import downscale_factor

    return LatentBatch(samples, downscale=downscale_factor(module))


def _check_latent(latent, module) -> None:
    channels = module.config.latent_channels
    if latent.samples.shape[1] != channels:
        raise NodeError(f"the latent has {latent.samples.shape[1]} channels; this VAE decodes "
                        f"{channels}", input="latent")


@node(category="latent", display_name="VAE Encode")
def VAEEncode(image: Image, vae: Vae, mode: str = Field("mean", choices=MODES),
              seed: int = Field(0, ge=0, le=2**64 - 1), *, ctx) -> Latent:
    """Image to latent. The VAE gives a distribution per image (a mean and a variance):
    ``mean`` (the default) takes its centre, deterministic; ``sample`` draws from it with
    ``seed``, which is what the model saw in training."""
    from nodeflow.diffusion.vae_ops import encode

    module = _vae(ctx, vae)
    _check_image(image, module)
    return _latent(encode(module, image, mode, seed), module)


@node(category="latent", display_name="VAE Decode")
def VAEDecode(latent: Latent, vae: Vae, *, ctx) -> Image:
    """Latent to image."""
    from nodeflow.diffusion.vae_ops import decode

    module = _vae(ctx, vae)
    _check_latent(latent, module)
    return decode(module, latent.samples)


@node(category="latent", display_name="VAE Encode (Tiled)")
def VAEEncodeTiled(image: Image, vae: Vae, tile_size: int = TILE, overlap: int = OVERLAP,
                   mode: str = Field("mean", choices=MODES),
                   seed: int = Field(0, ge=0, le=2**64 - 1), *, ctx) -> Latent:
    """Encode a large image tile by tile, step by step of the encoder's down blocks (the image
    between steps is kept whole: in RAM up to about a GB, larger ones in a deleted file in the
    temp folder when it is on a disk). Every tile is normalised with the whole image's statistics, so the result matches
    VAEEncode (>= 40 dB from a 32 px overlap). Where the image before a step is kept, tiles
    overlap only as far as the step's convolutions reach (``overlap`` is the most)."""
    from nodeflow.diffusion.spill import spill_folder
    from nodeflow.diffusion.vae_ops import encode_tiled

    if overlap >= tile_size:
        raise NodeError("overlap must be smaller than tile_size", input="overlap")
    module = _vae(ctx, vae)
    _check_image(image, module)
    samples = encode_tiled(module, image, tile_size, overlap, mode, seed,
                           on_tile=lambda i, n: ctx.progress(i, n), spill=spill_folder(ctx.temp_dir))
    return _latent(samples, module)


@node(category="latent", display_name="VAE Decode (Tiled)")
def VAEDecodeTiled(latent: Latent, vae: Vae, tile_size: int = TILE, overlap: int = OVERLAP,
                   *, ctx) -> Image:
    """Decode a large latent tile by tile (a 2048x2048 image in a few GB), step by step of the
    decoder's up blocks (the image between steps is kept whole: in RAM up to about a GB, larger
    ones in a deleted file in the temp folder when it is on a disk). Every tile is normalised with the whole image's
    statistics, so the result matches VAEDecode (>= 40 dB from a 32 px overlap; progress
    counts the passes that gather them). Where the image before a step is kept, tiles overlap
    only as far as the step's convolutions reach (``overlap`` is the most)."""
    from nodeflow.diffusion.spill import spill_folder
    from nodeflow.diffusion.vae_ops import decode_tiled

    if overlap >= tile_size:
        raise NodeError("overlap must be smaller than tile_size", input="overlap")
    module = _vae(ctx, vae)
    _check_latent(latent, module)
    return decode_tiled(module, latent.samples, tile_size, overlap,
                        on_tile=lambda i, n: ctx.progress(i, n), spill=spill_folder(ctx.temp_dir))


class Fidelity(NamedTuple):
    psnr: float
    ssim: float
    reconstruction: Image


class Similarity(NamedTuple):
    psnr: float
    ssim: float


@node(category="image/analysis", display_name="Image Fidelity")
def ImageFidelity(reference: Image, image: Image, *, ctx) -> Similarity:
    """How close ``image`` is to ``reference`` (same size): PSNR in dB and SSIM. Compare a
    tiled decode with a full one, two VAEs, two samplers."""
    from nodeflow.diffusion.vae_ops import psnr, ssim

    if tuple(reference.shape) != tuple(image.shape):
        raise NodeError(f"the images differ in shape: {tuple(reference.shape)} and "
                        f"{tuple(image.shape)}", input="image")
    scores = Similarity(psnr(reference, image), ssim(reference, image))
    ctx.report(text=[f"PSNR {scores.psnr:.2f} dB, SSIM {scores.ssim:.4f}"])
    return scores


@node(category="latent", display_name="VAE Fidelity")
def VAEFidelity(image: Image, vae: Vae, mode: str = Field("mean", choices=MODES),
                seed: int = Field(0, ge=0, le=2**64 - 1), *, ctx) -> Fidelity:
    """How well the VAE keeps an image: encode, decode, and compare. PSNR in dB (higher is
    better; 30+ is hard to tell apart) and SSIM (1 = identical structure)."""
    from nodeflow.diffusion.vae_ops import decode, encode, psnr, ssim

    module = _vae(ctx, vae)
    _check_image(image, module)
    reconstruction = decode(module, encode(module, image, mode, seed))
    scores = Fidelity(psnr(image, reconstruction), ssim(image, reconstruction), reconstruction)
    ctx.report(text=[f"PSNR {scores.psnr:.2f} dB, SSIM {scores.ssim:.4f} ({mode})"])
    return scores
