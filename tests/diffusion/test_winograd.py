"""Winograd F(2x2, 3x3) convolutions give PyTorch's results, in the caller's memory layout, band
by band, and the CPU layers take them for the wide fp32 calls only."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nodeflow.diffusion import cpu_kernels, winograd, winograd_f4
from nodeflow.diffusion.cpu_kernels import CpuConv2d
from nodeflow.engine.heap import release_free_memory

from tests.diffusion.call_counts import count_calls


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def error_against_float64(got: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias) -> float:
    exact = F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), padding=1)
    return ((got.double() - exact).abs().max() / exact.abs().max()).item()


# (module, batch, in, out, height, width, tiles per band): one band, many bands, a last band that
# is shorter, a band of a single tile row, an image of one tile (padding on every side), non-square
SHAPES = [(winograd, 1, 8, 5, 6, 10, 2048), (winograd, 2, 3, 4, 8, 4, 1), (winograd, 1, 16, 16, 12, 12, 6),
          (winograd, 3, 7, 9, 2, 2, 2048), (winograd, 2, 4, 4, 10, 6, 12), (winograd, 1, 32, 24, 14, 18, 27),
          (winograd_f4, 1, 8, 5, 8, 12, 2048), (winograd_f4, 2, 3, 4, 8, 4, 1), (winograd_f4, 1, 16, 16, 12, 12, 2),
          (winograd_f4, 3, 7, 9, 4, 4, 2048), (winograd_f4, 2, 4, 4, 20, 8, 6), (winograd_f4, 1, 32, 24, 20, 20, 10)]


@pytest.mark.parametrize("module,batch,cin,cout,height,width,band", SHAPES,
                         ids=lambda v: v.__name__.rpartition(".")[2] if hasattr(v, "__name__") else None)
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_the_convolution_in_the_callers_layout(monkeypatch, module, batch, cin, cout, height, width,
                                                       band, channels_last):
    """Both tile sizes (the F(4x4, 3x3) sums round more widely, still within 1e-5)."""
    monkeypatch.setattr(module, "TILES_PER_BAND", band)
    torch.manual_seed(0)
    x = torch.randn(batch, cin, height, width)
    weight, bias = torch.randn(cout, cin, 3, 3), torch.randn(cout)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    got = module.conv3x3(x, weight, bias)
    assert got.shape == (batch, cout, height, width) and got.dtype == torch.float32
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert got.is_contiguous(memory_format=layout)
    assert error_against_float64(got, x, weight, bias) < 1e-5
    assert error_against_float64(module.conv3x3(x, weight, None), x, weight, None) < 1e-5


def test_the_image_edges_are_zero_padded_in_every_band(monkeypatch):
    """A band reuses its buffer: the row above the first band and below the last must be zero
    even after a band in the middle wrote image rows there."""
    monkeypatch.setattr(winograd, "TILES_PER_BAND", 3)
    x = torch.ones(1, 2, 8, 6)
    weight = torch.ones(1, 2, 3, 3)
    got = winograd.conv3x3(x, weight, None)[0, 0]
    expected = F.conv2d(x, weight, padding=1)[0, 0]
    assert torch.allclose(got, expected)
    assert got[0, 0].item() == 8.0 and got[3, 3].item() == 18.0  # a corner sees 2x2 pixels, 2 channels


def test_consecutive_calls_reuse_one_workspace_without_stale_values():
    """A narrower image after a wider one: the workspace then holds image values where the
    narrower image's padding columns lie, which must read as zero."""
    winograd.WORKSPACE.drop()
    torch.manual_seed(0)
    wide, narrow = torch.randn(1, 8, 6, 14) + 5, torch.randn(2, 8, 6, 4)
    weight = torch.randn(8, 8, 3, 3)
    winograd.conv3x3(wide, weight, None)
    held = winograd.WORKSPACE.held_bytes()
    assert held > 0
    assert relative_error(winograd.conv3x3(narrow, weight, None), F.conv2d(narrow, weight, padding=1)) < 1e-5
    assert winograd.WORKSPACE.held_bytes() == held  # the smaller call took the front of the same buffer


