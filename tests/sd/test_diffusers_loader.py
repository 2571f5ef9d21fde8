"""DiffusersLoader: a diffusers folder in models/diffusers (model_index.json, unet/, vae/,
text_encoder/) loads as ComfyUI's loader of that name does, and samples the same picture as
the same folder loaded from models/checkpoints."""
from __future__ import annotations

import shutil

import pytest
import torch

from nodeflow.diffusion.checkpoint_paths import available_models
from nodeflow.errors import WorkflowError

from .conftest import computed, install_tiny, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def test_loads_a_diffusers_folder(base, executor):
    name = install_tiny(base, "sd1", "diffusers", name="tiny-sd1-folder")
    folder = base / "models" / "diffusers"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(base / "models" / "checkpoints" / name, folder / "family" / "tiny")
    (folder / "loose.safetensors").write_bytes(b"")  # only folders are listed here
    assert [str(n) for n in available_models(base, "diffusers")] == ["family/tiny"]
    data = txt2img(name, steps=2, save=False)
    expected = computed(executor, data, "sample", "latent").samples
    data["nodes"]["ckpt"] = {"type": "DiffusersLoader", "inputs": {"model_path": "family/tiny"}}
    got = computed(executor, data, "sample", "latent").samples
    assert torch.equal(got, expected)
    data["nodes"]["ckpt"]["inputs"]["model_path"] = "../checkpoints/tiny-sd1-folder"
    with pytest.raises(WorkflowError) as info:
        run(executor, data)
    problem = info.value.problems[0]
    assert (problem.node, problem.input) == ("ckpt", "model_path")
