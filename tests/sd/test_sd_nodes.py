"""The SD nodes on tiny models: img2img, inpaint, SDXL, tiled VAE, VAE swap, encode modes,
LoRA, interrupt, and bad input that fails with a clear error naming the node and input."""
from __future__ import annotations

import copy
import threading

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.engine import events as ev
from nodeflow.errors import WorkflowError
from nodeflow.engine.executor import Executor
from nodeflow.settings import Settings

from .conftest import computed, install_tiny, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def with_nodes(data: dict, **nodes) -> dict:
    """A deep copy of ``data`` with ``nodes`` added or replaced."""
    data = copy.deepcopy(data)
    return dict(data, nodes={**data["nodes"], **copy.deepcopy(nodes)})


def test_img2img_keeps_part_of_the_input(executor):
    base = txt2img(seed=1, save=False)
    first = computed(executor, base, "decode", "image")
    data = with_nodes(base,
                      enc={"type": "VAEEncode", "inputs": {"image": L("decode", "image"),
                                                           "vae": L("ckpt", "vae")}},
                      again={"type": "KSampler", "inputs": {
                          **base["nodes"]["sample"]["inputs"], "latent": L("enc", "latent"),
                          "seed": 99, "denoise": 0.5}},
                      out={"type": "VAEDecode", "inputs": {"latent": L("again", "latent"),
                                                           "vae": L("ckpt", "vae")}})
    half = computed(executor, data, "out", "image")
    data["nodes"]["again"]["inputs"]["denoise"] = 1.0
    full = computed(executor, data, "out", "image")
    assert half.shape == first.shape == (1, 32, 32, 3)
    assert (half - first).abs().mean() < (full - first).abs().mean()


def test_inpaint_changes_only_the_masked_latent(executor):
    base = txt2img(seed=3, save=False)
    start = computed(executor, base, "sample", "latent")
    data = with_nodes(base,
                      m={"type": "RightHalfMask"},
                      masked={"type": "SetLatentNoiseMask", "inputs": {
                          "latent": L("sample", "latent"), "mask": L("m", "mask")}},
                      again={"type": "KSampler", "inputs": {
                          **base["nodes"]["sample"]["inputs"], "latent": L("masked", "latent"),
                          "seed": 5}})
    out = computed(executor, data, "again", "latent").samples
    half = out.shape[-1] // 2
    assert torch.allclose(out[..., :half], start.samples[..., :half], atol=1e-5)
    assert not torch.allclose(out[..., half:], start.samples[..., half:], atol=1e-3)


@pytest.mark.parametrize("arch, layout", [("sdxl", "single_file"), ("sd2-v", "single_file"),
                                          ("sd1", "diffusers")])
def test_other_families_and_layouts(base, executor, arch, layout):
    name = install_tiny(base, arch, layout, name=f"tiny-{arch}-{layout}" + (
        ".safetensors" if layout == "single_file" else ""))
    image = computed(executor, txt2img(name, save=False), "decode", "image")
    assert image.shape == (1, 32, 32, 3) and torch.isfinite(image).all()


def test_tiled_decode_matches_full_decode(executor):
    base = txt2img(seed=4, width=64, height=64, save=False)
    full = computed(executor, base, "decode", "image")
    tiled = with_nodes(base, decode={"type": "VAEDecodeTiled", "inputs": {
        "latent": L("sample", "latent"), "vae": L("ckpt", "vae"), "tile_size": 64,
        "overlap": 32}})
    # 64 px tiles over a 64 px image would be one tile: a 128 px image takes several.
    big = txt2img(seed=4, width=128, height=128, save=False)
    big_full = computed(executor, big, "decode", "image")
    big_tiled = computed(executor, with_nodes(big, decode=tiled["nodes"]["decode"]),
                         "decode", "image")
    assert big_tiled.shape == big_full.shape == (1, 128, 128, 3)
    assert (big_tiled - big_full).abs().mean() <= 1e-2
    assert full.shape == (1, 64, 64, 3)


def test_tiled_encode_matches_full_encode(executor):
    big = txt2img(seed=4, width=128, height=128, save=False)
    nodes = {"full": {"type": "VAEEncode", "inputs": {"image": L("decode", "image"),
                                                      "vae": L("ckpt", "vae")}},
             "tiled": {"type": "VAEEncodeTiled", "inputs": {
                 "image": L("decode", "image"), "vae": L("ckpt", "vae"), "tile_size": 64,
                 "overlap": 32}}}
    full = computed(executor, with_nodes(big, **nodes), "full", "latent").samples
    tiled = computed(executor, with_nodes(big, **nodes), "tiled", "latent").samples
    assert (full - tiled).abs().mean() <= 5e-2


