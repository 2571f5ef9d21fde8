"""Stand-ins for the SD nodes with their exact type names, inputs and outputs, and no torch.

Values are small duck-typed stand-ins that pass the socket types' checks (a "tensor" is just
a shape and a colour); SaveImage writes real PNGs that /view can serve and KSampler sends a
real PIL preview.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from PIL import Image as PILImage

from nodeflow import Clip, Conditioning, Field, Image, Latent, Mask, Model, NodeError, Vae, node

SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m"]
SCHEDULERS = ["normal", "karras", "simple"]
UPSCALE = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
STEP_SECONDS = 0.002


@dataclass(frozen=True)
class Tensor:
    """What the socket checks look at: a shape (and ndim). ``color`` makes images visible."""
    shape: tuple[int, ...]
    color: tuple[int, int, int] = (0, 0, 0)

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class StubLatent:
    samples: Tensor
    info: dict[str, Any] = field(default_factory=dict)

    def but(self, **info: Any) -> StubLatent:
        return StubLatent(self.samples, {**self.info, **info})


@dataclass(frozen=True)
class StubConditioning:
    entries: tuple


def checkpoint_names(settings) -> list[str]:
    folder = settings.model_dir("checkpoints") if settings is not None else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".safetensors")


class Checkpoint(NamedTuple):
    model: Model
    clip: Clip
    vae: Vae


class ModelClip(NamedTuple):
    model: Model
    clip: Clip


class ImageMask(NamedTuple):
    image: Image
    mask: Mask


@node(category="loaders")
def CheckpointLoader(checkpoint: str = Field(choices=checkpoint_names)) -> Checkpoint:
    return Checkpoint({"model": checkpoint}, {"clip": checkpoint, "skip": 1}, {"vae": checkpoint})


@node(category="loaders")
def LoadVAE(vae: str) -> Vae:
    return {"vae": vae}


@node(category="loaders")
def LoadLoRA(model: Model, clip: Clip, lora: str, strength_model: float = 1.0,
             strength_clip: float = 1.0) -> ModelClip:
    return ModelClip({**model, "lora": lora}, {**clip, "lora": lora})


@node(category="conditioning")
def TextEncode(clip: Clip, text: str = Field("", multiline=True)) -> Conditioning:
    return StubConditioning(((text, clip["clip"]),))


@node(category="conditioning")
def ConditioningCombine(a: Conditioning, b: Conditioning) -> Conditioning:
    return StubConditioning(a.entries + b.entries)


@node(category="conditioning")
def ClipSkip(clip: Clip, skip: int = Field(1, ge=1, le=24)) -> Clip:
    return {**clip, "skip": skip}


@node(category="latent")
def EmptyLatent(width: int = Field(512, ge=16, le=8192, step=8),
                height: int = Field(512, ge=16, le=8192, step=8),
                batch_size: int = Field(1, ge=1, le=64)) -> Latent:
    return StubLatent(Tensor((batch_size, 4, height // 8, width // 8)))


def _sample(latent: StubLatent, steps: int, seed: int, ctx) -> StubLatent:
    for step in range(steps):
        time.sleep(STEP_SECONDS)
        preview = PILImage.new("RGB", (16, 16), (200, 0, 0)) if step == 0 else None
        ctx.progress(step + 1, steps, preview=preview)
    return latent.but(seed=seed)


@node(category="sampling")
def KSampler(model: Model, positive: Conditioning, negative: Conditioning, latent: Latent,
             seed: int = Field(0, ge=0, le=2**64 - 1, control_after_generate=True),
             steps: int = Field(20, ge=1, le=10000),
             cfg: float = Field(7.0, ge=0.0, le=100.0),
             sampler: str = Field("euler", choices=SAMPLERS),
             scheduler: str = Field("normal", choices=SCHEDULERS),
             denoise: float = Field(1.0, ge=0.0, le=1.0), *, ctx) -> Latent:
    return _sample(latent, steps, seed, ctx)


@node(category="sampling")
def KSamplerAdvanced(model: Model, positive: Conditioning, negative: Conditioning,
                     latent: Latent, add_noise: bool = True,
                     seed: int = Field(0, ge=0, le=2**64 - 1),
                     steps: int = Field(20, ge=1, le=10000),
                     cfg: float = Field(7.0, ge=0.0, le=100.0),
                     sampler: str = Field("euler", choices=SAMPLERS),
                     scheduler: str = Field("normal", choices=SCHEDULERS),
                     start_at_step: int = Field(0, ge=0, le=10000),
                     end_at_step: int = Field(10000, ge=0, le=10000),
                     return_with_leftover_noise: bool = False, *, ctx) -> Latent:
    return _sample(latent, min(steps, end_at_step) - start_at_step, seed, ctx).but(
        add_noise=add_noise, leftover=return_with_leftover_noise)


def _image(latent: StubLatent) -> Tensor:
    batch, _, height, width = latent.samples.shape
    return Tensor((batch, height * 8, width * 8, 3), (0, 128, latent.info.get("seed", 0) % 256))


def _encode(image: Tensor, **info: Any) -> StubLatent:
    batch, height, width, _ = image.shape
    return StubLatent(Tensor((batch, 4, height // 8, width // 8)), info)


@node(category="latent")
def VAEDecode(latent: Latent, vae: Vae) -> Image:
    return _image(latent)


@node(category="latent")
def VAEEncode(image: Image, vae: Vae, mode: str = Field("mean", choices=["mean", "sample"]),
              seed: int = Field(0, ge=0, le=2**64 - 1)) -> Latent:
    return _encode(image, mode=mode)


@node(category="latent")
def VAEDecodeTiled(latent: Latent, vae: Vae, tile_size: int = Field(512, ge=64, le=4096),
                   overlap: int = Field(64, ge=0, le=4096)) -> Image:
    return _image(latent)


@node(category="latent")
def VAEEncodeTiled(image: Image, vae: Vae, tile_size: int = Field(512, ge=64, le=4096),
                   overlap: int = Field(64, ge=0, le=4096),
                   mode: str = Field("mean", choices=["mean", "sample"]),
                   seed: int = Field(0, ge=0, le=2**64 - 1)) -> Latent:
    return _encode(image, mode=mode, tiled=True)


@node(category="image")
def LoadImage(image: str, *, ctx) -> ImageMask:
    path = ctx.input_dir / image
    if not path.is_file():
        raise NodeError(f"no image {image!r} in the input folder", input="image")
    with PILImage.open(path) as img:
        width, height = img.size
    return ImageMask(Tensor((1, height, width, 3)), Tensor((1, height, width)))


@node(category="image")
def LoadImageMask(image: str, channel: str = Field("A", choices=["A", "R", "G", "B"])
                  ) -> Mask:
    return Tensor((1, 64, 64))


def _pil(images: Tensor) -> PILImage.Image:
    _, height, width, _ = images.shape
    return PILImage.new("RGB", (width, height), images.color)


@node(category="image", output=True)
def SaveImage(images: Image, prefix: str = "nodeflow", *, ctx) -> None:
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    name = f"{prefix}_{len(list(ctx.output_dir.glob(prefix + '_*.png'))):05}.png"
    _pil(images).save(ctx.output_dir / name)
    ctx.report(images=[{"filename": name, "subfolder": "", "type": "output"}])


@node(category="image", output=True)
def PreviewImage(images: Image, *, ctx) -> None:
    ctx.temp_dir.mkdir(parents=True, exist_ok=True)
    _pil(images).save(ctx.temp_dir / "preview.png")
    ctx.report(images=[{"filename": "preview.png", "subfolder": "", "type": "temp"}])


@node(category="latent")
def LatentUpscale(latent: Latent, method: str = Field("nearest-exact", choices=UPSCALE),
                  width: int = Field(512, ge=0, le=8192), height: int = Field(512, ge=0, le=8192)
                  ) -> Latent:
    batch, channels = latent.samples.shape[:2]
    return StubLatent(Tensor((batch, channels, height // 8, width // 8)),
                      {**latent.info, "method": method})


@node(category="latent")
def LatentUpscaleBy(latent: Latent, method: str = Field("nearest-exact", choices=UPSCALE),
                    scale_by: float = Field(1.5, ge=0.01, le=8.0)) -> Latent:
    return latent.but(scale_by=scale_by)


@node(category="latent")
def SetLatentNoiseMask(latent: Latent, mask: Mask) -> Latent:
    return latent.but(mask=mask.shape)


@node(category="test")
def Boom(latent: Latent) -> Latent:
    """Fails like a bug would (a plain exception, so the engine records a traceback)."""
    raise RuntimeError("kaboom in /very/secret/path.py")
