"""Image nodes with ComfyUI's names, inputs and arithmetic: resize, crop, pad for outpainting,
invert, blend, batch and composite (nodes.py, nodes_images.py, nodes_post_processing.py,
nodes_mask.py)."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Field, Image, Mask, NodeError, node

SCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROPS = ["disabled", "center"]
BLEND_MODES = ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]
MAX = 16384
PIXELS = {"ge": 0, "le": MAX}


class ImageAndMask(NamedTuple):
    image: Image
    mask: Mask


def _resize(image, width: int, height: int, method: str, crop: str = "disabled"):
    from nodeflow.diffusion.image_ops import upscale

    return upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


@node(category="image/upscaling", display_name="Upscale Image")
def ImageScale(image: Image, upscale_method: str = Field("nearest-exact", choices=SCALE_METHODS),
               width: int = Field(512, **PIXELS), height: int = Field(512, **PIXELS),
               crop: str = Field("disabled", choices=CROPS)) -> Image:
    """Resize to width x height. A size of 0 keeps the aspect ratio from the other one (both 0:
    unchanged); ``crop: center`` cuts the picture to the new aspect ratio first."""
    if width == 0 and height == 0:
        return image
    h, w = image.shape[1:3]
    if width == 0:
        width = max(1, round(w * height / h))
    elif height == 0:
        height = max(1, round(h * width / w))
    return _resize(image, width, height, upscale_method, crop)


@node(category="image/upscaling", display_name="Upscale Image By")
def ImageScaleBy(image: Image, upscale_method: str = Field("nearest-exact", choices=SCALE_METHODS),
                 scale_by: float = Field(1.0, ge=0.01, le=8.0, step=0.01)) -> Image:
    """Resize by a factor (rounded to whole pixels)."""
    h, w = image.shape[1:3]
    width, height = round(w * scale_by), round(h * scale_by)
    if width < 1 or height < 1:
        raise NodeError(f"{w}x{h} scaled by {scale_by} has no pixels left", input="scale_by")
    return _resize(image, width, height, upscale_method)


@node(category="image/upscaling", display_name="Scale Image to Total Pixels")
def ImageScaleToTotalPixels(image: Image,
                            upscale_method: str = Field("nearest-exact", choices=SCALE_METHODS),
                            megapixels: float = Field(1.0, ge=0.01, le=16.0, step=0.01),
                            resolution_steps: int = Field(1, ge=1, le=256)) -> Image:
    """Resize keeping the aspect ratio to about ``megapixels`` x 1024 x 1024 pixels, each side
    rounded to a multiple of ``resolution_steps``."""
    import math

    h, w = image.shape[1:3]
    scale_by = math.sqrt(megapixels * 1024 * 1024 / (w * h))
    width = round(w * scale_by / resolution_steps) * resolution_steps
    height = round(h * scale_by / resolution_steps) * resolution_steps
    if width < 1 or height < 1:
        raise NodeError(f"{w}x{h} at {megapixels} megapixels in steps of {resolution_steps} "
                        "has no pixels left", input="resolution_steps")
    return _resize(image, int(width), int(height), upscale_method)


@node(category="image/transform", display_name="Image Crop")
def ImageCrop(image: Image, width: int = Field(512, ge=1, le=MAX),
              height: int = Field(512, ge=1, le=MAX), x: int = Field(0, ge=0, le=MAX),
              y: int = Field(0, ge=0, le=MAX)) -> Image:
    """The width x height window at (x, y), cut at the image's edges (a corner past the edge
    moves back to the last pixel, as in ComfyUI)."""
    x, y = min(x, image.shape[2] - 1), min(y, image.shape[1] - 1)
    return image[:, y:y + height, x:x + width, :].clone()


@node(category="image", display_name="Pad Image for Outpainting")
def ImagePadForOutpaint(image: Image, left: int = Field(0, ge=0, le=MAX, step=8),
                        top: int = Field(0, ge=0, le=MAX, step=8),
                        right: int = Field(0, ge=0, le=MAX, step=8),
                        bottom: int = Field(0, ge=0, le=MAX, step=8),
                        feathering: int = Field(40, ge=0, le=MAX)) -> ImageAndMask:
    """Grey borders around the image and a mask to outpaint them: 1 on the new borders, fading
    quadratically into the image over ``feathering`` pixels on the padded sides."""
    import torch

    b, h, w, c = image.shape
    out = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=image.dtype)
    out[:, top:top + h, left:left + w, :] = image
    mask = torch.ones((h + top + bottom, w + left + right), dtype=torch.float32)
    inner = torch.zeros((h, w), dtype=torch.float32)
    if 0 < feathering and feathering * 2 < h and feathering * 2 < w:
        rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
        cols = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
        far_h, far_w = torch.full_like(rows, float(h)), torch.full_like(cols, float(w))
        distance = torch.stack([rows if top else far_h, h - rows if bottom else far_h,
                                cols if left else far_w, w - cols if right else far_w]).amin(0)
        fade = ((feathering - distance) / feathering).clamp_min(0)
        inner = torch.where(distance < feathering, fade * fade, inner)
    mask[top:top + h, left:left + w] = inner
    return ImageAndMask(out, mask[None])


@node(category="image", display_name="EmptyImage")
def EmptyImage(width: int = Field(512, ge=1, le=MAX), height: int = Field(512, ge=1, le=MAX),
               batch_size: int = Field(1, ge=1, le=4096),
               color: int = Field(0, ge=0, le=0xFFFFFF)) -> Image:
    """A batch of pictures of one colour, given as 0xRRGGBB (0 = black, 16777215 = white)."""
    import torch

    rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
    return torch.tensor(rgb, dtype=torch.float32).expand(batch_size, height, width, 3).clone()


@node(category="image", display_name="Invert Image")
def ImageInvert(image: Image) -> Image:
    """1 - each value."""
    return 1.0 - image


def _blend(a, b, mode: str):
    import torch

    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":  # the W3C compositing spec's soft light
        d = torch.where(a <= 0.25, ((16 * a - 12) * a + 4) * a, torch.sqrt(a))
        return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (d - a))
    return a - b  # difference, signed as ComfyUI has it (the result is clamped)


@node(category="image/postprocessing", display_name="Image Blend")
def ImageBlend(image1: Image, image2: Image,
               blend_factor: float = Field(0.5, ge=0.0, le=1.0, step=0.01),
               blend_mode: str = Field("normal", choices=BLEND_MODES)) -> Image:
    """image1 mixed with image1 <mode> image2 by ``blend_factor`` (0 = image1). image2 is
    resized (bicubic, centre crop) to image1's size when they differ."""
    if image1.shape != image2.shape:
        image2 = _resize(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
    blended = _blend(image1, image2.to(image1.dtype), blend_mode)
    return (image1 * (1 - blend_factor) + blended * blend_factor).clamp(0, 1)


@node(category="image", display_name="Batch Images")
def ImageBatch(image1: Image, image2: Image) -> Image:
    """One batch with image1's pictures then image2's (resized to image1's size, bilinear with
    a centre crop, when they differ)."""
    import torch

    if image1.shape[1:] != image2.shape[1:]:
        if image1.shape[-1] != image2.shape[-1]:
            raise NodeError(f"images with {image1.shape[-1]} and {image2.shape[-1]} channels "
                            "cannot be batched", input="image2")
        image2 = _resize(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
    return torch.cat([image1, image2.to(image1.dtype)])


@node(category="image", display_name="Image Composite Masked")
def ImageCompositeMasked(destination: Image, source: Image, x: int = Field(0, ge=0, le=MAX),
                         y: int = Field(0, ge=0, le=MAX), resize_source: bool = False,
                         mask: Mask | None = None) -> Image:
    """``source`` pasted on ``destination`` at (x, y), where ``mask`` is 1 (everywhere without
    a mask); ``resize_source`` first stretches it to the destination's size."""
    from nodeflow.diffusion.image_ops import composite

    if source.shape[-1] != destination.shape[-1]:
        raise NodeError(f"source has {source.shape[-1]} channels, destination "
                        f"{destination.shape[-1]}", input="source")
    out = composite(destination.movedim(-1, 1), source.movedim(-1, 1), x, y, mask, 1,
                    resize_source)
    return out.movedim(1, -1)


@node(category="mask", display_name="Convert Mask to Image")
def MaskToImage(mask: Mask) -> Image:
    """A grey picture of the mask (white = 1)."""
    return mask.reshape((-1, 1, *mask.shape[-2:])).movedim(1, -1).expand(-1, -1, -1, 3).clone()
