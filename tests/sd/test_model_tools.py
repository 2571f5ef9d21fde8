"""Model merging and CheckpointSave on tiny models: the merge is ComfyUI's weighted sum, and a
saved checkpoint loads back (here and, by its layout, in ComfyUI) with the same numbers."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open

from nodeflow.diffusion.merge import merge_modules

from .conftest import computed, install_tiny, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


@pytest.fixture(scope="module")
def second(base):
    return install_tiny(base, "sd1", seed=2, name="tiny-sd1-b.safetensors")


def test_merge_is_a_weighted_sum():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    merged = merge_modules(a, b, 0.25, "test")
    assert torch.allclose(merged.weight, a.weight * 0.25 + b.weight * 0.75)
    assert merged is not a and not torch.equal(a.weight, merged.weight)


def merged_graph(second, ratio, clip_ratio=None):
    graph = txt2img(steps=1, save=False)
    nodes = graph["nodes"]
    nodes["ckpt2"] = {"type": "CheckpointLoader", "inputs": {"checkpoint": second}}
    nodes["merge"] = {"type": "ModelMergeSimple", "inputs": {
        "model1": L("ckpt", "model"), "model2": L("ckpt2", "model"), "ratio": ratio}}
    nodes["sample"]["inputs"]["model"] = L("merge", "model")
    if clip_ratio is not None:
        nodes["clipmerge"] = {"type": "CLIPMergeSimple", "inputs": {
            "clip1": L("ckpt", "clip"), "clip2": L("ckpt2", "clip"), "ratio": clip_ratio}}
        for prompt in ("pos", "neg"):
            nodes[prompt]["inputs"]["clip"] = L("clipmerge", "clip")
    return graph


def test_ratio_one_and_zero_are_the_inputs(executor, second):
    first = computed(executor, txt2img(steps=1, save=False), "sample", "latent").samples
    assert torch.equal(computed(executor, merged_graph(second, 1.0, 1.0), "sample",
                                "latent").samples, first)
    other = txt2img(steps=1, save=False)
    other["nodes"]["ckpt"]["inputs"]["checkpoint"] = second
    other_latent = computed(executor, other, "sample", "latent").samples
    only_second = merged_graph(second, 0.0, 0.0)
    only_second["nodes"]["sample"]["inputs"]["model"] = L("merge", "model")
    assert torch.equal(computed(executor, only_second, "sample", "latent").samples, other_latent)


def test_checkpoint_save_loads_back_the_same(executor, base, second):
    graph = merged_graph(second, 0.4, 0.7)
    graph["nodes"]["save"] = {"type": "CheckpointSave", "inputs": {
        "model": L("merge", "model"), "clip": L("clipmerge", "clip"), "vae": L("ckpt", "vae"),
        "prefix": "checkpoints/merged"}}
    expected = computed(executor, graph, "sample", "latent").samples
    result = run(executor, graph)
    assert result.status == "success", result.error
    [saved] = sorted((base / "output" / "checkpoints").glob("merged_*.safetensors"))
    with safe_open(saved, "pt") as f:
        metadata = f.metadata()
        assert any(k.startswith("model.diffusion_model.") for k in f.keys())
    assert json.loads(metadata["nodeflow"])["nodes"]["save"]["type"] == "CheckpointSave"
    assert metadata["modelspec.architecture"] == "stable-diffusion-v1"
    # a tiny model needs its config folder beside it; real SD checkpoints use the shipped ones
    checkpoints = base / "models" / "checkpoints"
    shutil.copy(saved, checkpoints / "merged.safetensors")
    shutil.copytree(checkpoints / "tiny-sd1.configs", checkpoints / "merged.configs",
                    dirs_exist_ok=True)
    reloaded = txt2img("merged.safetensors", steps=1, save=False)
    assert torch.allclose(computed(executor, reloaded, "sample", "latent").samples, expected,
                          atol=1e-6)
