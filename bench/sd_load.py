"""Loading a single-file checkpoint against reading its bytes from a warm page cache.

Two baselines, both measured in the same process right before the load: reading the file
into one reused 64 MB buffer (the bytes alone) and into one fresh buffer of the file's size
(the bytes plus the fresh memory any loader must fill). Goal (issue 16): load within 1.5x.
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


def case_load(path: Path, precision: str) -> dict:
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint

    read_reused_s(path)  # warm the page cache
    reused = min(read_reused_s(path) for _ in range(2))
    fresh = read_fresh_s(path)
    start, cpu = time.perf_counter(), time.process_time()
    before = rss_gb()
    load_checkpoint(path, dtype=getattr(torch, DTYPES[precision]))
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"load_s": took, "load_cpu_s": cpu, "read_reused_s": reused, "read_fresh_s": fresh,
            "ratio_reused": took / reused, "ratio_fresh": took / fresh, "model_rss_gb": rss_gb() - before}

