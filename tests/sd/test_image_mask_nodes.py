"""Image and mask nodes against ComfyUI's arithmetic: each expected value is computed here the
way ComfyUI's node computes it (loops over pixels where ComfyUI loops), or by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

from nodeflow.plugins import load_registry
from nodeflow.testing import contract_problems


@pytest.fixture(scope="module")
def nodes():
    registry = load_registry(None, entry_points=False, custom=False)
    return lambda name: registry.get(name)


def picture(b=1, h=6, w=10, seed=0):
    return torch.rand(b, h, w, 3, generator=torch.Generator().manual_seed(seed))


def test_image_scale_sizes_crop_and_methods(nodes):
    scale = nodes("ImageScale").fn
    image = picture(2, 6, 10)
    assert scale(image, "bilinear", 0, 0, "disabled") is image
    assert scale(image, "bilinear", 0, 12, "disabled").shape == (2, 12, 20, 3)  # 10 * 12 / 6
    assert scale(image, "area", 5, 0, "disabled").shape == (2, 3, 5, 3)
    for method in ("nearest-exact", "bilinear", "area", "bicubic"):
        expected = F.interpolate(image.movedim(-1, 1), size=(9, 7), mode=method).movedim(1, -1)
        assert torch.equal(scale(image, method, 7, 9, "disabled"), expected)
    # centre crop to 1:1 first: a 10-wide, 6-high picture loses round((10 - 6) / 2) = 2 columns
    # on each side, then 6x6 -> 4x4
    cropped = F.interpolate(image.movedim(-1, 1)[..., :, 2:8], size=(4, 4), mode="bilinear")
    assert torch.equal(scale(image, "bilinear", 4, 4, "center"), cropped.movedim(1, -1))
    # lanczos goes through 8-bit PIL pictures, as ComfyUI's does
    first = PILImage.fromarray(np.clip(255.0 * image[0].numpy(), 0, 255).astype(np.uint8))
    lanczos = np.array(first.resize((7, 5), resample=PILImage.Resampling.LANCZOS)) / 255.0
    assert torch.allclose(scale(image, "lanczos", 7, 5, "disabled")[0],
                          torch.from_numpy(lanczos).float(), atol=1e-6)


def test_image_scale_by_and_to_total_pixels(nodes):
    image = picture(1, 6, 10)
    assert nodes("ImageScaleBy").fn(image, "bicubic", 1.25).shape == (1, 8, 12, 3)  # round(7.5)=8
    total = nodes("ImageScaleToTotalPixels").fn
    scale_by = math.sqrt(0.01 * 1024 * 1024 / 60)
    assert total(image, "bilinear", 0.01, 1).shape == (1, round(6 * scale_by),
                                                       round(10 * scale_by), 3)
    # sides 79.3 and 132.2 pixels, in steps of 16: 5 and 8 steps
    assert total(image, "bilinear", 0.01, 16).shape == (1, 80, 128, 3)


def test_image_crop_clamps_its_corner_like_comfyui(nodes):
    crop = nodes("ImageCrop").fn
    image = picture(1, 6, 10)
    assert torch.equal(crop(image, 4, 3, 2, 1), image[:, 1:4, 2:6])
    assert torch.equal(crop(image, 512, 512, 50, 50), image[:, 5:, 9:])  # last pixel
    assert crop(image, 4, 3, 2, 1).data_ptr() != image.data_ptr()


def pad_reference(image, left, top, right, bottom, feathering):
    """ComfyUI's ImagePadForOutpaint, pixel by pixel."""
    b, h, w, c = image.shape
    out = torch.ones((b, h + top + bottom, w + left + right, c)) * 0.5
    out[:, top:top + h, left:left + w] = image
    mask = torch.ones((h + top + bottom, w + left + right))
    inner = torch.zeros((h, w))
    if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
        for i in range(h):
            for j in range(w):
                d = min(i if top else h, h - i if bottom else h, j if left else w,
                        w - j if right else w)
                if d < feathering:
                    inner[i, j] = ((feathering - d) / feathering) ** 2
    mask[top:top + h, left:left + w] = inner
    return out, mask


@pytest.mark.parametrize("sides", [(8, 0, 16, 8, 3), (0, 8, 0, 0, 4), (8, 8, 8, 8, 0),
                                   (8, 0, 0, 0, 20)])
def test_pad_for_outpaint_matches_comfyui(nodes, sides):
    image = picture(2, 12, 14)
    out, mask = nodes("ImagePadForOutpaint").fn(image, *sides)
    expected_image, expected_mask = pad_reference(image, *sides)
    assert torch.equal(out, expected_image)
    assert mask.shape == (1, *expected_mask.shape)
    assert torch.allclose(mask[0], expected_mask, atol=1e-6)


def test_invert_batch_and_mask_to_image(nodes):
    image = picture(1, 6, 10)
    assert torch.equal(nodes("ImageInvert").fn(image), 1.0 - image)
    joined = nodes("ImageBatch").fn(image, picture(2, 6, 10, seed=1))
    assert joined.shape == (3, 6, 10, 3) and torch.equal(joined[0], image[0])
    small = picture(1, 3, 3, seed=2)  # resized: bilinear after a centre crop to 10:6
    expected = F.interpolate(small.movedim(-1, 1)[..., 1:2, :], size=(6, 10), mode="bilinear")
    assert torch.equal(nodes("ImageBatch").fn(image, small)[1:], expected.movedim(1, -1))
    mask = torch.rand(2, 4, 5)
    as_image = nodes("MaskToImage").fn(mask)
    assert as_image.shape == (2, 4, 5, 3) and torch.equal(as_image[..., 1], mask)


