"""--compile: the built-in model's UNet through torch.compile gives the same picture as without,
and a second run (another seed) reuses the compiled UNet instead of compiling again.

Compiling the tiny UNet with inductor takes about a minute on a 2-core machine (67 s measured
with an empty inductor cache; inductor keeps its kernels on disk, so later runs are quicker):
marked `compile`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodeflow.engine import events as ev
from nodeflow.engine.executor import Executor
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings
from nodeflow.workflow import parse_workflow

ROOT = Path(__file__).resolve().parents[2]
# Inductor fuses and reorders float32 arithmetic, so a few ulps differ per step; in the saved
# 8-bit picture that may move a channel value by a level where it lies near a rounding edge.
TOLERANCE = 2  # of 255 levels, in any channel of any pixel


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    diff = np.abs(a.astype(int) - b.astype(int))
    return diff.max() <= TOLERANCE and (diff > 0).mean() <= 0.01  # and rare


def _txt2img(seed: int) -> dict:
    data = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    data["nodes"]["sample"]["inputs"].update(seed=seed, steps=4)
    data["nodes"]["save"] = {"type": "PreviewImage",
                             "inputs": {"images": {"node": "decode", "output": "image"}}}
    return data


def _image(executor: Executor, base: Path, seed: int, listener=lambda event: None) -> np.ndarray:
    """The picture the preview saved."""
    result = executor.run(parse_workflow(_txt2img(seed)), listener=listener)
    assert result.status == "success", result.error
    [item] = result.outputs["save"]["images"]
    return np.asarray(Image.open(base / "temp" / item["subfolder"] / item["filename"]))


@pytest.mark.compile
def test_compiled_unet_gives_the_same_image_and_compiles_once(tmp_path):
    from torch._dynamo.utils import counters

    plain = Executor(load_registry(Settings(base_dir=tmp_path)), Settings(base_dir=tmp_path))
    settings = Settings(base_dir=tmp_path, compile=True)
    compiled = Executor(load_registry(settings), settings)

    expected = _image(plain, tmp_path, seed=3)
    before = counters["stats"]["unique_graphs"]
    got = _image(compiled, tmp_path, seed=3)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > before  # it did compile
    assert _close(got, expected)

    seen = []
    again = _image(compiled, tmp_path, seed=4, listener=seen.append)  # the sampler runs again
    assert counters["stats"]["unique_graphs"] == graphs  # and nothing compiles again
    assert any("UNet compiled (--compile)" in e.data["message"] for e in seen if e.kind == ev.LOG)
    assert _close(again, _image(plain, tmp_path, seed=4))
    assert not np.array_equal(again, got)


def test_compile_without_a_compiler_is_one_sentence(tmp_path):
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nodeflow", "run", "--compile", "--precision", "fp32",
                           "--base-dir", str(tmp_path), str(ROOT / "workflows" / "txt2img.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nodeflow run: --compile: torch.compile on the CPU needs a C++ compiler and none was found "
        "(install g++, or point CXX at one), so --compile cannot work here"]
