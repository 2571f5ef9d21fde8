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
    """A zero latent of 1/8 the size (a UNet alone does not know the tiny VAE's factor 2):
    a flipped empty latent is still zeros, but no longer one the sampler re-makes."""
    graph["nodes"]["zeros"] = {"type": "LatentFlip", "inputs": {"latent": L("latent", "latent")}}
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


def test_fp8_weights_are_stored_in_8_bits_and_give_the_rounded_models_numbers(executor, base,
                                                                            sd1_parts):
    from nodeflow.diffusion.fp8 import store_in_fp8, stored_dtypes
    from nodeflow.diffusion.part_loading import load_unet

    graph = fixed_latent(by_parts())
    plain = computed(executor, graph, "sample", "latent").samples
    graph["nodes"]["unet"]["inputs"]["weight_dtype"] = "fp8_e4m3fn"
    stored = computed(executor, graph, "sample", "latent").samples
    assert not torch.equal(stored, plain)  # fp8 rounds, but stays close:
    assert (stored - plain).norm() / plain.norm() < 0.1

    path = base / "models" / "unet" / "tiny-unet.safetensors"
    x, t, text = torch.randn(1, 4, 8, 8), torch.tensor([500.0]), torch.randn(1, 77, 32)
    for kind, dtype in (("fp8_e4m3fn", torch.float8_e4m3fn), ("fp8_e5m2", torch.float8_e5m2)):
        unet, rounded = load_unet(path).unet, load_unet(path).unet
        assert stored_dtypes(store_in_fp8(unet, kind)) == {dtype}
        with torch.no_grad():  # the reference: each layer's parameters rounded to fp8 once
            for layer in rounded.modules():
                if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                    for p in layer.parameters(recurse=False):
                        p.copy_(p.to(dtype).float())
            assert torch.equal(unet(x, t, text).sample, rounded(x, t, text).sample)
        assert all(p.dtype == torch.float32 for n, p in unet.named_parameters() if "norm" in n)


def test_an_unknown_fp8_type_is_refused():
    from nodeflow.diffusion.fp8 import store_in_fp8

    with pytest.raises(ValueError, match="fp8_e4m3fn"):
        store_in_fp8(torch.nn.Linear(2, 2), "fp4")