def test_trimming_the_heap_drops_the_workspace():
    winograd.conv3x3(torch.randn(1, 4, 4, 4), torch.randn(4, 4, 3, 3), None)
    assert winograd.WORKSPACE.held_bytes() > 0
    release_free_memory()
    assert winograd.WORKSPACE.held_bytes() == 0


def test_a_call_while_the_workspace_is_taken_uses_fresh_memory():
    """As when another thread is in a Winograd convolution: that call's buffer is left alone."""
    torch.manual_seed(0)
    x, weight = torch.randn(1, 4, 6, 6), torch.randn(4, 4, 3, 3)
    with winograd.WORKSPACE.take(1000, torch.float32) as taken:
        taken.fill_(7.0)
        got = winograd.conv3x3(x, weight, None)
        assert bool((taken == 7.0).all())
    assert relative_error(got, F.conv2d(x, weight, padding=1)) < 1e-5


def test_only_the_shapes_it_implements():
    x, weight = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    assert winograd.applies(x, weight, (1, 1), (1, 1), (1, 1), 1)
    assert not winograd.applies(torch.randn(1, 4, 7, 8), weight, (1, 1), (1, 1), (1, 1), 1)  # odd height
    assert not winograd.applies(x, weight, (2, 2), (1, 1), (1, 1), 1)
    assert not winograd.applies(x, weight, (1, 1), (0, 0), (1, 1), 1)
    assert not winograd.applies(x, weight, (1, 1), (1, 1), (2, 2), 1)
    assert not winograd.applies(x, torch.randn(4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2)
    assert not winograd.applies(x, torch.randn(4, 4, 1, 1), (1, 1), (0, 0), (1, 1), 1)


@pytest.fixture
def winograd_calls(monkeypatch):
    """Records the weight shape of each Winograd convolution, 2x2 or 4x4 tiles."""
    calls = count_calls(monkeypatch, winograd, "conv3x3", lambda args: tuple(args[1].shape))
    return count_calls(monkeypatch, winograd_f4, "conv3x3", lambda args: tuple(args[1].shape), into=calls)


def cpu_conv(cin: int, cout: int, dtype=torch.float32, **options) -> tuple[torch.nn.Conv2d, CpuConv2d]:
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(cin, cout, 3, padding=1, **options).to(dtype)
    fast = CpuConv2d(cin, cout, 3, padding=1, **options).to(dtype)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def test_a_wide_fp32_layer_takes_winograd_with_the_same_results(winograd_calls):
    wide = cpu_kernels.WINOGRAD_MIN_CHANNELS
    plain, fast = cpu_conv(wide, wide)
    x = torch.randn(2, wide, 16, 16)
    with torch.no_grad():
        assert relative_error(fast(x), plain(x)) < 1e-5
    assert winograd_calls == [(wide, wide, 3, 3)]


def test_narrow_bf16_training_and_small_calls_keep_pytorchs_convolution(winograd_calls):
    """Each call is large enough but for the one reason it is left to PyTorch."""
    wide = cpu_kernels.WINOGRAD_MIN_CHANNELS
    side = 32  # 1024 output pixels: enough
    assert side * side >= cpu_kernels.WINOGRAD_MIN_PIXELS
    with torch.no_grad():
        cpu_conv(wide // 2, wide)[1](torch.randn(1, wide // 2, side, side))  # too few input channels
        cpu_conv(wide, wide // 2)[1](torch.randn(1, wide, side, side))  # too few output channels
        cpu_conv(wide, wide, torch.bfloat16)[1](torch.randn(1, wide, side, side, dtype=torch.bfloat16))
        cpu_conv(wide, wide)[1](torch.randn(1, wide, 8, 8))  # too few pixels to pay for the transforms
        cpu_conv(wide, wide, padding_mode="reflect")[1](torch.randn(1, wide, side, side))
        cpu_conv(wide, wide)[1](torch.randn(1, wide, side + 1, side))  # odd height
    fast = cpu_conv(wide, wide)[1]
    fast(torch.randn(1, wide, side, side)).sum().backward()  # gradients: PyTorch's kernels
    assert fast.weight.grad is not None
    with torch.no_grad():
        fast(torch.randn(1, wide, side, side))  # and the same layer without them: Winograd
    assert winograd_calls == [(wide, wide, 3, 3)]
