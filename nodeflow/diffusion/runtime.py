"""Where and in which precision models run: device auto (cuda, mps, cpu) and dtype choice.

fp32 on the CPU unless asked otherwise (bf16 is about 3x faster at 512x512 on recent CPUs, but
changes images slightly); fp16 on CUDA and MPS. The VAE stays in fp32 except with bf16: SD VAEs
overflow in fp16.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


@dataclass(frozen=True)
class Runtime:
    device: str
    dtype: torch.dtype
    vae_dtype: torch.dtype

    @classmethod
    def choose(cls, precision: str = "auto", device: str | None = None) -> "Runtime":
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        device = device or pick_device()
        if precision == "auto":
            precision = "fp32" if device == "cpu" else "fp16"
        dtype = _DTYPES[precision]
        if device == "cpu" and dtype == torch.float16:
            raise ValueError("fp16 is not supported on the CPU; use bf16 or fp32")
        return cls(device, dtype, torch.bfloat16 if dtype == torch.bfloat16 else torch.float32)

    @classmethod
    def for_ctx(cls, ctx) -> "Runtime":
        """The runtime for a node; a precision this machine cannot use is the user's error."""
        from nodeflow import NodeError

        try:
            return cls.choose(getattr(ctx.settings, "precision", "auto"))
        except ValueError as exc:
            raise NodeError(f"precision: {exc}") from None

    def describe(self) -> str:
        return f"device {self.device}, {str(self.dtype).removeprefix('torch.')}"

    def prepare_checkpoint(self, checkpoint):
        """Put the parts on the device; channels_last helps convolutions in bf16 on CPUs."""
        if self.dtype == torch.bfloat16:
            checkpoint.unet.to(memory_format=torch.channels_last)
        if next(checkpoint.vae.parameters()).dtype != self.vae_dtype:
            checkpoint.vae.to(dtype=self.vae_dtype)
        return checkpoint
