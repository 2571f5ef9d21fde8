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
  fewer multiplications (winograd.py); on AVX2 CPUs, from 1024 output pixels, as Winograd
  F(4x4, 3x3), with 4x fewer (winograd_f4.py).
- Where MKL is at full speed (Intel CPUs; see ``MKL_NATIVE``), the convolutions that already
  are matrix products in the plain layout (1x1, and the unfold path) multiply the weights by
  each image's columns with one batched product, which gives the output in its own layout
  without the two transposes that a row-major product needs; 1x1 convolutions take that
  product at bf16 too, where PyTorch sends it to oneDNN.

Both compute the same sums in another order: the results differ from PyTorch's kernels by
about 1e-6 relative, as two BLAS libraries do. Only eager inference takes these paths; a call
that needs gradients (training the built-in model, for one) or is traced by torch.compile uses
PyTorch's kernels.
"""
from __future__ import annotations

import platform

import torch
import torch.nn.functional as F

from . import winograd, winograd_f4


def _onednn_linear():
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise  # the op inductor's CPU freezing emits
    except (AttributeError, RuntimeError):
        return None


_LINEAR = _onednn_linear()


def _onednn_runs_bf16() -> bool:
    """oneDNN builds bf16 products only on CPUs with AVX-512 (natively with AVX-512 BF16 or AMX).
    On an AVX2-only CPU (an AMD Zen 1, say) creating one raises, and PyTorch's own bf16 kernels,
    which work there, are also faster than a batched product: 98-354 ms against 194-598 ms for
    the UNet's 1x1 convolutions (measured on a 2-core EPYC Zen 1; fp32 takes 5-12 ms there)."""
    try:
        return _LINEAR is not None and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


ONEDNN_BF16 = _onednn_runs_bf16()
"""Whether bf16 may take the oneDNN paths below (the unfold product, the batched 1x1 product)."""
_BF16 = {torch.bfloat16} if ONEDNN_BF16 else set()

_LINEAR_MIN_MACS = 1 << 21
"""Multiply-adds from which a Linear goes through oneDNN: its call costs about 12 us more than
MKL's, which small products (the built-in model's) do not win back (measured crossover 0.5-4
million)."""

_UNFOLD_MIN_DEPTH = 8192
"""in_channels * kernel area from which a small convolution goes through unfold (1280 * 3 * 3
= 11520 does; 640 * 3 * 3 = 5760, where oneDNN's convolution is as fast or faster, does not)."""

_UNFOLD_MAX_PIXELS = {torch.float32: 256} | ({torch.bfloat16: 128} if ONEDNN_BF16 else {})
"""Output pixels (batch * height * width) up to which the unfold path was measured faster; bf16
only where oneDNN runs it (``ONEDNN_BF16``)."""


WINOGRAD_MIN_CHANNELS = 128 if torch.backends.cpu.get_cpu_capability() == "AVX2" else 256
"""In and out channels from which a 3x3 fp32 convolution runs as Winograd F(2x2, 3x3): its
transforms are memory passes over the input and output, which only the products of wide layers
win back. Measured on the 2-core Intel machine (AVX-512), each call taken in turn with oneDNN's:
128 channels at 512 px 1.3x (slower); 256 to 640 channels 0.61-0.98x; 1280 at 16x16 0.95x. On
an AVX2-only CPU (2-core EPYC Zen 1), where oneDNN's convolutions have no AVX-512 kernels, the
VAE's outermost level wins too: 128 channels at 128-512 px 0.81-0.86x, 256 -> 128 at 512 px
0.71x (best of 4, taken in turn); 256 to 1280 channels 0.54-0.80x there."""

WINOGRAD_F4_MIN_PIXELS = 1024 if torch.backends.cpu.get_cpu_capability() == "AVX2" else None
"""Output pixels from which a Winograd convolution computes 4x4 output tiles (winograd_f4.py)
instead of 2x2; None: never. Measured on the AVX2-only EPYC Zen 1 (bench/cpu_kernels.py, each
shape taken in turn): 0.63-0.75x of F(2x2, 3x3)'s time on the VAE's shapes at 64x64 to 512x512
and the UNet's at 2x32x32, 0.84-0.88x at 1x32x32, even at 2x16x16 (512 pixels) and 1.43x at
2x8x8, where transforming the kernel into 36 matrices outweighs the products saved. Not yet
measured on an AVX-512 CPU, which keeps F(2x2, 3x3)."""

WINOGRAD_MIN_PIXELS = 512
"""Output pixels (batch * height * width) from which Winograd pays for transforming the kernel
on every call (the weights are not kept transformed: that would take 16/9 of their memory);
256 channels at 16x16 were 1.5x slower."""


def _cpu_is_intel() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    return "Intel" in platform.processor()  # Windows names the vendor there


MKL_NATIVE = _cpu_is_intel()
"""MKL runs its AVX-512 kernels on Intel CPUs only: on the AMD EPYC its sgemm did 150-200
GFLOP/s against oneDNN's 400-450, so there fp32 products go to oneDNN (``linear``, the unfold
path's ``_matmul``). On the Intel Xeon both are even, and a batched MKL product over the plain
layout skips the transposes oneDNN's row-major product needs: measured 0.45-0.93x of the
unfold path's time on the UNet's deep small maps, 0.6-0.9x of oneDNN's 1x1 convolution."""

