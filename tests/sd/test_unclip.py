"""SD 2.1 unCLIP on a tiny checkpoint written as Stability ships them (an SD 2.x v model with a
UNet label input and open_clip's image tower under embedder.model.visual.): the loader gives
model, CLIP, VAE and the image encoder; unCLIPConditioning's embedding reaches the UNet as
ComfyUI's unclip_adm computes it (checked against an independent NumPy version)."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from nodeflow.diffusion.unclip import class_labels

from .conftest import capture, computed, install_tiny, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731
VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
          "num_attention_heads": 1, "num_channels": 3, "patch_size": 4, "image_size": 16,
          "projection_dim": 16, "layer_norm_eps": 1e-5, "hidden_act": "gelu"}


def openclip_visual(model) -> dict[str, torch.Tensor]:
    """A transformers CLIPVisionModelWithProjection under open_clip's visual names."""
    sd = model.state_dict()
    out = {"class_embedding": sd["vision_model.embeddings.class_embedding"],
           "conv1.weight": sd["vision_model.embeddings.patch_embedding.weight"],
           "positional_embedding": sd["vision_model.embeddings.position_embedding.weight"],
           "ln_pre.weight": sd["vision_model.pre_layrnorm.weight"], "ln_pre.bias": sd["vision_model.pre_layrnorm.bias"],
           "ln_post.weight": sd["vision_model.post_layernorm.weight"],
           "ln_post.bias": sd["vision_model.post_layernorm.bias"], "proj": sd["visual_projection.weight"].t()}
    for i in range(VISION["num_hidden_layers"]):
        src, dst = f"vision_model.encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            out[f"{dst}ln_1.{p}"] = sd[f"{src}layer_norm1.{p}"]
            out[f"{dst}ln_2.{p}"] = sd[f"{src}layer_norm2.{p}"]
            out[f"{dst}mlp.c_fc.{p}"] = sd[f"{src}mlp.fc1.{p}"]
            out[f"{dst}mlp.c_proj.{p}"] = sd[f"{src}mlp.fc2.{p}"]
            out[f"{dst}attn.out_proj.{p}"] = sd[f"{src}self_attn.out_proj.{p}"]
            out[f"{dst}attn.in_proj_{p}"] = torch.cat([sd[f"{src}self_attn.{x}_proj.{p}"] for x in "qkv"])
    return {"embedder.model.visual." + k: v.contiguous() for k, v in out.items()}


