"""`--compile`: the UNet through torch.compile, compiled once per loaded model and reused.

torch.compile (inductor) turns the UNet into fused kernels the first time it is called with a
latent shape; later calls with that shape (every step of every later run) reuse them. The
compiled module is kept on the loaded UNet itself, one per device and precision, so it lives
and goes with the model in the model cache; a copy of the UNet (a LoRA, a merge) starts
without one. A new latent size, batch or ControlNet compiles again (dynamic=False: kernels made
for one shape run fastest), at most torch's recompile limit (8) per model; past it that shape
runs uncompiled. On the CPU inductor's freezing is on: it treats the weights as constants and
lays them out for oneDNN once, which is what makes the compiled UNet faster than the eager one
there (without it the compiled fp32 UNet measured slower); it keeps that second copy of the
weights (about the UNet's size more memory), and a weight changed in place later would not be
seen (nodeflow patches copies: LoRAs and merges make new modules). Whether it pays:
bench/compile.py.
"""
from __future__ import annotations

import importlib.util
from typing import Any, Callable

import torch

_SLOT = "_nodeflow_compiled"


class _CompiledSlot:
    """The compiled forms of one module, by (device, dtype). Not an nn.Module, so the module
    does not register it as a submodule; a deep copy of the module starts empty."""

    def __init__(self) -> None:
        self.by_runtime: dict[tuple[str, str], Callable] = {}

    def __deepcopy__(self, memo) -> "_CompiledSlot":
        return _CompiledSlot()


def compile_problem(device: str) -> str | None:
    """Why torch.compile cannot work on `device` here, in one sentence; None when it can."""
    if device == "cpu":
        from torch._inductor.cpp_builder import get_cpp_compiler

        try:
            get_cpp_compiler()
        except Exception:  # InvalidCxxCompiler, or a broken compiler found
            return ("torch.compile on the CPU needs a C++ compiler and none was found "
                    "(install g++, or point CXX at one), so --compile cannot work here")
        return None
    if device.startswith("cuda") and importlib.util.find_spec("triton") is None:
        return "torch.compile on CUDA needs the triton package, which is not installed"
    return None


def compiled_unet(unet: torch.nn.Module, device: str, dtype: torch.dtype) -> Callable[..., Any]:
    """`unet`, compiled for this device and precision on its first call (kept on the module)."""
    slot = unet.__dict__.get(_SLOT)
    if slot is None:
        slot = _CompiledSlot()
        unet.__dict__[_SLOT] = slot
    key = (device, str(dtype))
    if key not in slot.by_runtime:
        slot.by_runtime[key] = _compiling(torch.compile(unet, dynamic=False), freezing=device == "cpu")
    return slot.by_runtime[key]


def _compiling(compiled: Callable, freezing: bool) -> Callable:
    """Calls `compiled` with inductor's freezing set as asked for any compile the call makes (as
    torch.compile's `options` it was not applied: measured no faster and no extra memory); a
    failure of the compiler itself becomes one sentence, not a traceback."""
    import torch._inductor.config as inductor_config
    from torch._dynamo.exc import BackendCompilerFailed

    def call(*args, **kwargs):
        try:
            with inductor_config.patch(freezing=freezing):
                return compiled(*args, **kwargs)
        except BackendCompilerFailed as exc:
            from nodeflow import NodeError

            reason = str(exc.inner_exception).strip().splitlines()
            raise NodeError(f"--compile: torch.compile could not compile the UNet "
                            f"({reason[0] if reason else type(exc.inner_exception).__name__}); "
                            f"run without --compile") from None

    return call
