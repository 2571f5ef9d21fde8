"""Offline checkpoint loading: layouts, detection, safety, LoRA and model folders, on tiny models."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before diffusers/huggingface_hub read it at import

import json
import socket

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.diffusion import checkpoint_keys as keys
from nodeflow.diffusion.checkpoint_build import build_text_encoder, build_unet, build_vae, read_config
from nodeflow.diffusion.checkpoints import (CONFIG_ROOT, CheckpointError, apply_lora, detect_architecture,
                                            extra_model_dirs, find_models, load_checkpoint, load_vae, model_dirs,
                                            read_state_dict, resolve_model)
from nodeflow.diffusion.cpu_kernels import use_cpu_kernels
from tests.diffusion.tiny_models import ARCHS, build_tiny_models, make_tiny_checkpoint, tiny_config_root


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection (a hub lookup diffusers forgot to skip) fails the test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Single files of every architecture, written once for the module."""
    root = tmp_path_factory.mktemp("tiny")
    return root, {arch: make_tiny_checkpoint(root, arch) for arch in ARCHS}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert [k for k in sa if not torch.equal(sa[k], sb[k])] == []


def unet_inputs(unet, seed=1):
    """A fixed latent, timestep and text context (plus SDXL's added conditions) for `unet`."""
    gen = torch.Generator().manual_seed(seed)
    cfg = unet.config
    sample = torch.randn(1, cfg.in_channels, 8, 8, generator=gen)
    context = torch.randn(1, 5, cfg.cross_attention_dim, generator=gen)
    extra = {}
    if cfg.addition_embed_type == "text_time":
        pooled = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        extra["added_cond_kwargs"] = {"text_embeds": torch.randn(1, pooled, generator=gen),
                                      "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
    return (sample, torch.tensor([500]), context), extra


def unet_out(unet, seed=1):
    args, extra = unet_inputs(unet, seed)
    with torch.no_grad():
        return unet(*args, **extra).sample


# -- shipped configs ------------------------------------------------------------------------------

# Public parameter counts: SD1.5 UNet 859.52M, SD2 UNet 865.91M, SDXL UNet 2.567B, KL-f8 VAE 83.65M,
# CLIP ViT-L/14 text 123.06M, OpenCLIP ViT-H text without its last block 340.39M, bigG text 694.66M.
PUBLIC_COUNTS = {
    "sd1": (859_520_964, 83_653_863, [123_060_480]),
    "sd2": (865_910_724, 83_653_863, [340_387_840]),
    "sd2-v": (865_910_724, 83_653_863, [340_387_840]),
    "sdxl": (2_567_463_684, 83_653_863, [123_060_480, 694_659_840]),
}


@pytest.mark.parametrize("arch", ARCHS)
def test_shipped_configs_build_models_of_the_public_size(arch):
    folder = CONFIG_ROOT / arch
    unet, vae = build_unet(read_config(folder / "unet")), build_vae(read_config(folder / "vae"))
    parts = ["text_encoder", "text_encoder_2"] if arch == "sdxl" else ["text_encoder"]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    encoders = [count(build_text_encoder(read_config(folder / p))) for p in parts]
    assert (count(unet), count(vae), encoders) == PUBLIC_COUNTS[arch]
    assert read_config(folder / "scheduler")["prediction_type"] == ("v_prediction" if arch == "sd2-v" else "epsilon")


@pytest.mark.parametrize("arch", ["sd1", "sd2", "sdxl"])
def test_full_size_key_mapping_agrees_with_diffusers_converter(arch):
    """Our original-layout names, read back by diffusers' own converter, land on the same tensors."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    folder = CONFIG_ROOT / arch
    unet_cfg, vae_cfg = read_config(folder / "unet"), read_config(folder / "vae")
    for build, key_map, convert, cfg, prefix in [
            (build_unet, keys.unet_key_map, convert_ldm_unet_checkpoint, unet_cfg, keys.UNET_PREFIX),
            (build_vae, keys.vae_key_map, convert_ldm_vae_checkpoint, vae_cfg, keys.VAE_PREFIX)]:
        ours = build(cfg).state_dict()  # meta tensors: identity is what we compare
        original = {prefix + name: ours[k] for k, name in key_map(ours, cfg).items()}
        back = convert(original, dict(cfg))
        assert back.keys() == ours.keys()
        moved = [k for k in ours if back[k] is not ours[k] and ".mid_block.attentions." not in k]
        assert moved == []
    if arch == "sd1":  # one name checked against the real SD 1.5 file's keys
        upsampler = "up_blocks.0.upsamplers.0.conv.weight"
        assert keys.unet_key_map([upsampler], unet_cfg)[upsampler] == "output_blocks.2.1.conv.weight"


# -- single files and diffusers folders -----------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_single_file_round_trip(tiny, arch):
    root, files = tiny
    loaded = load_checkpoint(files[arch], configs=tiny_config_root(root))
    unet, vae, encoders = build_tiny_models(arch)
    for model in (unet, vae, *encoders):  # the loader's kernels, so that equal weights give equal bits
        use_cpu_kernels(model)
    assert (loaded.arch, loaded.prediction_type) == (arch, "v_prediction" if arch == "sd2-v" else "epsilon")
    assert loaded.latent_channels == 4
    assert loaded.scaling_factor == (0.13025 if arch == "sdxl" else 0.18215)
    assert len(loaded.text_encoders) == (2 if arch == "sdxl" else 1)
    for ours, built in [(loaded.unet, unet), (loaded.vae, vae), *zip(loaded.text_encoders, encoders, strict=True)]:
        assert_same_weights(ours, built)
        assert not any(p.requires_grad for p in ours.parameters())
    assert torch.equal(unet_out(loaded.unet), unet_out(unet))
    ids = torch.tensor([[0, 5, 9, 2, 1]])
    with torch.no_grad():
        assert torch.equal(loaded.text_encoders[0](ids).last_hidden_state, encoders[0](ids).last_hidden_state)
    assert "alphas_cumprod" in loaded.unused_keys
    if arch.startswith("sd2"):  # OpenCLIP's last block: SD2 conditions on the penultimate one
        assert "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_weight" in loaded.unused_keys


@pytest.mark.parametrize("arch", ["sd1", "sdxl"])
def test_single_file_matches_diffusers_from_single_file(tiny, arch):
    """diffusers' public loader, given our local config folder, reads our files the same way."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    root, files = tiny
    loaded = load_checkpoint(files[arch], configs=tiny_config_root(root))
    config = str(tiny_config_root(root) / arch)
    assert_same_weights(UNet2DConditionModel.from_single_file(str(files[arch]), config=config, subfolder="unet"),
                        loaded.unet)
    assert_same_weights(AutoencoderKL.from_single_file(str(files[arch]), config=config, subfolder="vae"), loaded.vae)


def test_openclip_conversion_matches_diffusers(tiny):
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    root, files = tiny
    for arch, index in [("sd2", 0), ("sdxl", 1)]:
        encoder = load_checkpoint(files[arch], configs=tiny_config_root(root)).text_encoders[index]
        theirs = convert_open_clip_checkpoint(encoder, read_state_dict(files[arch]), keys.TEXT_PREFIXES[arch][-1])
        theirs = {keys.clip_core(k): v for k, v in theirs.items()}
        for k, v in encoder.state_dict().items():
            assert torch.equal(v, theirs[keys.clip_core(k)]), k


@pytest.mark.parametrize("arch", ARCHS)
def test_diffusers_folder_loads(tmp_path, arch):
    folder = make_tiny_checkpoint(tmp_path, arch, layout="diffusers", seed=3)
    loaded = load_checkpoint(folder)
    unet, vae, encoders = build_tiny_models(arch, seed=3)
    assert (loaded.arch, loaded.prediction_type) == (arch, "v_prediction" if arch == "sd2-v" else "epsilon")
    for ours, built in [(loaded.unet, unet), (loaded.vae, vae), *zip(loaded.text_encoders, encoders, strict=True)]:
        assert_same_weights(ours, built)


def test_dtype_and_missing_tensor(tiny, tmp_path):
    root, files = tiny
    loaded = load_checkpoint(files["sd1"], configs=tiny_config_root(root), dtype=torch.bfloat16)
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.bfloat16}
    sd = dict(read_state_dict(files["sd1"]))
    del sd["model.diffusion_model.out.2.weight"]
    save_file(sd, tmp_path / "holey.safetensors")
    with pytest.raises(CheckpointError, match=r"holey\.safetensors.*UNet is incomplete.*out\.2\.weight"):
        load_checkpoint(tmp_path / "holey.safetensors", configs=tiny_config_root(root))


