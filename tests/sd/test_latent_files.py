"""SaveLatent / LoadLatent: ComfyUI's .latent files (safetensors with latent_tensor and the
latent_format_version_0 mark), written to output/ and read from input/ inside those folders,
bit for bit; old files without the mark are divided by SD's 0.18215 as ComfyUI does."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nodeflow.errors import WorkflowError

from .conftest import capture, computed, run

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def saving(prefix: str) -> dict:
    return {"nodeflow": 1, "nodes": {
        "grey": {"type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 2,
                                                  "color": 0x336699}},
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "encode": {"type": "VAEEncode", "inputs": {"image": L("grey", "image"),
                                                   "vae": L("ckpt", "vae")}},
        "save": {"type": "SaveLatent", "inputs": {"latent": L("encode", "latent"),
                                                  "prefix": prefix}}}}


def loading(name: str) -> dict:
    return {"nodeflow": 1, "nodes": {"load": {"type": "LoadLatent", "inputs": {"latent": name}}}}


def test_save_then_load_is_bit_exact(base, executor):
    data = saving("latents/round")
    result = run(executor, data)
    assert result.status == "success", result.error
    encoded = computed(executor, data, "encode", "latent").samples  # SaveLatent is cached
    saved = base / "output" / "latents" / "round_00001.latent"
    assert saved.is_file()
    with safe_open(saved, "pt") as f:
        assert set(f.keys()) == {"latent_tensor", "latent_format_version_0"}
        assert f.get_tensor("latent_format_version_0").shape == (0,)
        meta = f.metadata()
    assert json.loads(meta["prompt"])["save"]["class_type"] == "SaveLatent"  # ComfyUI's chunk
    assert "nodeflow" in meta  # and the workflow, to open it again
    (base / "input").mkdir(exist_ok=True)
    shutil.copy(saved, base / "input" / "round.latent")
    loaded = computed(executor, loading("round.latent"), "load", "latent")
    assert loaded.samples.dtype == torch.float32
    assert torch.equal(loaded.samples, encoded)


def test_old_files_are_scaled_back(base, executor):
    (base / "input").mkdir(exist_ok=True)
    old = torch.randn(1, 4, 2, 2)
    save_file({"latent_tensor": old}, base / "input" / "old.latent")
    loaded = computed(executor, loading("old.latent"), "load", "latent")
    assert torch.equal(loaded.samples, old.float() * (1.0 / 0.18215))
    half = torch.randn(1, 4, 2, 2).half()
    save_file({"latent_tensor": half, "latent_format_version_0": torch.tensor([])},
              base / "input" / "half.latent")
    assert torch.equal(computed(executor, loading("half.latent"), "load", "latent").samples,
                       half.float())


def _problem(executor, data):
    result = None
    try:
        result = run(executor, data)
    except WorkflowError as exc:
        return exc.problems[0].node, exc.problems[0].input, exc.problems[0].message
    assert result.status == "error" and result.error["traceback"] is None  # not a bug
    return result.error["node"], result.error["input"], result.error["message"]


def test_bad_files_and_paths_name_the_input(base, executor):
    (base / "input").mkdir(exist_ok=True)
    save_file({"other": torch.zeros(1)}, base / "input" / "empty.latent")
    (base / "input" / "junk.latent").write_bytes(b"not safetensors")
    node, name, message = _problem(executor, capture(loading("empty.latent"), "load", "latent"))
    assert (node, name) == ("load", "latent") and "latent_tensor" in message
    node, name, message = _problem(executor, capture(loading("junk.latent"), "load", "latent"))
    assert (node, name) == ("load", "latent") and "not a readable latent file" in message
    outside = loading("../output/latents/round_00001.latent")
    node, name, message = _problem(executor, capture(outside, "load", "latent"))
    assert (node, name) == ("load", "latent")
    node, name, message = _problem(executor, saving("../escaped"))
    assert (node, name) == ("save", "prefix") and "inside the output folder" in message
    assert not (base / "escaped_00001.latent").exists()
