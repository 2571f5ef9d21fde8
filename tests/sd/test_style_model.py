"""Style models: a random-weight T2I-Adapter style model (TencentARC's key layout, sizes of a
tiny CLIP vision tower and the tiny SD 1.x text encoder) loads with its sizes read off the
tensors, StyleModelApply appends its tokens to the prompt (checked against attention written
out by hand), and the result samples."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from .conftest import capture, computed, run, txt2img
from .tiny_style import CONTEXT, HEADS, LAYERS, TOKENS, WIDTH, style_state_dict

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def by_hand(sd, hidden: torch.Tensor) -> torch.Tensor:
    """The style tokens computed with plain tensor arithmetic (multi-head attention spelt out)."""
    norm = lambda x, name: F.layer_norm(x, (WIDTH,), sd[name + ".weight"], sd[name + ".bias"])  # noqa: E731
    x = torch.cat([hidden, sd["style_embedding"].expand(hidden.shape[0], -1, -1)], dim=1)
    x = norm(x, "ln_pre")
    for i in range(LAYERS):
        p = f"transformer_layes.{i}."
        h = norm(x, p + "ln_1")
        q, k, v = (h @ sd[p + "attn.in_proj_weight"].T + sd[p + "attn.in_proj_bias"]).chunk(3, -1)
        split = lambda t: t.reshape(t.shape[0], t.shape[1], HEADS, -1).transpose(1, 2)  # noqa: E731
        weights = (split(q) @ split(k).transpose(-1, -2) / (WIDTH // HEADS) ** 0.5).softmax(-1)
        heads = (weights @ split(v)).transpose(1, 2).reshape(x.shape)
        x = x + heads @ sd[p + "attn.out_proj.weight"].T + sd[p + "attn.out_proj.bias"]
        h = norm(x, p + "ln_2") @ sd[p + "mlp.c_fc.weight"].T + sd[p + "mlp.c_fc.bias"]
        h = h * torch.sigmoid(1.702 * h)
        x = x + h @ sd[p + "mlp.c_proj.weight"].T + sd[p + "mlp.c_proj.bias"]
    return norm(x[:, -TOKENS:], "ln_post") @ sd["proj"]


@pytest.fixture(scope="module")
def style_files(base):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=WIDTH, intermediate_size=96, num_hidden_layers=2, num_attention_heads=1,
        image_size=28, patch_size=7, projection_dim=16, hidden_act="gelu")).eval()
    (base / "models" / "clip_vision").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vision.state_dict().items()},
              base / "models" / "clip_vision" / "style-vision.safetensors")
    folder = base / "models" / "style_models"
    folder.mkdir(parents=True, exist_ok=True)
    sd = style_state_dict()
    save_file(sd, folder / "tiny-style.safetensors")
    save_file({"redux_down.weight": torch.zeros(2, 2), "redux_up.weight": torch.zeros(2, 2)},
              folder / "redux.safetensors")
    save_file({"something": torch.zeros(2)}, folder / "junk.safetensors")
    return sd


def styled(strength: float = 1.0, strength_type: str = "multiply",
           name: str = "tiny-style.safetensors") -> dict:
    data = txt2img(steps=2, save=False)
    data["nodes"].update({
        "picture": {"type": "EmptyImage", "inputs": {"width": 40, "height": 32,
                                                     "color": 0x40A0E0}},
        "vision": {"type": "CLIPVisionLoader", "inputs": {"clip_name": "style-vision.safetensors"}},
        "seen": {"type": "CLIPVisionEncode", "inputs": {"clip_vision": L("vision", "clip_vision"),
                                                        "image": L("picture", "image")}},
        "style": {"type": "StyleModelLoader", "inputs": {"style_model_name": name}},
        "apply": {"type": "StyleModelApply", "inputs": {
            "conditioning": L("pos", "conditioning"), "style_model": L("style", "style_model"),
            "clip_vision_output": L("seen", "clip_vision_output"), "strength": strength,
            "strength_type": strength_type}}})
    data["nodes"]["sample"]["inputs"]["positive"] = L("apply", "conditioning")
    return data


def test_style_tokens_are_appended_to_the_prompt(executor, style_files):
    data = styled(strength=0.5)
    prompt = computed(executor, data, "pos", "conditioning").entries[0].cond
    seen = computed(executor, data, "seen", "clip_vision_output")
    out = computed(executor, data, "apply", "conditioning").entries[0]
    assert out.cond.shape == (1, prompt.shape[1] + TOKENS, CONTEXT)
    assert torch.equal(out.cond[:, :prompt.shape[1]], prompt)
    expected = 0.5 * by_hand(style_files, seen.last_hidden_state)
    assert torch.allclose(out.cond[:, prompt.shape[1]:], expected, atol=1e-4)
    # the longer positive prompt samples next to the 77-token negative one
    sampled = computed(executor, data, "sample", "latent").samples
    plain = computed(executor, txt2img(steps=2, save=False), "sample", "latent").samples
    assert sampled.shape == plain.shape and torch.isfinite(sampled).all()
    assert not torch.allclose(sampled, plain)  # the style changed the picture
    unbiased = computed(executor, styled(1.0, "attn_bias"), "apply", "conditioning")
    assert torch.allclose(unbiased.entries[0].cond[:, prompt.shape[1]:],
                          by_hand(style_files, seen.last_hidden_state), atol=1e-4)


def _failure(executor, data):
    result = run(executor, capture(data, "apply", "conditioning"))
    assert result.status == "error" and result.error["traceback"] is None
    return result.error["node"], result.error["input"], result.error["message"]


def test_what_cannot_run_says_why(executor, style_files):
    node, name, message = _failure(executor, styled(0.5, "attn_bias"))
    assert (node, name) == ("apply", "strength_type") and "use multiply" in message
    node, name, message = _failure(executor, styled(name="redux.safetensors"))
    assert (node, name) == ("style", "style_model_name") and "Flux Redux" in message
    node, name, message = _failure(executor, styled(name="junk.safetensors"))
    assert (node, name) == ("style", "style_model_name") and "not a style model" in message


@pytest.mark.parametrize("kind", ["clip_vision", "style_models"])
def test_weights_stored_narrower_share_the_copy_loaded_at_the_same_dtype(base, style_files, kind):
    """CLIP vision and style models load at the compute dtype whatever the checkpoints'
    storage, so fp32 and bf16-stored fp32 (``--precision bf16`` on a CPU without bf16
    instructions) share one copy on a server that runs both."""
    from types import SimpleNamespace

    from nodeflow.diffusion.clip_vision import ClipVisionRef
    from nodeflow.diffusion.refs import FileIdentity
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.style_model import StyleModelRef
    from nodeflow.engine.model_cache import ModelCache

    ref_type, name = {"clip_vision": (ClipVisionRef, "style-vision"),
                      "style_models": (StyleModelRef, "tiny-style")}[kind]
    ref = ref_type(FileIdentity.of(base / "models" / kind / f"{name}.safetensors"))
    ctx = SimpleNamespace(models=ModelCache())
    model = ref.load(ctx, Runtime("cpu", torch.float32, torch.float32))
    assert ref.load(ctx, Runtime("cpu", torch.float32, torch.float32, storage=torch.bfloat16)) is model
    assert next(model.parameters()).dtype == torch.float32
    assert ref.load(ctx, Runtime("cpu", torch.bfloat16, torch.bfloat16)) is not model