def test_shape_mismatch_names_key(tiny, tmp_path):
    root, files = tiny
    sd = dict(read_state_dict(files["sd1"]))
    sd["model.diffusion_model.out.2.bias"] = torch.zeros(7)
    save_file(sd, tmp_path / "odd.safetensors")
    with pytest.raises(CheckpointError, match=r"odd\.safetensors: model\.diffusion_model\.out\.2\.bias has shape"):
        load_checkpoint(tmp_path / "odd.safetensors", configs=tiny_config_root(root))


# -- detection ------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_detect_every_architecture(tiny, arch):
    assert detect_architecture(read_state_dict(tiny[1][arch])) == arch


def test_detect_from_shapes_and_overrides(tiny):
    files = tiny[1]
    shapes = {arch: {k: tuple(v.shape) for k, v in read_state_dict(files[arch]).items()} for arch in ARCHS}
    assert detect_architecture(shapes["sd1"]) == "sd1"
    assert detect_architecture(shapes["sdxl"]) == "sdxl"
    with pytest.raises(CheckpointError, match="sd2 from sd2-v"):
        detect_architecture(shapes["sd2"])
    assert detect_architecture(shapes["sd2"], override="sd2-v") == "sd2-v"
    assert detect_architecture(dict(shapes["sd2"], v_pred=())) == "sd2-v"  # ComfyUI's marker key
    with pytest.raises(CheckpointError, match="does not fit this file, which is sd1"):
        detect_architecture(shapes["sd1"], override="sdxl")
    with pytest.raises(CheckpointError, match="unknown architecture override"):
        detect_architecture(shapes["sd1"], override="sd3")