def test_vae_encode_mean_is_deterministic_and_sample_is_seeded(executor):
    base = txt2img(seed=6, save=False)

    def encode(mode, seed):
        data = with_nodes(base, enc={"type": "VAEEncode", "inputs": {
            "image": L("decode", "image"), "vae": L("ckpt", "vae"), "mode": mode,
            "seed": seed}})
        return computed(executor, data, "enc", "latent").samples

    mean_a, mean_b = encode("mean", 0), encode("mean", 7)
    sample_a, sample_a2, sample_b = encode("sample", 1), encode("sample", 1), encode("sample", 2)
    assert torch.equal(mean_a, mean_b)
    assert torch.equal(sample_a, sample_a2) and not torch.equal(sample_a, sample_b)
    assert not torch.equal(mean_a, sample_a)


def test_vae_fidelity_reports_numbers(executor):
    base = txt2img(seed=6, save=False)
    data = with_nodes(base, fid={"type": "VAEFidelity", "inputs": {
        "image": L("decode", "image"), "vae": L("ckpt", "vae")}})
    psnr = computed(executor, data, "fid", "psnr")
    ssim = computed(executor, data, "fid", "ssim")
    assert isinstance(psnr, float) and 0 < psnr < 100
    assert -1 <= ssim <= 1


def test_vae_swap(base, executor):
    import tiny_models

    _, vae, _ = tiny_models.build_tiny_models("sd1", seed=5)
    folder = base / "models" / "vae"
    folder.mkdir(parents=True, exist_ok=True)
    vae.save_pretrained(folder / "other-vae")
    data = txt2img(seed=8, save=False)
    own = computed(executor, data, "decode", "image")
    data = with_nodes(data, vae={"type": "LoadVAE", "inputs": {"vae": "other-vae"}},
                      decode={"type": "VAEDecode", "inputs": {"latent": L("sample", "latent"),
                                                              "vae": L("vae", "vae")}})
    swapped = computed(executor, data, "decode", "image")
    assert swapped.shape == own.shape and not torch.allclose(swapped, own)


def make_lora(base, name="tiny-lora.safetensors"):
    """A kohya-format LoRA for the tiny SD1 UNet's first attention and the text encoder."""
    from nodeflow.diffusion.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(base / "models" / "checkpoints" / "tiny-sd1.safetensors",
                                 configs=base / "models" / "checkpoints" / "tiny-sd1.configs")
    generator = torch.Generator().manual_seed(0)
    weights = {}
    for module_path, prefix in (
            ("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", "lora_unet_"),
            ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "lora_unet_"),
            ("text_model.encoder.layers.0.self_attn.q_proj", "lora_te_")):
        model = checkpoint.unet if prefix == "lora_unet_" else checkpoint.text_encoders[0]
        linear = model.get_submodule(module_path.removeprefix(
            "text_model." if not hasattr(model, "text_model") else ""))
        out_f, in_f = linear.weight.shape
        key = prefix + module_path.replace("text_model.", "").replace(".", "_")
        weights[f"{key}.lora_down.weight"] = torch.randn(2, in_f, generator=generator)
        weights[f"{key}.lora_up.weight"] = torch.randn(out_f, 2, generator=generator)
        weights[f"{key}.alpha"] = torch.tensor(2.0)
    folder = base / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, folder / name)
    return name


def test_lora_changes_the_image_and_strength_zero_is_bit_identical(base, executor):
    lora = make_lora(base)
    data = txt2img(seed=9, save=False)
    plain = computed(executor, data, "decode", "image")

    def with_lora(strength_model, strength_clip):
        graph = with_nodes(data, lora={"type": "LoadLoRA", "inputs": {
            "model": L("ckpt", "model"), "clip": L("ckpt", "clip"), "lora": lora,
            "strength_model": strength_model, "strength_clip": strength_clip}})
        for key in ("pos", "neg"):
            graph["nodes"][key]["inputs"]["clip"] = L("lora", "clip")
        graph["nodes"]["sample"]["inputs"]["model"] = L("lora", "model")
        return computed(executor, graph, "decode", "image")

    assert torch.equal(with_lora(0.0, 0.0), plain)
    assert not torch.allclose(with_lora(1.0, 1.0), plain, atol=1e-4)
    assert not torch.allclose(with_lora(1.0, 0.0), plain, atol=1e-4)
    assert torch.equal(computed(executor, data, "decode", "image"), plain)  # base untouched


