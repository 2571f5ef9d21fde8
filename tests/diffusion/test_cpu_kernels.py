"""The oneDNN CPU paths give PyTorch's results, take the calls they were measured faster on and
no others, keep autograd working, and reach every model a loader builds."""
from __future__ import annotations

import pytest
import torch

from nodeflow.diffusion import cpu_kernels
from nodeflow.diffusion.checkpoints import load_checkpoint
from nodeflow.diffusion.cpu_kernels import CpuConv2d, CpuLinear, use_cpu_kernels
from nodeflow.diffusion.fp8 import Fp8Conv2d, Fp8Linear, store_in_fp8

from tests.diffusion.call_counts import count_calls
from tests.diffusion.tiny_models import make_tiny_checkpoint, tiny_config_root

pytestmark = pytest.mark.skipif(cpu_kernels._LINEAR is None, reason="this torch has no oneDNN linear op")


@pytest.fixture
def matmuls(monkeypatch):
    """Counts the calls that went through the oneDNN matrix product."""
    return count_calls(monkeypatch, cpu_kernels, "_matmul")


@pytest.fixture
def batched(monkeypatch):
    """Counts the calls that went through the batched weights-times-columns product (the
    columns' shape)."""
    return count_calls(monkeypatch, cpu_kernels, "_weights_times_columns", lambda args: args[1].shape)


@pytest.fixture(params=[False, True], ids=["amd", "intel"])
def mkl_native(request, monkeypatch):
    """Both machines' rules, whichever this one is (they differ only in which products MKL does;
    bf16 takes oneDNN's products only where this CPU's oneDNN runs them)."""
    native = request.param
    monkeypatch.setattr(cpu_kernels, "_POINTWISE_DTYPES", cpu_kernels._BF16 | ({torch.float32} if native else set()))
    monkeypatch.setattr(cpu_kernels, "_UNFOLD_BATCHED_DTYPES", {torch.float32} if native else set())
    return native


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


def as_cpu_conv(layer: torch.nn.Conv2d) -> torch.nn.Conv2d:
    fast = CpuConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                     bias=layer.bias is not None)
    fast.load_state_dict(layer.state_dict())
    return fast


# (in, out, kernel, stride, padding, batch, size, dtype, path): "unfold" goes through unfold and
# a matrix product, "1x1" is one batched product, None is PyTorch's own convolution; the bf16
# rows take PyTorch's on a CPU whose oneDNN has no bf16 products (AVX2 only: there they raise)
CONVS = [
    (1280, 64, 3, 1, 1, 2, 4, torch.float32, "unfold"),      # the UNet's lowest level
    (1280, 64, 3, 1, 1, 2, 8, torch.float32, "unfold"),
    (1280, 64, 3, 2, 1, 2, 8, torch.float32, "unfold"),      # its stride-2 downsampler
    (2560, 32, 3, 1, 1, 1, 4, torch.bfloat16, "unfold"),
    (1280, 64, 3, 1, 1, 2, 16, torch.float32, None),         # 512 output pixels: oneDNN's convolution
    (1280, 64, 3, 1, 1, 2, 16, torch.bfloat16, None),        # 512 > bf16's 128
    (640, 64, 3, 1, 1, 2, 4, torch.float32, None),           # shallow: 640 * 9 < 8192
    (320, 64, 1, 1, 0, 2, 8, torch.float32, "1x1"),
    (320, 64, 1, 1, 0, 2, 8, torch.bfloat16, "1x1"),
    (320, 64, 1, 2, 0, 2, 8, torch.float32, None),           # a strided 1x1
]


@pytest.mark.parametrize("cin,cout,k,stride,pad,batch,size,dtype,path", CONVS)
def test_conv_matches_pytorch_and_takes_the_measured_path(matmuls, batched, mkl_native, cin, cout, k, stride, pad,
                                                          batch, size, dtype, path):
    if dtype == torch.bfloat16 and not cpu_kernels.ONEDNN_BF16:
        path = None
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(cin, cout, k, stride, pad).to(dtype)
    fast = as_cpu_conv(plain).to(dtype)
    x = torch.randn(batch, cin, size, size).to(dtype)
    with torch.no_grad():
        expected, got = plain(x), fast(x)
        named = cpu_kernels.conv_path(fast, x)
    assert got.shape == expected.shape and got.dtype == dtype and got.is_contiguous()
    assert relative_error(got, expected) < (1e-5 if dtype == torch.float32 else 2e-2)
    batches = path == "1x1" and (dtype == torch.bfloat16 or mkl_native) or (
        path == "unfold" and dtype == torch.float32 and mkl_native)
    assert bool(batched) == batches
    assert bool(matmuls) == (path == "unfold" and not batches)
    assert named == {"1x1": "1x1 batched product" if batches else "PyTorch",
                     "unfold": "unfold + batched product" if batches else "unfold + oneDNN", None: "PyTorch"}[path]


def test_a_channels_last_1x1_convolution_keeps_onednn(batched, mkl_native):
    """The VAE's layout: oneDNN's convolution was even with any product there."""
    plain = torch.nn.Conv2d(64, 32, 1)
    fast = as_cpu_conv(plain)
    x = torch.randn(1, 64, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = fast(x)
        assert torch.equal(got, plain(x)) and got.is_contiguous(memory_format=torch.channels_last)
    assert batched == []


def test_linear_matches_pytorch_through_onednn_at_fp32_when_large_enough(matmuls):
    torch.manual_seed(0)
    plain = torch.nn.Linear(320, 640)
    fast = CpuLinear(320, 640)
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(2, 77, 320)
    with torch.no_grad():
        assert relative_error(fast(x), plain(x)) < 1e-5
        assert len(matmuls) == 1
        fast.to(torch.bfloat16)(x.to(torch.bfloat16))  # bf16 Linear already uses oneDNN
        small = CpuLinear(32, 32)
        small(torch.randn(64, 32))  # 65,536 multiply-adds: oneDNN's call overhead would not pay
    assert len(matmuls) == 1


def test_a_call_that_needs_gradients_uses_pytorch_kernels(matmuls):
    torch.manual_seed(0)
    plain = torch.nn.Linear(16, 8)
    fast = CpuLinear(16, 8)
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(4, 16)
    fast(x).square().sum().backward()
    plain(x).square().sum().backward()
    assert torch.allclose(fast.weight.grad, plain.weight.grad)
    conv = as_cpu_conv(torch.nn.Conv2d(1280, 4, 3, padding=1))
    conv(torch.randn(1, 1280, 4, 4)).sum().backward()
    assert conv.weight.grad is not None
    assert matmuls == []


def test_use_cpu_kernels_swaps_plain_layers_in_place():
    class Mine(torch.nn.Linear):
        pass

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 4), Mine(4, 4))
    keys = list(model.state_dict())
    assert use_cpu_kernels(model) is model
    assert [type(m) for m in model] == [CpuConv2d, CpuLinear, Mine]  # a subclass keeps its forward
    assert list(model.state_dict()) == keys
    store_in_fp8(model, "fp8_e4m3fn")  # fp8 storage still applies, and computes the same way
    assert [type(m) for m in model][:2] == [Fp8Conv2d, Fp8Linear]


def test_loaded_models_get_the_cpu_kernels(tmp_path):
    checkpoint = load_checkpoint(make_tiny_checkpoint(tmp_path), configs=tiny_config_root(tmp_path))
    for model in (checkpoint.unet, checkpoint.vae, *checkpoint.text_encoders):
        layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        assert layers and all(type(m) in (CpuLinear, CpuConv2d) for m in layers)
