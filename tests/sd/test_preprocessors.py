"""The model-free hint preprocessors: XDoG lines and binary lines against an independent
reference (scipy's Gaussian filter with OpenCV's kernel size and border), Otsu's threshold,
the resolution input, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from nodeflow import NodeError
from nodes.sd.preprocessors import (BinaryPreprocessor, Scribble_XDoG_Preprocessor,
                                    otsu_threshold)


def drawing(size: int = 64) -> torch.Tensor:
    """A dark diagonal stroke and a grey square on white paper, [1, size, size, 3]."""
    picture = np.ones((size, size, 3))
    for i in range(size):
        picture[i, max(0, i - 1):i + 2] = 0.1
    picture[40:56, 8:24] = [0.6, 0.55, 0.5]
    return torch.from_numpy(picture).float()[None]


def xdog_reference(picture: np.ndarray, threshold: int) -> np.ndarray:
    """The pack's XDoG on 8-bit pixels, with scipy's filter (truncate 4 sigma, mirrored)."""
    pixels = np.round(picture * 255.0)
    blur = lambda s: np.stack([ndimage.gaussian_filter(pixels[..., c], s, mode="mirror", truncate=4.0)  # noqa: E731
                               for c in range(3)], -1)
    dog = np.clip(255 - np.min(blur(5.0) - blur(0.5), axis=2), 0, 255).astype(np.uint8)
    return 2 * (255 - dog.astype(np.int64)) > threshold


def test_xdog_lines_follow_the_stroke_like_the_reference():
    image = drawing()
    lines = Scribble_XDoG_Preprocessor.fn(image, 32, 64)[0]
    assert lines.shape == (64, 64, 3) and set(lines.unique().tolist()) <= {0.0, 1.0}
    expected = xdog_reference(image[0].numpy(), 32)
    agree = (lines[..., 0].numpy().astype(bool) == expected).mean()
    assert agree > 0.995, agree  # float rounding may flip a pixel on the threshold
    assert lines[20, 20, 0] == 1 and lines[5, 50, 0] == 0  # on the stroke, on blank paper
    fainter = Scribble_XDoG_Preprocessor.fn(image, 4, 64)[0]
    assert fainter.sum() > lines.sum()  # a lower threshold keeps more lines


def test_binary_lines_threshold_and_otsu():
    image = drawing()
    fixed = BinaryPreprocessor.fn(image, 100, 64)[0][..., 0]
    assert fixed[20, 20] == 1 and fixed[48, 16] == 0 and fixed[5, 50] == 0  # stroke, grey, paper
    assert BinaryPreprocessor.fn(image, 200, 64)[0][48, 16, 0] == 1  # the grey square is <= 200
    grey = torch.tensor([10] * 50 + [200] * 50)
    assert 10 <= otsu_threshold(grey) < 200
    otsu = BinaryPreprocessor.fn(image, 0, 64)[0][..., 0]
    assert otsu[20, 20] == 1 and otsu[5, 50] == 0
    assert torch.equal(otsu, BinaryPreprocessor.fn(image, 255, 64)[0][..., 0])


def test_resolution_scales_the_short_side():
    image = drawing(64)[:, :, :48]
    assert Scribble_XDoG_Preprocessor.fn(image, 32, 96)[0].shape == (128, 96, 3)
    assert BinaryPreprocessor.fn(image, 100, 64)[0].shape == (85, 64, 3)


def test_a_mask_is_not_an_image():
    with pytest.raises(NodeError) as err:
        Scribble_XDoG_Preprocessor.fn(torch.rand(1, 8, 8), 32, 64)
    assert err.value.input == "image"
