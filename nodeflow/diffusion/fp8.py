"""Weights stored in fp8, computed in the run's precision (UNETLoader's ``weight_dtype``).

ComfyUI's fp8_e4m3fn / fp8_e5m2 weight types halve a UNet's memory against fp16 (a quarter of
fp32): the Linear and Conv2d layers keep their weights and biases in 8 bits and cast them to
the input's dtype for each call (stored_weights.py), as ComfyUI's "manual cast" layers do.
Normalisation layers and embeddings stay in the working precision (they are a small share of
the weights). The numbers are those of the model with each weight rounded to fp8 once,
computed in full precision.
"""
from __future__ import annotations

import torch

from .stored_weights import STORED_LAYERS, StoredConv2d, StoredLinear, cast_on_use

FP8_DTYPES = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
              "fp8_e5m2": torch.float8_e5m2}
"""UNETLoader's weight types. "fast" is fp8 matrix multiplication on recent GPUs in ComfyUI;
here it stores like fp8_e4m3fn and computes in the working precision."""


Fp8Linear, Fp8Conv2d = StoredLinear, StoredConv2d  # the names of the first use


def store_in_fp8(module: torch.nn.Module, weight_dtype: str) -> torch.nn.Module:
    """Store every Linear and Conv2d of ``module`` in ``weight_dtype`` (a name of FP8_DTYPES),
    in place; returns ``module``."""
    if weight_dtype not in FP8_DTYPES:
        raise ValueError(f"unknown fp8 weight type {weight_dtype!r}; "
                         f"valid: {', '.join(FP8_DTYPES)}")
    dtype = FP8_DTYPES[weight_dtype]
    for layer in module.modules():
        if type(layer) not in STORED_LAYERS and type(layer) not in (StoredLinear, StoredConv2d):
            continue  # (layers stored narrow already, as in a bf16-stored run, go to fp8 too)
        cast_on_use(layer)  # same parameters, a forward that casts them
        for name, param in list(layer.named_parameters(recurse=False)):
            setattr(layer, name, torch.nn.Parameter(param.detach().to(dtype), requires_grad=False))
    return module


def stored_dtypes(module: torch.nn.Module) -> set[torch.dtype]:
    """The dtypes the weights of ``module``'s Linear and Conv2d layers are stored in."""
    return {layer.weight.dtype for layer in module.modules()
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d))}
