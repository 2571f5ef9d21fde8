"""Layers whose weights are stored narrower than the precision they compute in.

Three uses. fp8 UNets (UNETLoader's ``weight_dtype``, fp8.py) keep a quarter of fp32's memory.
At fp32, the VAE and text encoders of a checkpoint stored in fp16 or bf16 keep the file's own
precision (ComfyUI keeps its text encoders in fp16 on the CPU the same way): widening an fp16
value to fp32 is exact, so each call computes with exactly the weights an fp32 copy would hold,
for half the memory (0.41 GB for SD 1.5's VAE and text encoder). There the UNet stays in fp32:
widening its weights on every step would cost about a quarter of the step on the Intel machine
(0.4-0.6 s of a 5-8 s step on the EPYC Zen 1). And bf16 asked for on a CPU without bf16
instructions stores every model this way, the UNet too (runtime.py).

The Linear and Conv2d layers cast weight and bias to the input's dtype on each call, as
ComfyUI's "manual cast" layers do; a text encoder's embeddings give their rows in the working
precision. Normalisation layers keep the working precision, so ``working_dtype`` can tell what
a module computes in.

On the CPU, at inference, a weight is widened into one buffer per thread that every layer
reuses (``widened``), not into fresh memory, whose pages the kernel maps and zeroes anew for
every layer of every call: an SD 1.5 prompt encode took 0.41-0.64 s that way against 0.28-0.30 s
with the reused buffer (2-core EPYC, the same output bit for bit).
"""
from __future__ import annotations

import threading

import torch

from .cpu_kernels import CpuConv2d, CpuLinear, conv2d, inference_call, linear

_BUFFERS = threading.local()
"""This thread's widening buffers, one per working dtype: they grow to the largest weight seen
(SD 1.5's text encoder: 9.4 MB) and go with the thread."""


def _cast(tensor, like):
    return None if tensor is None else tensor.to(like.dtype)


def widened(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``weight`` in ``x``'s dtype. For CPU inference it is written into this thread's reused
    buffer, so it is valid only until the thread's next call: fine for a layer's forward, whose
    output never aliases its weight; autograd and torch.compile (which keep tensors alive) and
    other devices get a tensor of their own."""
    if weight.dtype == x.dtype:
        return weight
    if weight.device.type != "cpu" or x.device.type != "cpu" or not inference_call(x, weight):
        return weight.to(x.dtype)
    buffers = _BUFFERS.__dict__.setdefault("by_dtype", {})
    buffer = buffers.get(x.dtype)
    if buffer is None or buffer.numel() < weight.numel():
        with torch.inference_mode(False):  # a plain tensor: writable in and outside inference mode
            buffer = buffers[x.dtype] = torch.empty(weight.numel(), dtype=x.dtype)
    return buffer[:weight.numel()].view(weight.shape).copy_(weight)


class StoredLinear(torch.nn.Linear):
    """A Linear layer whose parameters are stored in another dtype and cast on use."""

    def forward(self, x):
        return linear(x, widened(self.weight, x), _cast(self.bias, x))


class StoredConv2d(torch.nn.Conv2d):
    """A Conv2d layer whose parameters are stored in another dtype and cast on use."""

    def forward(self, x):
        return conv2d(self, x, widened(self.weight, x), _cast(self.bias, x))


class StoredEmbedding(torch.nn.Embedding):
    """An Embedding stored in another dtype whose rows come out in ``working``'s dtype."""

    working = torch.float32

    def forward(self, ids):
        return super().forward(ids).to(self.working)


STORED_LAYERS = {torch.nn.Linear: StoredLinear, CpuLinear: StoredLinear,
                 torch.nn.Conv2d: StoredConv2d, CpuConv2d: StoredConv2d}
"""The layer types that can store narrow weights (fp8 too), and the class each becomes."""

_ALSO_NARROW = {torch.nn.Embedding: StoredEmbedding}
"""What else a file's fp16 or bf16 can stay in (not fp8: rows are not rounded per call)."""

NARROW_LAYERS = {**STORED_LAYERS, **_ALSO_NARROW}


def cast_on_use(layer: torch.nn.Module, working: torch.dtype = torch.float32) -> None:
    """Give ``layer`` (a type of NARROW_LAYERS, or already stored) the forward that casts its
    parameters to the input's dtype (an embedding's rows to ``working``), in place; its
    parameters are left as they are."""
    layer.__class__ = NARROW_LAYERS.get(type(layer), type(layer))
    if isinstance(layer, StoredEmbedding):
        layer.working = working


def working_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype ``module`` computes in: that of its first parameter outside the stored layers
    (a VAE's first GroupNorm), else of its first parameter."""
    stored = (StoredLinear, StoredConv2d, StoredEmbedding)
    for layer in module.modules():
        if not isinstance(layer, stored):
            for parameter in layer.parameters(recurse=False):
                return parameter.dtype
    return next(module.parameters()).dtype