def test_model_only_lora_is_the_full_loader_with_the_text_encoder_left_alone(base, executor):
    lora = make_lora(base)
    data = txt2img(seed=9, save=False)
    plain = computed(executor, data, "decode", "image")

    def model_only(strength):
        graph = with_nodes(data, lora={"type": "LoadLoRAModelOnly", "inputs": {
            "model": L("ckpt", "model"), "lora": lora, "strength_model": strength}})
        graph["nodes"]["sample"]["inputs"]["model"] = L("lora", "model")
        return computed(executor, graph, "decode", "image")

    full = with_nodes(data, lora={"type": "LoadLoRA", "inputs": {
        "model": L("ckpt", "model"), "clip": L("ckpt", "clip"), "lora": lora,
        "strength_model": 1.0, "strength_clip": 0.0}})
    full["nodes"]["sample"]["inputs"]["model"] = L("lora", "model")
    assert torch.equal(model_only(1.0), computed(executor, full, "decode", "image"))
    assert torch.equal(model_only(0.0), plain)


def test_conditioning_combine_and_clip_skip(executor):
    data = txt2img(seed=10, save=False)
    plain = computed(executor, data, "pos", "conditioning")
    data = with_nodes(data, skip={"type": "ClipSkip", "inputs": {"clip": L("ckpt", "clip"),
                                                                 "skip": 2}},
                      pos={"type": "TextEncode", "inputs": {
                          "clip": L("skip", "clip"), "text": "a red handwritten digit seven"}})
    skipped = computed(executor, data, "pos", "conditioning")
    assert not torch.equal(plain.entries[0].cond, skipped.entries[0].cond)
    data = with_nodes(data, both={"type": "ConditioningCombine", "inputs": {
        "a": L("pos", "conditioning"), "b": L("neg", "conditioning")}})
    data["nodes"]["sample"]["inputs"]["positive"] = L("both", "conditioning")
    assert len(computed(executor, data, "both", "conditioning")) == 2
    assert computed(executor, data, "decode", "image").shape == (1, 32, 32, 3)


def test_interrupt_mid_sampling(executor):
    interrupt = threading.Event()
    steps = []

    def listener(event):
        if event.kind == ev.PROGRESS and event.node == "sample":
            steps.append(event.data["value"])
            if event.data["value"] == 2:
                interrupt.set()

    result = run(executor, txt2img(seed=12345, steps=10), listener=listener,
                 interrupt=interrupt)
    assert result.status == "interrupted" and steps == [1, 2]
    assert "save" not in result.executed


def problems_of(executor, data):
    with pytest.raises(WorkflowError) as info:
        run(executor, data)
    return [(p.node, p.input, p.message) for p in info.value.problems]


def test_width_not_a_multiple_of_8_is_a_validation_error(executor):
    [(node_id, name, message)] = problems_of(executor, txt2img(width=1001))
    assert (node_id, name) == ("latent", "width") and "not a multiple of 8" in message


def test_unknown_sampler_is_an_error_never_a_fallback(executor):
    [(node_id, name, message)] = problems_of(executor, txt2img(sampler="eulr"))
    assert (node_id, name) == ("sample", "sampler") and "did you mean 'euler'" in message


def test_missing_checkpoint_file(executor):
    [(node_id, name, message)] = problems_of(executor, txt2img("nope.safetensors"))
    assert (node_id, name) == ("ckpt", "checkpoint")
    assert "'nope.safetensors' is not one of the choices" in message


def failure(executor, data):
    result = run(executor, data)
    assert result.status == "error"
    assert result.error["traceback"] is None  # a user error, not a bug
    return result.error


def test_corrupt_checkpoint_names_the_file(base, executor):
    path = base / "models" / "checkpoints" / "broken.safetensors"
    path.write_bytes((base / "models" / "checkpoints" / "tiny-sd1.safetensors").read_bytes()[:5000])
    error = failure(executor, txt2img("broken.safetensors"))
    assert error["node"] == "ckpt" and error["input"] == "checkpoint"
    assert "broken.safetensors" in error["message"]


def test_pickle_checkpoint_is_refused_unless_allowed(base):
    settings = Settings(base_dir=base)
    path = base / "models" / "checkpoints" / "old.ckpt"
    torch.save({"state_dict": {"x": torch.zeros(1)}}, path)
    from nodeflow.plugins import load_registry

    executor = Executor(load_registry(settings), settings)
    error = failure(executor, txt2img("old.ckpt"))
    assert error["input"] == "checkpoint" and "pickle" in error["message"].lower()