def test_prediction_type_override_and_marker(tiny, tmp_path):
    root, files = tiny
    loaded = load_checkpoint(files["sd2-v"], configs=tiny_config_root(root), arch="sd2")
    assert (loaded.arch, loaded.prediction_type) == ("sd2", "epsilon")
    loaded = load_checkpoint(files["sd2"], configs=tiny_config_root(root), prediction_type="v_prediction")
    assert (loaded.arch, loaded.prediction_type) == ("sd2-v", "v_prediction")
    with pytest.raises(CheckpointError, match="unknown prediction_type 'flow'"):
        load_checkpoint(files["sd1"], configs=tiny_config_root(root), prediction_type="flow")
    sd = dict(read_state_dict(files["sdxl"]))
    sd["v_pred"] = torch.tensor([])
    save_file(sd, tmp_path / "xl-v.safetensors")
    loaded = load_checkpoint(tmp_path / "xl-v.safetensors", configs=tiny_config_root(root))
    assert (loaded.arch, loaded.prediction_type, loaded.scheduler_config["prediction_type"]) == \
        ("sdxl", "v_prediction", "v_prediction")


def test_unknown_keys_error_names_file(tiny, tmp_path):
    path = tmp_path / "mystery.safetensors"
    save_file({"foo.weight": torch.zeros(2), "bar.bias": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=r"mystery\.safetensors: no Stable Diffusion UNet.*foo\.weight"):
        load_checkpoint(path)
    sd = {k: v for k, v in read_state_dict(tiny[1]["sd1"]).items() if not k.startswith("cond_stage_model.")}
    save_file(sd, tmp_path / "unet-only.safetensors")
    with pytest.raises(CheckpointError, match=r"unet-only\.safetensors: unknown architecture: text encoder keys"):
        load_checkpoint(tmp_path / "unet-only.safetensors")
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(1, 2)}, tmp_path / "lora.safetensors")
    with pytest.raises(CheckpointError, match="looks like a LoRA"):
        load_checkpoint(tmp_path / "lora.safetensors")


# -- file safety ----------------------------------------------------------------------------------

