"""ControlNet hint images that need no model: Canny edges (ComfyUI's core node) and the two
model-free line extractors of comfyui_controlnet_aux, under that pack's names and inputs, so
its workflows import: XDoG lines (a scribble from the picture's dark strokes and edges) and
binary lines (a threshold, Otsu's when 0 or 255).

The pack runs OpenCV; here the same arithmetic runs in torch: Gaussian kernels of OpenCV's
size for a sigma (2 * round(4 sigma) + 1) with its mirrored border, BT.601 grey, 8-bit
rounding where the pack converts to uint8. ``resolution`` scales the picture so its short
side has that many pixels first (bicubic), as the pack does; the pack also pads to a multiple
of 64 pixels and crops the padding off again, which only changes pixels near the border.
"""
from __future__ import annotations

from nodeflow import Field, Image, NodeError, node

RESOLUTION = Field(512, ge=64, le=16384, step=64)


def _check(image):
    if image.ndim != 4 or image.shape[-1] < 3:
        raise NodeError(f"expected an IMAGE [batch, height, width, 3], got {tuple(image.shape)}",
                        input="image")


def _at_resolution(image, resolution: int):
    """[B, 3, H', W'] in 0..255 with the short side ``resolution`` (bicubic, 8-bit)."""
    import torch.nn.functional as F

    pixels = image[..., :3].movedim(-1, 1).float() * 255.0
    height, width = pixels.shape[-2:]
    scale = resolution / min(height, width)
    size = (round(height * scale), round(width * scale))
    if size != (height, width):
        pixels = F.interpolate(pixels, size=size, mode="bicubic", align_corners=False)
    return pixels.clamp(0, 255).round()


def _gaussian(pixels, sigma: float):
    """OpenCV's GaussianBlur(ksize (0, 0), sigma) on float pixels: a kernel of
    2 * round(4 sigma) + 1 taps, mirrored border (BORDER_REFLECT_101)."""
    import torch
    import torch.nn.functional as F

    radius = round(4 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).float()
    channels = pixels.shape[1]
    mode = "reflect" if radius < min(pixels.shape[-2:]) else "replicate"
    out = F.pad(pixels, (radius, radius, 0, 0), mode=mode)
    out = F.conv2d(out, kernel.reshape(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    out = F.pad(out, (0, 0, radius, radius), mode=mode)
    return F.conv2d(out, kernel.reshape(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _as_image(lines):
    """A [B, H, W] boolean map as a white-on-black IMAGE."""
    return lines.float()[..., None].expand(*lines.shape, 3).contiguous()


def xdog_lines(image, threshold: int, resolution: int):
    """White where the picture is darker than its neighbourhood: a difference of Gaussians
    (sigma 0.5 against 5), its most negative channel, above threshold / 2."""
    import torch

    pixels = _at_resolution(image, resolution)
    difference = (_gaussian(pixels, 5.0) - _gaussian(pixels, 0.5)).amin(dim=1)
    dog = torch.clamp(255.0 - difference, 0, 255).floor()  # the pack's uint8 conversion
    return _as_image(2 * (255.0 - dog) > threshold)


def otsu_threshold(grey) -> int:
    """Otsu's threshold of 8-bit grey values: the one that best separates two classes."""
    import torch

    counts = torch.bincount(grey.flatten().long(), minlength=256).double()
    levels = torch.arange(256, dtype=torch.float64)
    weight = counts.cumsum(0)
    mass = (counts * levels).cumsum(0)
    total, total_mass = weight[-1], mass[-1]
    background = weight.clamp(min=1)
    foreground = (total - weight).clamp(min=1)
    between = weight * (total - weight) * (mass / background - (total_mass - mass) / foreground) ** 2
    return int(torch.argmax(between))


def binary_lines(image, threshold: int, resolution: int):
    """White where the grey value is at most ``threshold`` (0 or 255: Otsu's)."""
    pixels = _at_resolution(image, resolution)
    grey = (0.299 * pixels[:, 0] + 0.587 * pixels[:, 1] + 0.114 * pixels[:, 2]).round()
    if threshold in (0, 255):
        return _as_image(grey <= otsu_threshold(grey))
    return _as_image(grey <= threshold)


@node(category="image/preprocessors", display_name="Canny")
def Canny(image: Image, low_threshold: float = Field(0.4, ge=0.01, le=0.99, step=0.01),
          high_threshold: float = Field(0.8, ge=0.01, le=0.99, step=0.01)) -> Image:
    """Edges of the image (white on black), kornia's Canny detector as ComfyUI runs it: the
    hint a Canny ControlNet expects."""
    from kornia.filters import canny

    _check(image)
    if low_threshold > high_threshold:
        raise NodeError(f"low_threshold {low_threshold} is above high_threshold "
                        f"{high_threshold}", input="low_threshold")
    _, edges = canny(image[..., :3].movedim(-1, 1), low_threshold, high_threshold)
    return edges.repeat(1, 3, 1, 1).movedim(1, -1)


@node(category="image/preprocessors", display_name="Scribble XDoG Lines")
def Scribble_XDoG_Preprocessor(image: Image, threshold: int = Field(32, ge=1, le=64),
                               resolution: int = RESOLUTION) -> Image:
    """Scribble lines from the picture (white on black), with no model: an extended
    difference of Gaussians marks strokes and edges darker than their surroundings; a lower
    ``threshold`` keeps fainter lines. The hint scribble and lineart ControlNets expect."""
    _check(image)
    return xdog_lines(image, threshold, resolution)


@node(category="image/preprocessors", display_name="Binary Lines")
def BinaryPreprocessor(image: Image, bin_threshold: int = Field(100, ge=0, le=255),
                       resolution: int = RESOLUTION) -> Image:
    """The picture's dark parts (grey value up to ``bin_threshold``) in white on black: ink
    on paper becomes a scribble. 0 or 255 picks the threshold by Otsu's method."""
    _check(image)
    return binary_lines(image, bin_threshold, resolution)
