"""Winograd F(4x4, 3x3) convolutions: their wider rounding, padding and workspace, and the CPU
layers take them for large maps only (test_winograd.py checks both tile sizes' results in the
caller's layout, band by band)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodeflow.diffusion import cpu_kernels, winograd, winograd_f4
from nodeflow.diffusion.cpu_kernels import CpuConv2d

from tests.diffusion.call_counts import count_calls
from tests.diffusion.test_winograd import error_against_float64


def test_a_wide_layer_rounds_within_a_few_times_pytorchs_own_error():
    """The price of 4x4 tiles: about 7e-6 of the output's magnitude at 256 channels, where
    PyTorch's fp32 convolution itself is off by 1-3e-6 and F(2x2, 3x3) by 4e-7."""
    torch.manual_seed(0)
    x = torch.randn(1, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(256, 256, 3, 3) / 48, torch.randn(256)
    pytorch = error_against_float64(F.conv2d(x, weight, bias, padding=1), x, weight, bias)
    tiles_4x4 = error_against_float64(winograd_f4.conv3x3(x, weight, bias), x, weight, bias)
    assert tiles_4x4 < 2e-5 and tiles_4x4 < 10 * pytorch


def test_the_image_edges_are_zero_padded_in_every_band(monkeypatch):
    monkeypatch.setattr(winograd_f4, "TILES_PER_BAND", 2)
    x = torch.ones(1, 2, 16, 8)
    weight = torch.ones(1, 2, 3, 3)
    got = winograd_f4.conv3x3(x, weight, None)[0, 0]
    assert torch.allclose(got, F.conv2d(x, weight, padding=1)[0, 0])
    assert got[0, 0].item() == 8.0 and got[15, 7].item() == 8.0 and got[5, 3].item() == 18.0


def test_it_shares_the_workspace_without_stale_values():
    """After a wider 2x2-tile call the workspace holds image values where this call's padding
    columns lie, which must read as zero; the smaller call takes the front of the same buffer."""
    winograd.WORKSPACE.drop()
    torch.manual_seed(0)
    wide, narrow = torch.randn(1, 8, 8, 40) + 5, torch.randn(2, 8, 8, 8)
    weight = torch.randn(8, 8, 3, 3)
    winograd.conv3x3(wide, weight, None)
    held = winograd.WORKSPACE.held_bytes()
    assert error_against_float64(winograd_f4.conv3x3(narrow, weight, None), narrow, weight, None) < 1e-5
    assert winograd.WORKSPACE.held_bytes() == held


def test_only_sizes_divisible_by_four():
    assert winograd_f4.applies(torch.randn(1, 4, 8, 12))
    assert not winograd_f4.applies(torch.randn(1, 4, 6, 8))
    assert not winograd_f4.applies(torch.randn(1, 4, 8, 10))


@pytest.fixture
def tile_sizes(monkeypatch):
    """Records 2 or 4 for each Winograd convolution, by the tiles it computes."""
    calls = count_calls(monkeypatch, winograd, "conv3x3", lambda args: 2)
    return count_calls(monkeypatch, winograd_f4, "conv3x3", lambda args: 4, into=calls)


def test_the_layer_takes_4x4_tiles_from_the_pixel_threshold(monkeypatch, tile_sizes):
    monkeypatch.setattr(cpu_kernels, "WINOGRAD_F4_MIN_PIXELS", 1024)
    wide = cpu_kernels.WINOGRAD_MIN_CHANNELS
    torch.manual_seed(0)
    layer = CpuConv2d(wide, wide, 3, padding=1).eval()
    with torch.no_grad():
        for shape in [(1, wide, 32, 32), (2, wide, 16, 16), (1, wide, 34, 34), (2, wide, 32, 32)]:
            x = torch.randn(shape)
            got = layer(x)
            assert error_against_float64(got, x, layer.weight, layer.bias) < 2e-5
        assert cpu_kernels.conv_path(layer, torch.randn(1, wide, 32, 32)) == cpu_kernels.WINOGRAD_F4
    # 1024 pixels; 512 (too few); 34 is not divisible by 4; 2048
    assert tile_sizes == [4, 2, 2, 4]


def test_4x4_tiles_only_where_measured(monkeypatch, tile_sizes):
    """Measured on an AVX2-only CPU; elsewhere every Winograd convolution keeps 2x2 tiles."""
    avx2 = torch.backends.cpu.get_cpu_capability() == "AVX2"
    assert (cpu_kernels.WINOGRAD_F4_MIN_PIXELS is not None) == avx2
    monkeypatch.setattr(cpu_kernels, "WINOGRAD_F4_MIN_PIXELS", None)
    wide = cpu_kernels.WINOGRAD_MIN_CHANNELS
    with torch.no_grad():
        CpuConv2d(wide, wide, 3, padding=1).eval()(torch.randn(2, wide, 64, 64))
    assert tile_sizes == [2]