def test_pickle_refused_then_opt_in_with_weights_only(tiny, tmp_path):
    root, files = tiny
    ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": dict(read_state_dict(files["sd1"])), "global_step": 470000}, ckpt)
    with pytest.raises(CheckpointError, match=r"old\.ckpt: .*pickles.*--allow-pickle"):
        load_checkpoint(ckpt)
    loaded = load_checkpoint(ckpt, allow_pickle=True, configs=tiny_config_root(root))
    assert_same_weights(loaded.unet, build_tiny_models("sd1")[0])
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt: not a readable checkpoint"):
        load_checkpoint(cut, allow_pickle=True)


class NotATensor:
    pass


def test_pickle_with_objects_is_refused_even_when_opted_in(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": NotATensor()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: holds Python objects besides tensors"):
        load_checkpoint(path, allow_pickle=True)


@pytest.mark.parametrize("content", ["truncated", "garbage", "json", "empty"])
def test_corrupt_files_name_the_file(tiny, tmp_path, content):
    data = tiny[1]["sd1"].read_bytes()
    body = {"truncated": data[: len(data) // 2], "garbage": os.urandom(1000),
            "json": b'{"not": "a model"}', "empty": b""}[content]
    path = tmp_path / f"broken-{content}.safetensors"
    path.write_bytes(body)
    with pytest.raises(CheckpointError, match=rf"broken-{content}\.safetensors: not a readable safetensors") as info:
        load_checkpoint(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(CheckpointError, match="nothing-here.safetensors: no such file"):
        load_checkpoint(tmp_path / "nothing-here.safetensors")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match=r"notes\.txt: unsupported model file type '\.txt'"):
        load_checkpoint(tmp_path / "notes.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(CheckpointError, match="no model_index.json"):
        load_checkpoint(tmp_path / "folder")


def test_diffusers_folder_with_only_pickles_is_refused(tmp_path):
    folder = make_tiny_checkpoint(tmp_path, "sd1", layout="diffusers")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(dict(read_state_dict(weights)), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"diffusion_pytorch_model\.bin: .*--allow-pickle"):
        load_checkpoint(folder)
    assert load_checkpoint(folder, allow_pickle=True).arch == "sd1"


# -- standalone VAE -------------------------------------------------------------------------------

def test_load_vae_in_every_layout(tiny, tmp_path):
    root, files = tiny
    expected = build_tiny_models("sd1")[1]
    full = read_state_dict(files["sd1"])
    original = {k[len(keys.VAE_PREFIX):]: v for k, v in full.items() if k.startswith(keys.VAE_PREFIX)}
    save_file(original, tmp_path / "vae-original.safetensors")  # as vae-ft-mse-840000 ships
    save_file({keys.VAE_PREFIX + k: v for k, v in original.items()}, tmp_path / "vae-prefixed.safetensors")
    old_names = {k.replace(".to_q.", ".query.").replace(".to_out.0.", ".proj_attn."): v.contiguous()
                 for k, v in expected.state_dict().items()}
    save_file(old_names, tmp_path / "vae-diffusers.safetensors")
    expected.save_pretrained(tmp_path / "vae-folder")
    for name in ["vae-original.safetensors", "vae-prefixed.safetensors", "vae-diffusers.safetensors", "vae-folder"]:
        assert_same_weights(load_vae(tmp_path / name, configs=tiny_config_root(root)), expected)
    assert_same_weights(load_vae(files["sd1"], configs=tiny_config_root(root)), expected)  # a full checkpoint's VAE
    with pytest.raises(CheckpointError, match=r"config\.json: unsupported model file type '\.json'"):
        load_vae(tmp_path / "vae-folder" / "config.json")


def test_load_vae_rejects_non_vae(tmp_path):
    save_file({"lora_te_x.alpha": torch.tensor(1.0)}, tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match=r"x\.safetensors: not a VAE.*LoRA"):
        load_vae(tmp_path / "x.safetensors")


# -- LoRA -----------------------------------------------------------------------------------------

def kohya_lora(unet, encoders, rank=2, seed=0, sdxl_names=False):
    """A kohya-format LoRA on a few attention layers of the UNet and each text encoder."""
    gen = torch.Generator().manual_seed(seed)
    targets = ["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k" if sdxl_names
               else "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
               "up_blocks.0.resnets.0.conv1" if not sdxl_names else "up_blocks.1.resnets.0.conv1"]
    lora = {}
    for path in targets:
        weight = unet.get_submodule(path).weight
        name = keys.unet_key_map([path + ".weight"], unet.config)[path + ".weight"][:-7] if sdxl_names else path
        out_f, in_f, *kernel = weight.shape
        kohya = "lora_unet_" + name.replace(".", "_")
        lora[f"{kohya}.lora_down.weight"] = torch.randn(rank, in_f, *kernel, generator=gen)
        lora[f"{kohya}.lora_up.weight"] = torch.randn(out_f, rank, *[1] * len(kernel), generator=gen)
        lora[f"{kohya}.alpha"] = torch.tensor(1.0)
    prefixes = ["lora_te_"] if len(encoders) == 1 else ["lora_te1_", "lora_te2_"]
    for prefix in prefixes:
        name = f"{prefix}text_model_encoder_layers_0_self_attn_q_proj"
        lora[f"{name}.lora_down.weight"] = torch.randn(rank, 32, generator=gen)
        lora[f"{name}.lora_up.weight"] = torch.randn(32, rank, generator=gen)
    return lora


def test_lora_changes_output_and_leaves_base_untouched(tiny):
    root, files = tiny
    loaded = load_checkpoint(files["sd1"], configs=tiny_config_root(root))
    before = {k: v.clone() for k, v in loaded.unet.state_dict().items()}
    base_out = unet_out(loaded.unet)
    ids = torch.tensor([[0, 5, 9, 2]])
    base_text = loaded.text_encoders[0](ids).last_hidden_state
    lora = kohya_lora(loaded.unet, loaded.text_encoders)

    patched = apply_lora(loaded.unet, loaded.text_encoders, lora, 1.0, 1.0)
    assert patched.unmatched == ()
    assert not torch.allclose(unet_out(patched.unet), base_out)
    assert not torch.allclose(patched.text_encoders[0](ids).last_hidden_state, base_text)
    assert torch.equal(unet_out(loaded.unet), base_out)  # the cached base model is unchanged
    assert all(torch.equal(v, before[k]) for k, v in loaded.unet.state_dict().items())
    # untouched layers are shared, not copied
    assert patched.unet.conv_in.weight is loaded.unet.conv_in.weight
    # weight delta is strength * alpha / rank * up @ down
    path = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    name = "lora_unet_" + path.replace(".", "_")
    delta = lora[f"{name}.lora_up.weight"] @ lora[f"{name}.lora_down.weight"] * (1.0 / 2)
    torch.testing.assert_close(patched.unet.get_submodule(path).weight, loaded.unet.get_submodule(path).weight + delta)

    zero = apply_lora(loaded.unet, loaded.text_encoders, lora, 0.0, 0.0)
    assert torch.equal(unet_out(zero.unet), base_out)
    assert torch.equal(zero.text_encoders[0](ids).last_hidden_state, base_text)


def test_lora_sdxl_original_names_and_two_encoders(tiny):
    root, files = tiny
    loaded = load_checkpoint(files["sdxl"], configs=tiny_config_root(root))
    lora = kohya_lora(loaded.unet, loaded.text_encoders, sdxl_names=True)
    assert any(k.startswith("lora_unet_input_blocks_") for k in lora)
    patched = apply_lora(loaded.unet, loaded.text_encoders, lora, 0.5, 1.0)
    assert patched.unmatched == ()
    assert not torch.allclose(unet_out(patched.unet), unet_out(loaded.unet))
    layer = "encoder.layers.0.self_attn.q_proj"
    def sub(m):
        return m.get_submodule(layer if hasattr(m, "encoder") else "text_model." + layer)

    for base, new in zip(loaded.text_encoders, patched.text_encoders, strict=True):
        assert not torch.equal(sub(base).weight, sub(new).weight)


def test_lora_for_another_model_is_an_error(tiny):
    root, files = tiny
    loaded = load_checkpoint(files["sd1"], configs=tiny_config_root(root))
    foreign = {"lora_unet_nowhere_to_q.lora_down.weight": torch.zeros(2, 4),
               "lora_unet_nowhere_to_q.lora_up.weight": torch.zeros(4, 2)}
    with pytest.raises(CheckpointError, match="my.safetensors: none of its 1 layers match"):
        apply_lora(loaded.unet, loaded.text_encoders, foreign, 1.0, 1.0, source="my.safetensors")
    loha = {"lora_unet_x.hada_w1_a": torch.zeros(1)}
    partial = dict(kohya_lora(loaded.unet, loaded.text_encoders), **foreign, **loha)
    result = apply_lora(loaded.unet, loaded.text_encoders, partial, 1.0, 1.0)
    assert result.unmatched == ("lora_unet_nowhere_to_q", "lora_unet_x")


# -- model folders --------------------------------------------------------------------------------

def test_find_models_lists_sorted_and_marks(tmp_path):
    ckpts = tmp_path / "models" / "checkpoints"
    (ckpts / "xl").mkdir(parents=True)
    for name in ["b.safetensors", "a.ckpt", "xl/c.safetensors", "notes.txt"]:
        (ckpts / name).write_bytes(b"x")
    diffusers = ckpts / "my-diffusers"
    (diffusers / "unet").mkdir(parents=True)
    (diffusers / "model_index.json").write_text("{}")
    (diffusers / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.safetensors").write_bytes(b"y")
    (other / "z.safetensors").write_bytes(b"y")
    names = find_models("checkpoints", [ckpts, other, tmp_path / "missing"])
    assert names == ["a.ckpt", "b.safetensors", "my-diffusers", "xl/c.safetensors", "z.safetensors"]
    marks = {n: (n.pickle, n.diffusers) for n in names}
    assert marks["a.ckpt"] == (True, False) and marks["my-diffusers"] == (False, True)
    assert marks["b.safetensors"] == (False, False)
    assert json.dumps(names)  # plain strings for the API
    assert resolve_model("checkpoints", "b.safetensors", [ckpts, other]) == (ckpts / "b.safetensors").resolve()
    assert resolve_model("checkpoints", "z.safetensors", [ckpts, other]) == (other / "z.safetensors").resolve()
    with pytest.raises(ValueError, match="unknown model kind"):
        find_models("nope", [ckpts])


@pytest.mark.parametrize("name", ["../secret.safetensors", "xl/../../secret.safetensors", "/etc/passwd",
                                  "..\\secret.safetensors", "C:/x.safetensors", "", "a//b.safetensors"])
def test_resolve_refuses_escaping_names(tmp_path, name):
    with pytest.raises(CheckpointError, match="not allowed"):
        resolve_model("loras", name, [tmp_path])


def test_links_the_user_placed_in_a_model_folder_load(tmp_path):
    loras, disk = tmp_path / "loras", tmp_path / "big-disk"
    loras.mkdir()
    (disk / "styles").mkdir(parents=True)
    (disk / "far.safetensors").write_bytes(b"x")
    (disk / "styles" / "ink.safetensors").write_bytes(b"x")
    (loras / "link.safetensors").symlink_to(disk / "far.safetensors")
    (loras / "styles").symlink_to(disk / "styles", target_is_directory=True)
    (disk / "styles" / "loop").symlink_to(disk / "styles", target_is_directory=True)
    (loras / "inside.safetensors").write_bytes(b"x")
    (loras / "alias.safetensors").symlink_to(loras / "inside.safetensors")
    assert find_models("loras", [loras]) == [
        "alias.safetensors", "inside.safetensors", "link.safetensors", "styles/ink.safetensors"]
    assert resolve_model("loras", "link.safetensors", [loras]) == (disk / "far.safetensors").resolve()
    assert resolve_model("loras", "styles/ink.safetensors", [loras]) == \
        (disk / "styles" / "ink.safetensors").resolve()
    assert resolve_model("loras", "alias.safetensors", [loras]) == (loras / "inside.safetensors").resolve()
    with pytest.raises(CheckpointError, match="not allowed"):  # the name still cannot escape
        resolve_model("loras", "../big-disk/far.safetensors", [loras])
    with pytest.raises(CheckpointError, match=r"loras model 'nope\.safetensors' not found in"):
        resolve_model("loras", "nope.safetensors", [loras])


COMFY_YAML = """\
#Rename this to extra_model_paths.yaml and ComfyUI will load it

#config for a1111 ui
a111:
    base_path: path/to/stable-diffusion-webui/

    checkpoints: models/Stable-diffusion
    configs: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    upscale_models: |
                  models/ESRGAN
                  models/RealESRGAN
                  models/SwinIR
    embeddings: embeddings
    hypernetworks: models/hypernetworks
    controlnet: models/ControlNet

#config for comfyui
comfyui:
     base_path: ~/ComfyUI/
     is_default: true
     checkpoints: models/checkpoints/
     clip: models/clip/
     clip_vision: models/clip_vision/
     configs: models/configs/
     controlnet: models/controlnet/
     diffusion_models: |
                  models/diffusion_models
                  models/unet
     embeddings: models/embeddings/
     loras: models/loras/
     upscale_models: models/upscale_models/
     vae: models/vae/
     custom_nodes: $NF_TEST_NODES/custom_nodes

#other_ui:
#    base_path: path/to/ui
#    checkpoints: models/checkpoints
commented_out:
"""


def test_comfyuis_extra_model_paths_yaml_is_read_as_it_is(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("NF_TEST_NODES", "/srv/nodes")
    comfy = tmp_path / "comfy-install"
    comfy.mkdir()
    (comfy / "extra_model_paths.yaml").write_text(COMFY_YAML)
    base = tmp_path / "base"
    base.mkdir()
    (base / "extra_model_paths.yaml").symlink_to(comfy / "extra_model_paths.yaml")
    a1111 = comfy / "path" / "to" / "stable-diffusion-webui"
    home = Path("~/ComfyUI").expanduser()
    assert model_dirs(base, "loras") == [home / "models" / "loras", base / "models" / "loras",
                                         a1111 / "models" / "Lora", a1111 / "models" / "LyCORIS"]
    assert extra_model_dirs(base, "upscale_models") == [
        a1111 / "models" / "ESRGAN", a1111 / "models" / "RealESRGAN", a1111 / "models" / "SwinIR",
        home / "models" / "upscale_models"]
    assert extra_model_dirs(base, "text_encoders") == [home / "models" / "clip"]  # old key "clip"
    assert extra_model_dirs(base, "diffusion_models") == [home / "models" / "diffusion_models",
                                                          home / "models" / "unet"]
    assert model_dirs(base, "diffusion_models")[2:4] == [base / "models" / "unet",
                                                         base / "models" / "diffusion_models"]
    assert extra_model_dirs(base, "controlnet") == [a1111 / "models" / "ControlNet",
                                                    home / "models" / "controlnet"]
    assert extra_model_dirs(base, "embeddings") == [a1111 / "embeddings", home / "models" / "embeddings"]
    assert extra_model_dirs(base, "clip_vision") == [home / "models" / "clip_vision"]
    assert extra_model_dirs(base, "custom_nodes") == [Path("/srv/nodes/custom_nodes")]
    (base / "extra_model_paths.yaml").unlink()
    (base / "extra_model_paths.yaml").write_text("a: [unclosed")
    with pytest.raises(CheckpointError, match=r"extra_model_paths\.yaml: not readable as YAML"):
        extra_model_dirs(base, "vae")


def test_extra_custom_nodes_folders_load_packs(tmp_path):
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    packs = tmp_path / "elsewhere" / "custom_nodes"
    packs.mkdir(parents=True)
    (packs / "far_pack.py").write_text(
        "from nodeflow import node\n\n@node(category='t')\ndef FarAway() -> int:\n"
        "    \"\"\"One.\"\"\"\n    return 1\n")
    (tmp_path / "extra_model_paths.yaml").write_text("mine:\n  custom_nodes: elsewhere/custom_nodes\n")
    registry = load_registry(Settings.from_args(tmp_path), builtin=False, entry_points=False)
    assert registry.get("FarAway") is not None


def test_extra_model_dirs(tmp_path):
    assert extra_model_dirs(tmp_path, "checkpoints") == []
    (tmp_path / "extra_model_paths.json").write_text(json.dumps({
        "comfyui": {"base_path": "/opt/ComfyUI", "checkpoints": "models/checkpoints",
                    "loras": ["models/loras", "/mnt/loras"]},
        "a1111": {"base_path": "sd-webui", "checkpoints": "models/Stable-diffusion\nmodels/more\n"},
    }))
    assert extra_model_dirs(tmp_path, "checkpoints") == [
        __import__("pathlib").Path("/opt/ComfyUI/models/checkpoints"),
        tmp_path / "sd-webui" / "models" / "Stable-diffusion", tmp_path / "sd-webui" / "models" / "more"]
    assert [str(p) for p in extra_model_dirs(tmp_path, "loras")] == ["/opt/ComfyUI/models/loras", "/mnt/loras"]
    assert extra_model_dirs(tmp_path, "vae") == []
    assert model_dirs(tmp_path, "vae") == [tmp_path / "models" / "vae"]
    (tmp_path / "extra_model_paths.json").write_text("{oops")
    with pytest.raises(CheckpointError, match=r"extra_model_paths\.json: not readable as JSON"):
        extra_model_dirs(tmp_path, "vae")
    (tmp_path / "extra_model_paths.json").write_text(json.dumps({"x": {"vae": 3}}))
    with pytest.raises(CheckpointError, match=r"x\.vae must be a folder or a list"):
        extra_model_dirs(tmp_path, "vae")


def test_safetensors_are_read_tensor_by_tensor_as_safetensors_reads_them(tmp_path):
    from safetensors.torch import load_file

    tensors = {"f32": torch.randn(3, 4), "bf16": torch.randn(5).to(torch.bfloat16), "f16": torch.randn(2, 1).half(),
               "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3), "i64": torch.arange(4), "bool": torch.tensor([True])}
    save_file(tensors, tmp_path / "all.safetensors", metadata={"format": "pt"})
    lazy, eager = read_state_dict(tmp_path / "all.safetensors"), load_file(tmp_path / "all.safetensors")
    assert sorted(lazy) == sorted(eager) and len(lazy) == len(eager)
    for key, tensor in eager.items():
        assert lazy[key].dtype == tensor.dtype and torch.equal(lazy[key], tensor)
    first = lazy["f32"]
    first += 1  # each read is the caller's own tensor, never a view into the file or a cache
    assert torch.equal(lazy["f32"], tensors["f32"])
    path = tmp_path / "all.safetensors"
    opened = read_state_dict(path)
    with open(path, "r+b") as f:  # replaced by a shorter file after it was opened
        f.truncate(path.stat().st_size - 8)
    with pytest.raises(CheckpointError, match=r"all\.safetensors: ends inside tensor .*truncated"):
        [opened[key] for key in opened]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_tensors_converted_while_read_are_bit_identical_to_converting_after(tmp_path, monkeypatch, dtype):
    from nodeflow.diffusion import checkpoint_files

    monkeypatch.setattr(checkpoint_files, "_STAGING_BYTES", 10)  # many chunks, and a partial last one
    tensors = {"f16": torch.randn(7, 5).half(), "f32": torch.randn(3, 3) * 1e4, "bf16": torch.randn(11).bfloat16(),
               "i64": torch.arange(6), "scalar": torch.tensor(0.1)}
    save_file(tensors, tmp_path / "mixed.safetensors")
    lazy = read_state_dict(tmp_path / "mixed.safetensors")
    for key, tensor in tensors.items():
        got = checkpoint_files.read_as(lazy, key, dtype)
        want = tensor.to(dtype) if tensor.is_floating_point() else tensor
        assert got.dtype == want.dtype and got.shape == want.shape
        assert torch.equal(got.reshape(-1).view(torch.uint8), want.reshape(-1).view(torch.uint8))  # the bits


def test_fp16_read_as_bf16_gives_torchs_bits_for_every_fp16_value(tmp_path):
    # fp16 -> bf16 passes through float32 chunks (faster than torch's direct conversion):
    # every one of the 65,536 fp16 bit patterns must give torch's bf16, NaNs still NaN
    every = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(torch.float16)
    save_file({"all": every}, tmp_path / "every.safetensors")
    got = read_state_dict(tmp_path / "every.safetensors").read("all", torch.bfloat16)
    want = every.to(torch.bfloat16)
    nan = torch.isnan(every)
    assert torch.equal(got[~nan].view(torch.int16), want[~nan].view(torch.int16))
    assert torch.isnan(got[nan]).all()
