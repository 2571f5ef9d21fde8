"""oneDNN matrix products on the CPU where PyTorch's default kernels leave most of the speed unused.

Measured with bench/cpu_kernels.py on the 2-core AMD EPYC (Zen 4) machine the benches run on:

- An fp32 ``Linear`` goes to MKL's sgemm, 150-200 GFLOP/s there; oneDNN's inner product (the
  kernel torch.compile puts in frozen CPU graphs) does 400-450 on the same shapes. A bf16
  ``Linear`` already uses oneDNN and is left alone.
- A 3x3 convolution over a deep input (1280 channels or more: the UNet's two lowest
  resolutions) with few output pixels falls off oneDNN's fast convolution path: 25-33 ms for
  what takes 6 ms as an im2col (``unfold``) followed by the same oneDNN matrix product, at
  fp32 and at bf16. Shallower or larger convolutions keep oneDNN's own, which wins there.

On an Intel Xeon (AVX-512, AMX) MKL's sgemm is as fast as oneDNN's inner product: a whole fp32
UNet call took the same time either way there, so the Linear rule gains on AMD and costs
nothing measurable on Intel; the unfold path gains on both (0.25-0.67x of PyTorch's there).
- A wide fp32 3x3 convolution (256 channels or more in and out: the VAE's but the outermost
  level's, all of the UNet's but its smallest maps) runs as Winograd F(2x2, 3x3), with 2.25x
  fewer multiplications (winograd.py).

Both compute the same sums in another order: the results differ from PyTorch's kernels by
about 1e-6 relative, as two BLAS libraries do. Only eager inference takes these paths; a call
that needs gradients (training the built-in model, for one) or is traced by torch.compile uses
PyTorch's kernels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import winograd


def _onednn_linear():
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise  # the op inductor's CPU freezing emits
    except (AttributeError, RuntimeError):
        return None


_LINEAR = _onednn_linear()

_LINEAR_MIN_MACS = 1 << 21
"""Multiply-adds from which a Linear goes through oneDNN: its call costs about 12 us more than
MKL's, which small products (the built-in model's) do not win back (measured crossover 0.5-4
million)."""

_UNFOLD_MIN_DEPTH = 8192
"""in_channels * kernel area from which a small convolution goes through unfold (1280 * 3 * 3
= 11520 does; 640 * 3 * 3 = 5760, where oneDNN's convolution is as fast or faster, does not)."""

_UNFOLD_MAX_PIXELS = {torch.float32: 256, torch.bfloat16: 128}
"""Output pixels (batch * height * width) up to which the unfold path was measured faster."""


WINOGRAD_MIN_CHANNELS = 256
"""In and out channels from which a 3x3 fp32 convolution runs as Winograd F(2x2, 3x3): its
transforms are memory passes over the input and output, which only the products of wide layers
win back. Measured on the 2-core Intel machine, each call taken in turn with oneDNN's: 128
channels at 512 px 1.3x (slower); 256 to 640 channels 0.61-0.98x; 1280 at 16x16 0.95x."""

WINOGRAD_MIN_PIXELS = 512
"""Output pixels (batch * height * width) from which Winograd pays for transforming the kernel
on every call (the weights are not kept transformed: that would take 16/9 of their memory);
256 channels at 16x16 were 1.5x slower."""


def inference_call(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Not training, and not being traced by torch.compile (whose CPU freezing picks oneDNN
    kernels for the graph itself)."""
    return not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
                or torch.compiler.is_compiling())


def _matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return _LINEAR(x, weight, bias, "none", [], "")


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, through oneDNN for fp32 inference on the CPU."""
    if (_LINEAR is not None and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.device.type == "cpu" and x.dim() >= 2 and weight.dim() == 2
            and x.numel() * weight.shape[0] >= _LINEAR_MIN_MACS
            and (bias is None or bias.dtype == torch.float32) and inference_call(x, weight)):
        return _matmul(x, weight, bias)
    return F.linear(x, weight, bias)


def _unfold_shape(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> tuple[int, int] | None:
    """The output's (height, width) when this call should go through unfold, else None."""
    limit = _UNFOLD_MAX_PIXELS.get(x.dtype)
    if (limit is None or _LINEAR is None or x.device.type != "cpu" or x.dim() != 4
            or weight.dtype != x.dtype or not weight.is_contiguous() or layer.groups != 1
            or layer.padding_mode != "zeros" or isinstance(layer.padding, str) or layer.dilation != (1, 1)):
        return None
    out_channels, in_channels, kh, kw = weight.shape
    if in_channels * kh * kw < _UNFOLD_MIN_DEPTH or kh * kw == 1:
        return None
    (ph, pw), (sh, sw) = layer.padding, layer.stride
    height = (x.shape[2] + 2 * ph - kh) // sh + 1
    width = (x.shape[3] + 2 * pw - kw) // sw + 1
    if x.shape[0] * height * width > limit or not inference_call(x, weight):
        return None
    return height, width


def winograd_takes(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> bool:
    """A wide fp32 3x3 inference convolution on the CPU that winograd.py implements."""
    return (x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str)
            and min(weight.shape[0], weight.shape[1]) >= WINOGRAD_MIN_CHANNELS
            and winograd.applies(x, weight, layer.stride, layer.padding, layer.dilation, layer.groups)
            and x.shape[0] * x.shape[2] * x.shape[3] >= WINOGRAD_MIN_PIXELS
            and inference_call(x, weight))


def conv2d(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None) -> torch.Tensor:
    """``layer``'s convolution with ``weight`` and ``bias``; a small, deep one as unfold and a
    oneDNN matrix product, a wide fp32 one as Winograd F(2x2, 3x3)."""
    shape = _unfold_shape(layer, x, weight)
    if shape is None:
        if winograd_takes(layer, x, weight):
            return winograd.conv3x3(x, weight, bias)
        return layer._conv_forward(x, weight, bias)
    batch, height, width = x.shape[0], *shape
    columns = F.unfold(x, weight.shape[2:], padding=layer.padding, stride=layer.stride)
    columns = columns.transpose(1, 2).reshape(batch * height * width, -1)
    out = _matmul(columns, weight.reshape(weight.shape[0], -1), bias)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()


class CpuLinear(torch.nn.Linear):
    """A Linear layer whose fp32 CPU inference goes through oneDNN (see the module docstring)."""

    def forward(self, x):
        return linear(x, self.weight, self.bias)


class CpuConv2d(torch.nn.Conv2d):
    """A Conv2d layer whose small, deep CPU convolutions go through unfold and oneDNN."""

    def forward(self, x):
        return conv2d(self, x, self.weight, self.bias)


_FASTER = {torch.nn.Linear: CpuLinear, torch.nn.Conv2d: CpuConv2d}


def use_cpu_kernels(module: torch.nn.Module) -> torch.nn.Module:
    """Give every plain Linear and Conv2d of ``module`` the forward above, and diffusers' resnet
    and upsampling blocks those of cpu_blocks.py, in place (same parameters and state dict; on
    other devices the forward is PyTorch's or diffusers'); returns ``module``."""
    from .cpu_blocks import FASTER_BLOCKS  # it builds on this module's layers

    for layer in module.modules():
        faster = _FASTER.get(type(layer)) or FASTER_BLOCKS.get(type(layer))
        if faster is not None:
            layer.__class__ = faster
    return module
