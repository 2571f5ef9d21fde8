"""`--precision bf16` on a CPU without bf16 instructions, end to end: the run stores the weights in
bf16 (an fp16 file's stay fp16), sums in fp32 and says so (runtime.py)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from nodeflow.diffusion import runtime
from nodeflow.engine import events as ev
from nodeflow.engine.executor import Executor
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings

from .conftest import run, txt2img
from .test_txt2img import saved_arrays


@pytest.fixture
def no_bf16_instructions(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)


def picture(base, precision: str, checkpoint: str = "tiny-sd1.safetensors", seen=None) -> np.ndarray:
    """The image a fresh executor at ``precision`` saves for the default graph (its events
    appended to ``seen``)."""
    settings = Settings(base_dir=base, precision=precision)
    result = run(Executor(load_registry(settings), settings), txt2img(checkpoint, seed=5),
                 listener=(seen if seen is not None else []).append)
    assert result.status == "success", result.error
    return saved_arrays(base, result)[0].astype(int)


def test_a_bf16_run_says_what_it_does_and_draws_nearly_the_fp32_picture(base, no_bf16_instructions):
    seen = []
    stored = picture(base, "bf16", seen=seen)
    logs = [e.data["message"] for e in seen if e.kind == ev.LOG]
    assert any("device cpu, float32 with weights stored in bfloat16 or a file's own float16 (this CPU has "
               "no bf16 matrix instructions: bf16 weights, fp32 sums)" in m for m in logs), logs
    full = picture(base, "fp32")
    assert 0 < np.abs(stored - full).mean() < 1 and np.abs(stored - full).max() <= 4  # bf16-rounded weights


def test_an_fp16_checkpoint_at_bf16_draws_the_fp32_picture_bit_for_bit(base, no_bf16_instructions):
    folder = base / "models" / "checkpoints"
    tensors = load_file(folder / "tiny-sd1.safetensors")
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()},
              folder / "tiny-sd1-fp16.safetensors")
    shutil.copytree(folder / "tiny-sd1.configs", folder / "tiny-sd1-fp16.configs", dirs_exist_ok=True)
    assert np.array_equal(picture(base, "bf16", "tiny-sd1-fp16.safetensors"),
                          picture(base, "fp32", "tiny-sd1-fp16.safetensors"))
