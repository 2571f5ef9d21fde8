"""UNETLoader, CLIPLoader and DualCLIPLoader: a checkpoint split into part files (as model
sites ship them) loads by parts and gives the whole checkpoint's numbers."""
from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodeflow.errors import WorkflowError

from .conftest import capture, computed, install_tiny, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def split(base, checkpoint: str, parts: dict[str, tuple[str, str, str]]):
    """Write ``parts`` (file name -> (folder, key prefix in the checkpoint, new prefix)) of a
    tiny checkpoint, each with the checkpoint's config folder beside it."""
    folder = base / "models" / "checkpoints"
    tensors = load_file(folder / checkpoint)
    configs = folder / (checkpoint.removesuffix(".safetensors") + ".configs")
    for name, (kind, prefix, new) in parts.items():
        target = base / "models" / kind
        target.mkdir(parents=True, exist_ok=True)
        save_file({new + k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                  target / name)
        shutil.copytree(configs, target / name.replace(".safetensors", ".configs"),
                        dirs_exist_ok=True)


@pytest.fixture(scope="module")
def sd1_parts(base):
    split(base, "tiny-sd1.safetensors", {
        "tiny-unet.safetensors": ("unet", "model.diffusion_model.", ""),  # ComfyUI's old folder
        "tiny-clip-l.safetensors": ("text_encoders", "cond_stage_model.transformer.", "")})


def by_parts(**sampler):
    graph = txt2img(steps=2, save=False, **sampler)
    nodes = graph["nodes"]
    nodes["unet"] = {"type": "UNETLoader", "inputs": {"unet_name": "tiny-unet.safetensors"}}
    nodes["clip"] = {"type": "CLIPLoader", "inputs": {"clip_name": "tiny-clip-l.safetensors",
                                                      "type": "stable_diffusion"}}
    nodes["sample"]["inputs"]["model"] = L("unet", "model")
    for prompt in ("pos", "neg"):
        nodes[prompt]["inputs"]["clip"] = L("clip", "clip")
    return graph


def fixed_latent(graph):
    """A zero latent of 1/8 the size (a UNet alone does not know the tiny VAE's factor 2)."""
    graph["nodes"]["zeros"] = {"type": "LatentFromBatch", "inputs": {"latent": L("latent", "latent")}}
    graph["nodes"]["sample"]["inputs"]["latent"] = L("zeros", "latent")
    return graph


def test_unet_and_clip_files_give_the_checkpoints_numbers(executor, sd1_parts):
    whole = computed(executor, fixed_latent(txt2img(steps=2, save=False)), "sample", "latent")
    parts = computed(executor, fixed_latent(by_parts()), "sample", "latent")
    assert parts.samples.shape == (1, 4, 4, 4) and torch.equal(parts.samples, whole.samples)


def test_dual_clip_loader_for_sdxl(executor, base):
    name = install_tiny(base, "sdxl", name="tiny-sdxl.safetensors")
    split(base, name, {
        "tiny-clip-l-xl.safetensors": ("text_encoders", "conditioner.embedders.0.transformer.",
                                       ""),
        "tiny-clip-g.safetensors": ("text_encoders", "conditioner.embedders.1.model.", "")})
    whole = txt2img(name, steps=1, save=False)
    expected = computed(executor, whole, "pos", "conditioning").entries[0]
    whole["nodes"]["dual"] = {"type": "DualCLIPLoader", "inputs": {
        "clip_name1": "tiny-clip-l-xl.safetensors", "clip_name2": "tiny-clip-g.safetensors",
        "type": "sdxl", "device": "cpu"}}
    whole["nodes"]["pos"]["inputs"]["clip"] = L("dual", "clip")
    got = computed(executor, whole, "pos", "conditioning").entries[0]
    assert torch.equal(got.cond, expected.cond) and torch.equal(got.pooled, expected.pooled)


def test_other_families_are_named(executor, base, sd1_parts):
    folder = base / "models" / "diffusion_models"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"double_blocks.0.img_attn.qkv.weight": torch.zeros(2, 2)},
              folder / "flux-like.safetensors")
    graph = capture(by_parts(), "sample", "latent")
    graph["nodes"]["unet"]["inputs"]["unet_name"] = "flux-like.safetensors"
    result = run(executor, graph)
    assert result.status == "error" and "Flux" in str(result.error)
    assert "not supported yet" in str(result.error)
    graph = capture(by_parts(), "sample", "latent")
    graph["nodes"]["clip"]["inputs"]["type"] = "sd3"
    result = run(executor, graph)
    assert result.status == "error" and "not supported yet" in str(result.error)
    graph["nodes"]["clip"]["inputs"]["type"] = "no-such-type"
    with pytest.raises(WorkflowError, match="type"):
        run(executor, graph)
