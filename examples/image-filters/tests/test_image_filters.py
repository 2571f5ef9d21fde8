"""The example pack: every node against nodeflow's contract kit, and what each filter does."""
from __future__ import annotations

import torch

from nodeflow.diffusion.latent import LatentBatch
from nodeflow.testing import NodeContract
from nodeflow_image_filters import ColorAdjust, GaussianBlur, LatentNoise, Sharpen

IMAGE = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(0))


class TestGaussianBlur(NodeContract):
    node = GaussianBlur
    sample_inputs = {"image": IMAGE}


class TestSharpen(NodeContract):
    node = Sharpen
    sample_inputs = {"image": IMAGE}


class TestColorAdjust(NodeContract):
    node = ColorAdjust
    sample_inputs = {"image": IMAGE}


class TestLatentNoise(NodeContract):
    node = LatentNoise
    sample_inputs = {"latent": LatentBatch(torch.zeros(1, 4, 4, 4))}


def test_blur_smooths_and_keeps_the_mean():
    out = GaussianBlur.fn(IMAGE, 2.0)
    assert out.shape == IMAGE.shape
    assert out.std() < IMAGE.std()
    assert abs(out.mean() - IMAGE.mean()) < 0.02


def test_sharpen_zero_is_identity_and_positive_adds_contrast():
    assert torch.allclose(Sharpen.fn(IMAGE, 0.0, 1.0), IMAGE)
    assert Sharpen.fn(IMAGE, 1.0, 1.0).std() > IMAGE.std()


def test_color_adjust_neutral_and_greyscale():
    assert torch.allclose(ColorAdjust.fn(IMAGE, 1.0, 1.0, 1.0), IMAGE, atol=1e-6)
    grey = ColorAdjust.fn(IMAGE, 1.0, 1.0, 0.0)
    assert torch.allclose(grey[..., 0], grey[..., 1], atol=1e-6)


def test_latent_noise_is_seeded():
    latent = LatentBatch(torch.zeros(1, 4, 4, 4))
    a, b = LatentNoise.fn(latent, 1.0, 5), LatentNoise.fn(latent, 1.0, 5)
    assert torch.equal(a.samples, b.samples)
    assert not torch.equal(a.samples, LatentNoise.fn(latent, 1.0, 6).samples)
