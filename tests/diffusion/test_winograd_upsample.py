"""Upsampling and its convolution as Winograd over the upsampled image give the two steps'
results, band by band, in the caller's memory layout, whatever the workspace held before."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodeflow.diffusion import winograd, winograd_upsample
from nodeflow.diffusion.cpu_blocks import upsample_kernel


def two_steps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Nearest upsampling, then the convolution, in float64."""
    upsampled = F.interpolate(x.double(), scale_factor=2.0, mode="nearest")
    return F.conv2d(upsampled, weight.double(), None if bias is None else bias.double(), padding=1)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


# (batch, in, out, height, width, pixels per band): one band; a band per source row; bands that
# leave a shorter last one; a 1x1 image (every neighbour is padding); odd sizes (the source
# need not be even, unlike winograd.conv3x3's input)
SHAPES = [(1, 8, 5, 6, 10, 2048), (2, 3, 4, 7, 5, 1), (1, 16, 16, 12, 12, 20), (3, 7, 9, 1, 1, 2048),
          (2, 4, 4, 10, 6, 17), (1, 32, 24, 9, 15, 40)]


@pytest.mark.parametrize("batch,cin,cout,height,width,band", SHAPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_upsampling_then_the_convolution(monkeypatch, batch, cin, cout, height, width, band, channels_last):
    monkeypatch.setattr(winograd_upsample, "PIXELS_PER_BAND", band)
    torch.manual_seed(0)
    x = torch.randn(batch, cin, height, width)
    weight, bias = torch.randn(cout, cin, 3, 3), torch.randn(cout)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = two_steps(x, weight, bias)
    got = winograd_upsample.upsample_conv3x3(x, weight, bias)
    assert got.shape == (batch, cout, 2 * height, 2 * width) and got.dtype == torch.float32
    if height * width > 1:  # a 1x1 image is both layouts at once
        layout = torch.channels_last if channels_last else torch.contiguous_format
        assert got.is_contiguous(memory_format=layout)
    assert relative_error(got, expected) < 1e-6
    assert relative_error(winograd_upsample.upsample_conv3x3(x, weight, None), two_steps(x, weight, None)) < 1e-6


def test_as_accurate_as_the_transposed_convolution_it_replaces():
    """Both against the two steps in float64, on a VAE-like layer (weights of a trained
    model's scale): Winograd's error is no worse than the transposed convolution's."""
    torch.manual_seed(0)
    x = torch.randn(1, 128, 24, 24).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(128, 128, 3, 3) * 0.03, torch.randn(128) * 0.1
    expected = two_steps(x, weight, bias)
    winograd_error = relative_error(winograd_upsample.upsample_conv3x3(x, weight, bias), expected)
    transposed_error = relative_error(F.conv_transpose2d(x, upsample_kernel(weight), bias, stride=2, padding=1),
                                      expected)
    assert winograd_error < 1e-6 and winograd_error < 2 * transposed_error


def test_image_edges_are_zero_in_every_band(monkeypatch):
    """Bands reuse one buffer: the padding above the first band and below the last must be
    zero even after a middle band wrote image rows there. A ones image and a ones kernel make
    every output the count of image pixels under its window."""
    monkeypatch.setattr(winograd_upsample, "PIXELS_PER_BAND", 8)  # one source row per band
    x = torch.ones(1, 2, 5, 6)
    weight = torch.ones(1, 2, 3, 3)
    got = winograd_upsample.upsample_conv3x3(x, weight, None)[0, 0]
    expected = two_steps(x, weight, None)[0, 0].float()
    assert torch.allclose(got, expected)
    assert got[0, 0].item() == 8.0 and got[4, 4].item() == 18.0 and got[-1, -1].item() == 8.0


def test_stale_workspace_values_never_reach_the_output():
    """A wide image, then a narrower one: the workspace holds the wide image's values where the
    narrower one's padding and spare columns lie, which must read as zero."""
    winograd.WORKSPACE.drop()
    torch.manual_seed(0)
    weight = torch.randn(8, 8, 3, 3)
    winograd_upsample.upsample_conv3x3(torch.randn(1, 8, 6, 30) + 100.0, weight, None)
    held = winograd.WORKSPACE.held_bytes()
    narrow = torch.randn(2, 8, 5, 4)
    assert relative_error(winograd_upsample.upsample_conv3x3(narrow, weight, None), two_steps(narrow, weight, None)) < 1e-6
    assert winograd.WORKSPACE.held_bytes() == held  # the smaller call took the front of the same buffer


def test_non_finite_values_stay_where_the_two_steps_put_them():
    """An inf in the source makes exactly the outputs whose windows cover it non-finite (inf or
    NaN), as in the two steps: no output's sums reach past its own window."""
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 2] = float("inf")
    weight = torch.ones(1, 1, 3, 3)
    got = winograd_upsample.upsample_conv3x3(x, weight, None)[0, 0]
    expected = two_steps(x, weight, None)[0, 0]
    assert torch.equal(torch.isfinite(got), torch.isfinite(expected))