@pytest.fixture(scope="module")
def unclip(base):
    """(checkpoint name, the image tower) of a tiny unCLIP checkpoint in base's folder."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    name = install_tiny(base, "sd2-v", name="tiny-sd2.safetensors")
    folder = base / "models" / "checkpoints"
    tensors = load_file(folder / name)
    torch.manual_seed(5)
    time_dim = tensors["model.diffusion_model.time_embed.0.weight"].shape[0]
    tensors["model.diffusion_model.label_emb.0.0.weight"] = torch.randn(time_dim, 32) * 0.3
    tensors["model.diffusion_model.label_emb.0.0.bias"] = torch.randn(time_dim) * 0.1
    tensors["model.diffusion_model.label_emb.0.2.weight"] = torch.randn(time_dim, time_dim) * 0.3
    tensors["model.diffusion_model.label_emb.0.2.bias"] = torch.randn(time_dim) * 0.1
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION)).eval()
    tensors.update(openclip_visual(vision))
    save_file(tensors, folder / "tiny-unclip.safetensors")
    shutil.copytree(folder / "tiny-sd2.configs", folder / "tiny-unclip.configs", dirs_exist_ok=True)
    return "tiny-unclip.safetensors", vision


def unclip_graph(name: str, strength: float = 1.0, augmentation: float = 0.2) -> dict:
    graph = txt2img(name, steps=2, save=False)
    nodes = graph["nodes"]
    nodes["ckpt"] = {"type": "unCLIPCheckpointLoader", "inputs": {"checkpoint": name}}
    nodes["picture"] = {"type": "SolidMask", "inputs": {"value": 0.7, "width": 20, "height": 24}}
    nodes["image"] = {"type": "MaskToImage", "inputs": {"mask": L("picture", "mask")}}
    nodes["encode_image"] = {"type": "CLIPVisionEncode", "inputs": {
        "clip_vision": L("ckpt", "clip_vision"), "image": L("image", "image"), "crop": "center"}}
    nodes["unclip"] = {"type": "unCLIPConditioning", "inputs": {
        "conditioning": L("pos", "conditioning"), "clip_vision_output": L("encode_image", "clip_vision_output"),
        "strength": strength, "noise_augmentation": augmentation}}
    nodes["sample"]["inputs"]["positive"] = L("unclip", "conditioning")
    return graph


def test_the_loader_gives_the_image_encoder_the_checkpoint_carries(executor, unclip):
    from nodeflow.diffusion.clip_vision import encode_image

    name, vision = unclip
    graph = unclip_graph(name)
    got = computed(executor, graph, "encode_image", "clip_vision_output")
    image = computed(executor, graph, "image", "image")
    expected = encode_image(vision, image)
    assert got.image_embeds.shape == (1, 16)
    assert torch.allclose(got.image_embeds, expected.image_embeds, atol=1e-5)
    model = computed(executor, graph, "ckpt", "model")
    assert model.source.file.path.endswith(name)


def reference_labels(items, width: int, seed: int) -> np.ndarray:
    """ComfyUI's unclip_adm for one image embedding per item, in NumPy (cosine schedule,
    noise from torch's global generator seeded with seed - 10, as ComfyUI draws it)."""
    steps = 1000
    alpha_bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)])
    cumulative = np.cumprod(1.0 - betas)
    signal, noise_share = np.sqrt(cumulative).astype(np.float32), np.sqrt(1 - cumulative).astype(np.float32)

    def noised(x, augmentation):
        level = round(999 * augmentation)
        torch.manual_seed(seed - 10)
        noise = torch.randn(x.shape).numpy()
        half = x.shape[-1] // 2
        freqs = np.exp(-math.log(10000) * np.arange(half, dtype=np.float32) / half)
        embedding = np.concatenate([np.cos(level * freqs), np.sin(level * freqs)])[None]
        return np.concatenate([signal[level] * x + noise_share[level] * noise, embedding], axis=1)

    parts = [noised(embeds, augmentation) * strength for embeds, strength, augmentation in items]
    if len(parts) == 1:
        return parts[0]
    return noised(np.sum(parts, axis=0)[:, :width // 2], 0.05)


def test_the_label_is_comfyuis_unclip_adm():
    from types import SimpleNamespace

    first, second = torch.randn(1, 16), torch.randn(1, 16)
    one = [(SimpleNamespace(image_embeds=first), 0.7, 0.3)]
    assert torch.allclose(class_labels(one, 32, 42), torch.from_numpy(
        reference_labels([(first.numpy(), 0.7, 0.3)], 32, 42)).float(), atol=1e-5)
    two = one + [(SimpleNamespace(image_embeds=second), 1.5, 0.0)]
    assert torch.allclose(class_labels(two, 32, 42), torch.from_numpy(reference_labels(
        [(first.numpy(), 0.7, 0.3), (second.numpy(), 1.5, 0.0)], 32, 42)).float(), atol=1e-5)
    assert torch.equal(class_labels([], 32, 42), torch.zeros(1, 32))


def test_unclip_conditioning_guides_the_unclip_model(executor, unclip):
    name, _ = unclip
    guided = computed(executor, unclip_graph(name), "sample", "latent").samples
    plain_graph = unclip_graph(name)
    plain_graph["nodes"]["sample"]["inputs"]["positive"] = L("pos", "conditioning")
    plain = computed(executor, plain_graph, "sample", "latent").samples
    assert (guided - plain).abs().max() > 1e-3
    assert torch.equal(computed(executor, unclip_graph(name, strength=0.0), "sample", "latent").samples, plain)
    assert not torch.equal(computed(executor, unclip_graph(name, augmentation=0.9), "sample", "latent").samples,
                           guided)
    # Load Checkpoint reads the same file (the image input gets zeros)
    assert computed(executor, txt2img(name, steps=2, save=False), "sample", "latent").samples.shape == plain.shape


def test_an_ordinary_checkpoint_is_not_an_unclip_model(executor, unclip):
    graph = unclip_graph("tiny-sd1.safetensors")
    result = run(executor, capture(graph, "sample", "latent"))
    assert result.status == "error" and "not an unCLIP model" in str(result.error)


@pytest.fixture(scope="module")
def revision(base):
    """(tiny SDXL checkpoint, a CLIP vision file whose embedding is as wide as its pooled text
    embedding (16), one 8 wide)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    name = install_tiny(base, "sdxl", name="tiny-sdxl-revision.safetensors")
    folder = base / "models" / "clip_vision"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(6)
    for file, width in (("tiny-vision-g.safetensors", 16), ("tiny-vision-8.safetensors", 8)):
        vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**dict(VISION, projection_dim=width)))
        save_file({k: v.contiguous() for k, v in vision.state_dict().items()}, folder / file)
    return name


def revision_graph(checkpoint: str, vision: str, strength: float = 1.0) -> dict:
    graph = unclip_graph(checkpoint, strength=strength, augmentation=0.1)
    graph["nodes"]["ckpt"] = {"type": "CheckpointLoader", "inputs": {"checkpoint": checkpoint}}
    graph["nodes"]["vision"] = {"type": "CLIPVisionLoader", "inputs": {"clip_name": vision}}
    graph["nodes"]["encode_image"]["inputs"]["clip_vision"] = L("vision", "clip_vision")
    return graph


def test_sdxl_revision_puts_the_picture_in_place_of_the_pooled_prompt(executor, revision):
    from nodes.sd.sampling import revision_pooled

    guided = computed(executor, revision_graph(revision, "tiny-vision-g.safetensors"),
                      "sample", "latent").samples
    plain_graph = revision_graph(revision, "tiny-vision-g.safetensors")
    plain_graph["nodes"]["sample"]["inputs"]["positive"] = L("pos", "conditioning")
    plain = computed(executor, plain_graph, "sample", "latent").samples
    assert (guided - plain).abs().max() > 1e-3
    # ComfyUI's sdxl_pooled: the first half of the unCLIP label replaces the pooled text
    output = computed(executor, plain_graph, "encode_image", "clip_vision_output")
    added = {"text_embeds": torch.ones(1, 16), "time_ids": torch.zeros(1, 6)}
    got = revision_pooled(added, [(output, 0.5, 0.1)], seed=3)
    assert torch.equal(got["text_embeds"], class_labels([(output, 0.5, 0.1)], 32, 3)[:, :16])
    assert torch.equal(got["time_ids"], added["time_ids"])


def test_sdxl_revision_with_a_vision_model_of_the_wrong_width_names_it(executor, revision):
    graph = revision_graph(revision, "tiny-vision-8.safetensors")
    result = run(executor, capture(graph, "sample", "latent"))
    assert result.status == "error"
    assert "8 wide" in str(result.error) and "takes 16" in str(result.error)
