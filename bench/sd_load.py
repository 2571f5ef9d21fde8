"""Loading a single-file checkpoint against reading its bytes from a warm page cache.

Two baselines, both measured in the same process right before the load, one thread each:
reading the file into one reused 64 MB buffer (the bytes alone: the page cache's speed) and
into one fresh buffer of the file's size (the bytes plus the fresh memory the kernel must map
and zero for them, as for any loaded model). Goal (issue 16): load within 1.5x. The model stays
alive until its RSS is taken. After it, the floor for any loader: filling fresh memory of the
model's size (64 MB tensors, torch's fill_ on all cores), where the kernel maps and zeroes every
page and nothing is read or converted. bench/sd.py runs each case in several fresh processes (the
allocator's state after a first load would flatter a second) and keeps the best of each.
"""
from __future__ import annotations

import time
from pathlib import Path

from memory import rss_gb

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def read_reused_s(path: Path) -> float:
    buffer = memoryview(bytearray(64 << 20))
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass
    return time.perf_counter() - start


def read_fresh_s(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        data = f.read()
    took = time.perf_counter() - start
    del data
    return took


def fill_fresh_s(nbytes: int) -> float:
    import torch

    start, kept = time.perf_counter(), []
    for first in range(0, nbytes, 64 << 20):
        kept.append(torch.empty(min(64 << 20, nbytes - first), dtype=torch.uint8).fill_(1))
    took = time.perf_counter() - start
    del kept
    return took


def _loading(precision: str) -> dict:
    """load_checkpoint's dtype and storage for ``precision`` as a run would load it: bf16 on a CPU
    without bf16 instructions stores bf16 weights (an fp16 file's as they are) for fp32 sums
    (runtime.py); fp16, which runs refuse on the CPU, is loaded as such to time the conversion."""
    import torch

    from nodeflow.diffusion.runtime import Runtime

    if precision == "bf16":
        runtime = Runtime.choose("bf16", "cpu")
        return {"dtype": runtime.dtype, "storage": runtime.storage}
    return {"dtype": getattr(torch, DTYPES[precision])}


def case_load(path: Path, precision: str) -> dict:
    from nodeflow.diffusion.checkpoints import load_checkpoint

    read_reused_s(path)  # warm the page cache
    reused = min(read_reused_s(path) for _ in range(2))
    fresh = read_fresh_s(path)
    loading = _loading(precision)
    before = rss_gb()
    start, cpu = time.perf_counter(), time.process_time()
    model = load_checkpoint(path, **loading)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    model_rss = rss_gb() - before
    del model
    floor = fill_fresh_s(int(model_rss * 1024**3))
    return {"load_s": took, "load_cpu_s": cpu, "read_reused_s": reused, "read_fresh_s": fresh,
            "fill_fresh_s": floor,
            "ratio_reused": took / reused, "ratio_fresh": took / fresh, "model_rss_gb": model_rss}

