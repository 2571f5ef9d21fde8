"""CLIP vision: a tiny CLIPVisionModelWithProjection in ComfyUI's file layout loads with its
config read off the weights, and CLIPVisionEncode prepares pictures as ComfyUI does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from nodeflow.diffusion.clip_vision import MEAN, STD, preprocess, vision_config

from .conftest import capture, computed, run

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


@pytest.fixture(scope="module")
def vision(base):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                              num_attention_heads=1, image_size=28, patch_size=7,
                              projection_dim=16, hidden_act="gelu", layer_norm_eps=1e-5)
    model = CLIPVisionModelWithProjection(config).eval()
    folder = base / "models" / "clip_vision"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / "tiny-vision.safetensors")
    save_file({"visual.transformer.resblocks.0.ln_1.weight": torch.ones(2)},
              folder / "open-clip.safetensors")
    return model


def test_config_is_read_off_the_weights(vision):
    read = vision_config(vision.state_dict())
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "image_size",
                "patch_size", "projection_dim", "hidden_act"):
        assert read[key] == getattr(vision.config, key), key


def test_preprocess_as_comfyui():
    image = torch.rand(2, 30, 50, 3)
    got = preprocess(image, 28, crop=True)
    scaled = F.interpolate(image.movedim(-1, 1), size=(28, round(50 * 28 / 30)), mode="bicubic",
                           antialias=True)
    left = (scaled.shape[3] - 28) // 2
    expected = torch.clip(255 * scaled[..., left:left + 28], 0, 255).round() / 255
    expected = (expected - torch.tensor(MEAN).reshape(1, 3, 1, 1)) / torch.tensor(STD).reshape(1, 3, 1, 1)
    assert got.shape == (2, 3, 28, 28) and torch.allclose(got, expected, atol=1e-6)
    squashed = preprocess(image, 28, crop=False)
    assert squashed.shape == (2, 3, 28, 28) and not torch.allclose(squashed, got)
    exact = torch.rand(1, 28, 28, 3)  # already the model's size: not resized at all
    assert torch.allclose(preprocess(exact, 28) * torch.tensor(STD).reshape(1, 3, 1, 1)
                          + torch.tensor(MEAN).reshape(1, 3, 1, 1),
                          (exact.movedim(-1, 1) * 255).round() / 255, atol=1e-6)


def test_clip_vision_nodes(executor, vision):
    graph = {"nodeflow": 1, "nodes": {
        "solid": {"type": "SolidMask", "inputs": {"value": 0.7, "width": 40, "height": 32}},
        "image": {"type": "MaskToImage", "inputs": {"mask": L("solid", "mask")}},
        "load": {"type": "CLIPVisionLoader", "inputs": {"clip_name": "tiny-vision.safetensors"}},
        "encode": {"type": "CLIPVisionEncode", "inputs": {
            "clip_vision": L("load", "clip_vision"), "image": L("image", "image"),
            "crop": "center"}}}}
    out = computed(executor, graph, "encode", "clip_vision_output")
    with torch.no_grad():
        direct = vision(pixel_values=preprocess(torch.full((1, 32, 40, 3), 0.7), 28),
                        output_hidden_states=True)
    assert torch.allclose(out.image_embeds, direct.image_embeds, atol=1e-5)
    assert torch.allclose(out.penultimate_hidden_states, direct.hidden_states[-2], atol=1e-5)
    assert out.last_hidden_state.shape == (1, 17, 64)
    graph["nodes"]["load"]["inputs"]["clip_name"] = "open-clip.safetensors"
    result = run(executor, capture(graph, "encode", "clip_vision_output"))
    assert result.status == "error" and "open_clip's layout" in str(result.error)
