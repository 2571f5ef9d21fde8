"""Leaner CPU inference forwards for two diffusers blocks, with the same parameters and results.

- ``Upsample2D`` (nearest 2x upsampling, then a 3x3 convolution: every up block of the VAE
  decoder and of the UNet) never makes the upsampled copy (268 MB in an SD 1.5 decode at 512
  px). At fp32 it runs as Winograd over the upsampled image (winograd_upsample.py): 9
  multiply-adds per input pixel and channel pair instead of 36; measured on the 2-core Intel
  machine at 0.62-0.78x of the transposed convolution below on the VAE's shapes, and 0.59-0.89x
  of upsampling then Winograd F(2x2, 3x3) on the UNet's 8x8 and 16x16 maps (two runs of
  bench/cpu_kernels.py and of a script timing the same calls). At bf16 it runs as one transposed
  convolution with a 4x4 kernel and stride 2: each output pixel sees 2x2 input pixels, weighted
  by sums of the 3x3 kernel's rows and columns, 16 multiply-adds instead of 36 (0.43-0.76x of
  the time at fp32 on the AMD machine, before the Winograd form). Small maps (the UNet's lowest
  levels, where deriving the kernel costs as much as it saves) keep the two steps. Both round
  differently from the two steps: about 3e-6 relative, as another convolution algorithm would.
- ``ResnetBlock2D`` applies its SiLUs and its residual sum in place, and skips the division by
  an output scale of 1: four fewer full-size tensors per block (about 8% of an fp32 VAE pass
  went to those copies). The sums are the same, so the results are identical. It also lets go
  of its first convolution's output once normalised, so three full-size tensors are alive at
  once instead of four (134 MB less at the peak of a 512 px decode).

Both take these forwards only for eager inference on the CPU; anything else (training,
torch.compile tracing, other devices, options these forwards do not cover) goes to diffusers'.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D

from .cpu_kernels import ONEDNN_BF16, CpuConv2d, inference_call
from .stored_weights import StoredConv2d
from .winograd_upsample import upsample_conv3x3

_FUSED_UPSAMPLE_MIN_PIXELS = {torch.float32: 1024} | ({torch.bfloat16: 2048} if ONEDNN_BF16 else {})
"""Input pixels (batch * height * width) from which nearest upsampling and its 3x3
convolution run as one transposed convolution (measured crossovers, 512 channels at 32x32:
0.73x at fp32; 1.3x at bf16, 0.89x with batch 2). bf16 only where oneDNN runs it: on an
AVX2-only CPU (EPYC Zen 1) PyTorch's own bf16 transposed convolution took 30x the two steps'
time (213 against 7.1 s for the VAE's 512 channels at 64x64)."""

_FUSED_UPSAMPLE_MAX_CHANNELS = 640
"""Wider layers (the UNet's 1280) spend on deriving the 4x4 kernel what the product saves."""

_WINOGRAD_UPSAMPLE_MIN_CHANNELS = 128
"""In and out channels from which fp32 takes winograd_upsample.py (64 channels at 32x32: even)."""

_WINOGRAD_UPSAMPLE_MIN_PIXELS = 128
"""Input pixels (batch * height * width) from which fp32 takes winograd_upsample.py: 320 and 640
channels at 2x8x8 took 0.72x and 0.79x of the two steps, 1280 at 2x4x4 1.56x."""

_PHASES = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
"""Row k of the 4x4 transposed-convolution kernel as a sum of rows of the 3x3 kernel. Output
row 2i takes input row i-1 with kernel row 0 and row i with rows 1+2; output row 2i+1 takes
row i with rows 0+1 and row i+1 with row 2; a transposed convolution indexes its kernel from
the other end. Columns likewise."""


def upsample_kernel(weight: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The conv_transpose2d weight (in, out, 4, 4), stride 2, padding 1, equal to nearest 2x
    upsampling followed by a 3x3 convolution with ``weight`` (out, in, 3, 3), padding 1.
    Summed in fp32, then given ``dtype`` (by default ``weight``'s)."""
    phases = _PHASES.to(weight.device)
    return torch.einsum("ph,oihw,qw->iopq", phases, weight.float(), phases).to(dtype or weight.dtype)


def _one_pass(block: Upsample2D, x: torch.Tensor, output_size) -> bool:
    """Nearest 2x upsampling and a plain 3x3 convolution, in eager CPU inference: what both
    one-pass forms compute."""
    conv = getattr(block, "conv", None) if block.name == "conv" else None
    return (x.device.type == "cpu" and x.dim() == 4
            and block.use_conv and block.interpolate and not block.use_conv_transpose and block.norm is None
            and (output_size is None or tuple(output_size) == (2 * x.shape[2], 2 * x.shape[3]))
            and (type(conv) in (torch.nn.Conv2d, CpuConv2d) and conv.weight.dtype == x.dtype
                 or type(conv) is StoredConv2d)
            and conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and inference_call(x, conv.weight))


def _winograd(block: Upsample2D, x: torch.Tensor) -> bool:
    return (x.dtype == torch.float32 and x.shape[0] * x.shape[2] * x.shape[3] >= _WINOGRAD_UPSAMPLE_MIN_PIXELS
            and min(block.conv.in_channels, block.conv.out_channels) >= _WINOGRAD_UPSAMPLE_MIN_CHANNELS)


def _fuses(block: Upsample2D, x: torch.Tensor) -> bool:
    minimum = _FUSED_UPSAMPLE_MIN_PIXELS.get(x.dtype)
    return (minimum is not None and x.shape[0] * x.shape[2] * x.shape[3] >= minimum
            and block.conv.in_channels <= _FUSED_UPSAMPLE_MAX_CHANNELS)


WINOGRAD_UPSAMPLE, TRANSPOSED_UPSAMPLE, TWO_STEPS = "Winograd", "transposed conv", "two steps"


def upsample_path(block: Upsample2D, x: torch.Tensor, output_size=None) -> str:
    """How ``block`` (a CpuUpsample2D) upsamples ``x``: one of the three names above."""
    if _one_pass(block, x, output_size):
        if _winograd(block, x):
            return WINOGRAD_UPSAMPLE
        if _fuses(block, x):
            return TRANSPOSED_UPSAMPLE
    return TWO_STEPS


def transposed_upsample(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """Nearest 2x upsampling of ``x`` and ``conv`` as one transposed convolution."""
    bias = conv.bias
    return F.conv_transpose2d(x, upsample_kernel(conv.weight, x.dtype), None if bias is None else bias.to(x.dtype),
                              stride=2, padding=1)


class CpuUpsample2D(Upsample2D):
    """Upsample2D whose upsampling and convolution run in one pass, as Winograd (fp32) or one
    transposed convolution, where that was measured faster (see the module docstring)."""

    def forward(self, hidden_states, output_size=None, *args, **kwargs):
        path = TWO_STEPS if args or kwargs else upsample_path(self, hidden_states, output_size)
        if path == WINOGRAD_UPSAMPLE:
            return upsample_conv3x3(hidden_states, self.conv.weight, self.conv.bias)
        if path == TRANSPOSED_UPSAMPLE:
            return transposed_upsample(hidden_states, self.conv)
        return super().forward(hidden_states, output_size, *args, **kwargs)


def _lean(block: ResnetBlock2D, x: torch.Tensor, temb: torch.Tensor | None) -> bool:
    return (x.device.type == "cpu" and not block.training and isinstance(block.nonlinearity, torch.nn.SiLU)
            and block.upsample is None and block.downsample is None
            and (temb is None and block.time_embedding_norm != "scale_shift"  # "group": the VAE's
                 or temb is not None and block.time_embedding_norm == "default" and block.time_emb_proj is not None)
            and inference_call(x, block.conv1.weight))


class CpuResnetBlock2D(ResnetBlock2D):
    """ResnetBlock2D with in-place activations and residual sum (see the module docstring)."""

    def forward(self, input_tensor, temb=None, *args, **kwargs):
        if args or kwargs or not _lean(self, input_tensor, temb):
            return super().forward(input_tensor, temb, *args, **kwargs)
        hidden = self.conv1(F.silu(self.norm1(input_tensor), inplace=True))
        if temb is not None:
            added = self.time_emb_proj(temb if self.skip_time_act else F.silu(temb))[:, :, None, None]
            hidden = hidden + added if added.shape[0] > hidden.shape[0] else hidden.add_(added)
        hidden = self.norm2(hidden)  # drops the first convolution's output before the second's exists
        hidden = self.conv2(F.silu(hidden, inplace=True))
        shortcut = input_tensor if self.conv_shortcut is None else self.conv_shortcut(input_tensor)
        hidden = hidden.add_(shortcut) if hidden.shape == shortcut.shape else shortcut + hidden
        return hidden if self.output_scale_factor == 1 else hidden.div_(self.output_scale_factor)


FASTER_BLOCKS = {Upsample2D: CpuUpsample2D, ResnetBlock2D: CpuResnetBlock2D}