def test_image_blend_modes(nodes):
    blend = nodes("ImageBlend").fn
    a = torch.tensor([0.2, 0.6, 0.9]).reshape(1, 1, 1, 3)
    b = torch.tensor([0.7, 0.3, 0.1]).reshape(1, 1, 1, 3)
    g = lambda x: ((16 * x - 12) * x + 4) * x if x <= 0.25 else math.sqrt(x)  # noqa: E731
    soft = [x - (1 - 2 * y) * x * (1 - x) if y <= 0.5 else x + (2 * y - 1) * (g(x) - x)
            for x, y in zip([0.2, 0.6, 0.9], [0.7, 0.3, 0.1])]
    modes = {"normal": [0.7, 0.3, 0.1], "multiply": [0.14, 0.18, 0.09],
             "screen": [0.76, 0.72, 0.91], "overlay": [0.28, 1 - 2 * 0.4 * 0.7, 1 - 2 * 0.1 * 0.9],
             "soft_light": soft, "difference": [-0.5, 0.3, 0.8]}
    for mode, mixed in modes.items():
        expected = (a * 0.6 + torch.tensor(mixed).reshape(1, 1, 1, 3) * 0.4).clamp(0, 1)
        assert torch.allclose(blend(a, b, 0.4, mode), expected, atol=1e-6), mode
    resized = blend(picture(1, 6, 10), picture(1, 3, 5, seed=3), 1.0, "normal")
    assert resized.shape == (1, 6, 10, 3)


def composite_reference(destination, source, x, y, mask):
    """ComfyUI's composite for images (multiplier 1), with loops over the pasted window."""
    out = destination.clone()
    h, w = destination.shape[1:3]
    m = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]), size=source.shape[1:3],
                      mode="bilinear")[:, 0]
    for i in range(source.shape[1]):
        for j in range(source.shape[2]):
            if y + i < h and x + j < w:
                k = m[:, i, j, None]
                out[:, y + i, x + j] = k * source[:, i, j] + (1 - k) * destination[:, y + i, x + j]
    return out


def test_image_composite_masked(nodes):
    composite = nodes("ImageCompositeMasked").fn
    destination, source = picture(2, 8, 10), picture(1, 5, 4, seed=4)
    mask = torch.rand(1, 3, 2, generator=torch.Generator().manual_seed(5))
    out = composite(destination, source, 7, 5, False, mask)
    assert torch.allclose(out, composite_reference(destination, source.expand(2, -1, -1, -1),
                                                   7, 5, mask), atol=1e-6)
    plain = composite(destination, source, 1, 2, False, None)
    assert torch.equal(plain[:, 2:7, 1:5], source.expand(2, -1, -1, -1))
    assert torch.equal(plain[:, :2], destination[:, :2])
    stretched = composite(destination, source, 0, 0, True, None)
    assert torch.allclose(stretched, F.interpolate(source.movedim(-1, 1), size=(8, 10),
                                                   mode="bilinear").movedim(1, -1).expand(2, -1, -1, -1))
    assert torch.equal(composite(destination, source, 10, 0, False, None), destination)


def test_grow_mask_is_a_repeated_dilation_or_erosion(nodes):
    grow = nodes("GrowMask").fn
    dot = torch.zeros(1, 9, 9)
    dot[0, 4, 4] = 1.0
    diamond = grow(dot, 2, True)[0]
    ys, xs = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")
    assert torch.equal(diamond, ((ys - 4).abs() + (xs - 4).abs() <= 2).float())
    square = grow(dot, 2, False)[0]
    assert torch.equal(square, (((ys - 4).abs() <= 2) & ((xs - 4).abs() <= 2)).float())
    assert torch.equal(grow(square[None], -2, False)[0], dot[0])
    soft = torch.rand(2, 5, 6)
    assert torch.allclose(grow(soft, 1, False), F.max_pool2d(
        F.pad(soft[:, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0])


def test_invert_crop_and_feather_masks(nodes):
    mask = torch.rand(2, 6, 8)
    assert torch.equal(nodes("InvertMask").fn(mask), 1.0 - mask)
    assert torch.equal(nodes("CropMask").fn(mask, 3, 2, 4, 10), mask[:, 2:, 3:7])
    assert torch.equal(nodes("CropMask").fn(mask[0], 0, 0, 2, 2), mask[:1, :2, :2])
    feathered = nodes("FeatherMask").fn(torch.ones(1, 6, 8), 2, 3, 4, 0)[0]
    assert feathered[:, 0].tolist() == pytest.approx([1 / 2 / 3, 1 / 2 * 2 / 3, 1 / 2, 1 / 2,
                                                      1 / 2, 1 / 2])
    assert feathered[3, :].tolist() == pytest.approx([0.5, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert torch.equal(nodes("FeatherMask").fn(mask, 0, 0, 0, 0), mask)


def test_contracts(nodes):
    image, mask = picture(2, 16, 16), torch.rand(2, 16, 16)
    samples = {
        "ImageScale": {"image": image, "width": 8}, "ImageScaleBy": {"image": image},
        "ImageScaleToTotalPixels": {"image": image, "megapixels": 0.01},
        "ImageCrop": {"image": image}, "ImagePadForOutpaint": {"image": image, "left": 8},
        "ImageInvert": {"image": image}, "ImageBlend": {"image1": image, "image2": image},
        "ImageBatch": {"image1": image, "image2": image},
        "ImageCompositeMasked": {"destination": image, "source": image, "mask": mask},
        "MaskToImage": {"mask": mask}, "GrowMask": {"mask": mask, "expand": 1},
        "InvertMask": {"mask": mask}, "FeatherMask": {"mask": mask, "left": 2},
        "CropMask": {"mask": mask, "width": 4, "height": 4},
    }
    problems = {name: contract_problems(nodes(name), inputs) for name, inputs in samples.items()}
    assert problems == {name: [] for name in samples}