_POINTWISE_DTYPES = _BF16 | ({torch.float32} if MKL_NATIVE else set())
"""Where a 1x1 convolution in the plain layout is one batched product: bf16 where oneDNN runs it
(PyTorch's bmm sends it there: 0.3-0.9x of oneDNN's convolution, with the same bits) and fp32 on
Intel. Channels-last inputs (the VAE's) keep oneDNN's convolution, which was even with any
product."""

_UNFOLD_BATCHED_DTYPES = {torch.float32} if MKL_NATIVE else set()
"""Where the unfold path's product is batched: not bf16, where the batched product over the
expanded weights measured 2.4-5.7x slower than oneDNN's row-major one."""


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


def _weights_times_columns(weight: torch.Tensor, columns: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``weight`` (out, ...), as (out, k), times each image's ``columns`` (batch, k, pixels), plus ``bias``: the
    convolution's output (batch, out, pixels) in the plain layout, as one batched product whose
    weights and bias are broadcast views (no copies)."""
    batch, depth, pixels = columns.shape
    weights = weight.reshape(weight.shape[0], depth).unsqueeze(0).expand(batch, -1, -1)
    if bias is None:
        return torch.bmm(weights, columns)
    return torch.baddbmm(bias.view(1, -1, 1).expand(batch, -1, pixels), weights, columns)


def _same_dtype(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    return weight.dtype == x.dtype and (bias is None or bias.dtype == x.dtype)


def _pointwise_takes(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                     bias: torch.Tensor | None) -> bool:
    """A 1x1 inference convolution over a plain-layout input that ``_POINTWISE_DTYPES`` covers."""
    return (x.dtype in _POINTWISE_DTYPES and x.device.type == "cpu" and x.dim() == 4 and x.is_contiguous()
            and weight.dim() == 4 and tuple(weight.shape[2:]) == (1, 1) and _same_dtype(x, weight, bias)
            and layer.groups == 1 and tuple(layer.stride) == (1, 1) and not isinstance(layer.padding, str)
            and tuple(layer.padding) == (0, 0) and tuple(layer.dilation) == (1, 1) and inference_call(x, weight))


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


POINTWISE, UNFOLD_BATCHED, UNFOLD_ONEDNN = "1x1 batched product", "unfold + batched product", "unfold + oneDNN"
WINOGRAD, WINOGRAD_F4, PYTORCH = "Winograd", "Winograd F(4x4, 3x3)", "PyTorch"


def _winograd_path(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> str | None:
    """For a wide fp32 3x3 inference convolution on the CPU that winograd.py implements, the tile
    size it runs with (WINOGRAD or WINOGRAD_F4); None for any other call."""
    if not (x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str)
            and min(weight.shape[0], weight.shape[1]) >= WINOGRAD_MIN_CHANNELS
            and winograd.applies(x, weight, layer.stride, layer.padding, layer.dilation, layer.groups)):
        return None
    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    if pixels < WINOGRAD_MIN_PIXELS or not inference_call(x, weight):
        return None
    large = WINOGRAD_F4_MIN_PIXELS is not None and pixels >= WINOGRAD_F4_MIN_PIXELS
    return WINOGRAD_F4 if large and winograd_f4.applies(x) else WINOGRAD


def _choose(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
            bias: torch.Tensor | None) -> tuple[str, tuple[int, int] | None]:
    """The path ``conv2d`` takes for this call, and the output's (height, width) where it unfolds."""
    if _pointwise_takes(layer, x, weight, bias):
        return POINTWISE, None
    shape = _unfold_shape(layer, x, weight)
    if shape is not None:
        batched = x.dtype in _UNFOLD_BATCHED_DTYPES and _same_dtype(x, weight, bias)
        return (UNFOLD_BATCHED if batched else UNFOLD_ONEDNN), shape
    return _winograd_path(layer, x, weight) or PYTORCH, None


def conv2d(layer: torch.nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None) -> torch.Tensor:
    """``layer``'s convolution with ``weight`` and ``bias``; a 1x1 one as a batched product, a
    small, deep one as unfold and a matrix product, a wide fp32 one as Winograd."""
    path, shape = _choose(layer, x, weight, bias)
    if path == PYTORCH:
        return layer._conv_forward(x, weight, bias)
    if path == WINOGRAD:
        return winograd.conv3x3(x, weight, bias)
    if path == WINOGRAD_F4:
        return winograd_f4.conv3x3(x, weight, bias)
    batch = x.shape[0]
    if path == POINTWISE:
        height, width = x.shape[2:]
        return _weights_times_columns(weight, x.view(batch, -1, height * width), bias).view(batch, -1, height, width)
    height, width = shape
    columns = F.unfold(x, weight.shape[2:], padding=layer.padding, stride=layer.stride)
    if path == UNFOLD_BATCHED:
        return _weights_times_columns(weight, columns, bias).view(batch, -1, height, width)
    columns = columns.transpose(1, 2).reshape(batch * height * width, -1)
    out = _matmul(columns, weight.reshape(weight.shape[0], -1), bias)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()


def conv_path(layer: torch.nn.Conv2d, x: torch.Tensor) -> str:
    """Which of the paths above ``conv2d`` takes for this call (for benchmarks and reports)."""
    return _choose(layer, x, layer.weight, layer.bias)[0]


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
