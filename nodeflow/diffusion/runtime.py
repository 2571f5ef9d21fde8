"""Where and in which precision models run: device auto (cuda, mps, cpu) and dtype choice.

`auto` takes the fastest precision the hardware runs natively: bf16 on CPUs with bf16 matrix
instructions (AVX512-BF16 or AMX; about 2-3x faster than fp32 there, images change slightly),
bf16 on CUDA GPUs that have it (compute capability 8.0 and up), fp16 on older GPUs and MPS,
fp32 everywhere else. `fp32` reproduces ComfyUI's CPU pixels. The VAE stays in fp32 except
with bf16: SD VAEs overflow in fp16.

`bf16` asked for on a CPU without bf16 instructions, where oneDNN emulates bf16 products (a
Linear layer 5x and a 3x3 convolution 100x slower than at fp32 on an AVX2 EPYC), stores the
weights in bf16 and computes in fp32, as ComfyUI's "manual cast" does where the device lacks the
weights' dtype: half the memory of fp32 weights at about fp32's speed. A file stored in fp16
keeps its fp16 weights (exact: its pixels are those of `fp32`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .stored_weights import working_dtype

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# CPU flags (Linux /proc/cpuinfo) of instructions that multiply bf16 matrices natively
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def pick_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 matrix products in hardware (not emulated through fp32)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    if flags:
        return any(flag in flags for flag in _BF16_CPU_FLAGS)
    mkldnn = getattr(torch.ops, "mkldnn", None)  # no cpuinfo (macOS, Windows): ask oneDNN
    try:
        return bool(mkldnn is not None and mkldnn._is_mkldnn_bf16_supported()) and \
            torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX")
    except (AttributeError, RuntimeError):
        return False


def auto_precision(device: str) -> tuple[str, str]:
    """(precision, why) that `auto` takes on this device."""
    if device == "cpu":
        if cpu_has_native_bf16():
            return "bf16", "this CPU has bf16 matrix instructions"
        return "fp32", "this CPU has no bf16 matrix instructions"
    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return "bf16", "this GPU runs bf16 natively"
        return "fp16", "this GPU has no bf16"
    return "fp16", f"{device} runs fp16 natively"


@dataclass(frozen=True)
class Runtime:
    device: str
    dtype: torch.dtype
    vae_dtype: torch.dtype
    why: str = ""  # how `auto` chose, for the run's log
    offload: str | None = None
    """Where models load under a VRAM budget (RAM); the placer moves them to ``device``."""
    storage: torch.dtype | None = None
    """A dtype narrower than ``dtype`` that the checkpoints' Linear, Conv2d and Embedding
    weights are stored in (the file's own fp16 or bf16 where it has them), widened on use; None:
    stored as computed."""

    @property
    def load_device(self) -> str:
        return self.offload or self.device

    @classmethod
    def choose(cls, precision: str = "auto", device: str | None = None) -> "Runtime":
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        device = device or pick_device()
        why = ""
        if precision == "auto":
            precision, why = auto_precision(device)
            why = f"auto: {why}"
        elif precision == "bf16" and device == "cpu" and not cpu_has_native_bf16():
            return cls(device, torch.float32, torch.float32, "this CPU has no bf16 matrix instructions: "
                       "bf16 weights, fp32 sums", storage=torch.bfloat16)
        dtype = _DTYPES[precision]
        if device == "cpu" and dtype == torch.float16:
            raise ValueError("fp16 is not supported on the CPU; use bf16 or fp32")
        return cls(device, dtype, torch.bfloat16 if dtype == torch.bfloat16 else torch.float32, why)

    @classmethod
    def for_ctx(cls, ctx) -> "Runtime":
        """The runtime for a node; a precision this machine cannot use is the user's error."""
        from nodeflow import NodeError

        from .placement import placer_for

        try:
            runtime = cls.choose(getattr(ctx.settings, "precision", "fp32"))
        except ValueError as exc:
            raise NodeError(f"precision: {exc}") from None
        placer = placer_for(ctx)
        return runtime if placer is None else replace(runtime, offload=placer.offload)

    @property
    def weights(self) -> str:
        """The dtypes loaded models compute and store in, for model cache keys."""
        return str(self.dtype) if self.storage is None else f"{self.dtype} stored as {self.storage}"

    def describe(self) -> str:
        text = f"device {self.device}, {str(self.dtype).removeprefix('torch.')}"
        if self.storage is not None:
            text += f" with weights stored in {str(self.storage).removeprefix('torch.')} or a file's own float16"
        return f"{text} ({self.why})" if self.why else text

    def lay_out_unet(self, unet) -> None:
        """A bf16 UNet is laid out channels-last except on the CPU, where the CPU kernels
        (cpu_kernels.py) are faster on the plain layout: an SD 1.5 call 0.70 s against 0.93 s
        at 256 px, 3.82 s against 3.99 s at 512 px."""
        if self.dtype == torch.bfloat16 and self.device != "cpu":
            unet.to(memory_format=torch.channels_last)

    def prepare_checkpoint(self, checkpoint):
        """Put the parts on the device, the UNet laid out as lay_out_unet says."""
        self.lay_out_unet(checkpoint.unet)
        if working_dtype(checkpoint.vae) != self.vae_dtype:
            checkpoint.vae.to(dtype=self.vae_dtype)
        return checkpoint

