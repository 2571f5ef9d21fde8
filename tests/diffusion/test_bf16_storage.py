"""Weights stored in bf16 and summed in fp32: what `--precision bf16` loads on a CPU without bf16
instructions (runtime.py), as ComfyUI's manual cast does."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodeflow.diffusion.checkpoints import load_checkpoint, load_vae
from nodeflow.diffusion.controlnet import load_controlnet
from nodeflow.diffusion.fp8 import store_in_fp8
from nodeflow.diffusion.part_loading import load_text_encoders, load_unet
from nodeflow.diffusion.stored_weights import StoredConv2d, StoredLinear, working_dtype
from tests.diffusion.test_stored_weights import layer_dtypes, stored_as, widened
from tests.diffusion.tiny_models import make_tiny_checkpoint, tiny_config_root

BF16 = torch.bfloat16


def unet_output(unet: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, unet.config.in_channels, 8, 8, generator=generator)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=generator)
    with torch.inference_mode():
        return unet(x, torch.tensor([10.0, 500.0]), encoder_hidden_states=context).sample


def norms(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm))]


@pytest.mark.parametrize("arch", ["sd1", "sdxl"])
def test_an_fp32_file_loads_every_parts_layers_in_bf16_and_computes_in_fp32(tmp_path, arch):
    loaded = load_checkpoint(make_tiny_checkpoint(tmp_path, arch), configs=tiny_config_root(tmp_path),
                             storage=BF16)
    for part in (loaded.unet, loaded.vae, *loaded.text_encoders):
        assert layer_dtypes(part) == {BF16}
        assert working_dtype(part) == torch.float32
        assert norms(part) and all(m.weight.dtype == torch.float32 for m in norms(part))
    assert any(isinstance(m, StoredConv2d) for m in loaded.unet.modules())
    assert any(isinstance(m, StoredLinear) for m in loaded.unet.modules())


def rounded_layers(unet: torch.nn.Module) -> torch.nn.Module:
    """``unet`` (fp32) with each Linear and Conv2d weight and bias rounded to bf16 once, in place."""
    with torch.no_grad():
        for layer in unet.modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                for parameter in layer.parameters(recurse=False):
                    parameter.copy_(parameter.to(BF16).float())
    return unet


def test_the_unet_computes_what_fp32_weights_rounded_to_bf16_compute(tmp_path):
    configs, path = tiny_config_root(tmp_path), make_tiny_checkpoint(tmp_path)
    stored = load_checkpoint(path, configs=configs, storage=BF16).unet
    full = unet_output(load_checkpoint(path, configs=configs).unet)
    out = unet_output(stored)
    assert out.dtype == torch.float32
    assert torch.equal(out, unet_output(rounded_layers(load_checkpoint(path, configs=configs).unet)))
    assert torch.equal(out, unet_output(widened(stored)))
    assert not torch.equal(out, full)  # the rounding is real...
    assert (out - full).abs().max() < 0.05 * full.abs().max()  # ...and small


def test_an_fp16_file_keeps_its_fp16_weights_and_computes_exactly_the_fp32_result(tmp_path):
    configs = tiny_config_root(tmp_path)
    path = stored_as(tmp_path, "sd1", torch.float16)
    stored = load_checkpoint(path, configs=configs, storage=BF16)
    for part in (stored.unet, stored.vae, *stored.text_encoders):
        assert layer_dtypes(part) == {torch.float16}
    assert torch.equal(unet_output(stored.unet), unet_output(load_checkpoint(path, configs=configs).unet))


def test_part_files_standalone_vaes_and_controlnets_are_stored_alike(tmp_path):
    configs = tiny_config_root(tmp_path)
    source = load_file(make_tiny_checkpoint(tmp_path))
    unet_file, text_file, vae_file = (tmp_path / f"{name}.safetensors" for name in ("unet", "clip", "vae"))
    save_file({k: v for k, v in source.items() if k.startswith("model.diffusion_model.")}, unet_file)
    save_file({k: v for k, v in source.items() if k.startswith("cond_stage_model.")}, text_file)
    save_file({k: v for k, v in source.items() if k.startswith("first_stage_model.")}, vae_file)
    assert layer_dtypes(load_unet(unet_file, configs=configs, storage=BF16).unet) == {BF16}
    [encoder] = load_text_encoders([text_file], "stable_diffusion", configs=configs, storage=BF16).text_encoders
    assert layer_dtypes(encoder) == {BF16} and working_dtype(encoder) == torch.float32
    assert layer_dtypes(load_vae(vae_file, configs=configs, storage=BF16)) == {BF16}
    loaded, _ = load_controlnet(_controlnet_file(tmp_path, configs), configs=configs, storage=BF16)
    assert layer_dtypes(loaded) == {BF16} and working_dtype(loaded) == torch.float32


def _controlnet_file(tmp_path, configs):
    """A ControlNet made from the tiny UNet, in diffusers' key layout."""
    from diffusers import ControlNetModel

    unet = load_checkpoint(make_tiny_checkpoint(tmp_path), configs=configs).unet
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "cn.safetensors")
    return tmp_path / "cn.safetensors"


def test_without_storage_or_with_bf16_sums_the_layers_store_as_they_compute(tmp_path):
    configs = tiny_config_root(tmp_path)
    path = make_tiny_checkpoint(tmp_path)
    assert layer_dtypes(load_checkpoint(path, configs=configs).unet) == {torch.float32}
    # storage only applies to fp32 sums: a bf16 run stores and computes in bf16
    assert layer_dtypes(load_checkpoint(path, configs=configs, dtype=BF16, storage=BF16).unet) == {BF16}
    assert working_dtype(load_checkpoint(path, configs=configs, dtype=BF16, storage=BF16).unet) == BF16


def test_an_fp8_unet_loader_stores_bf16_stored_layers_in_fp8(tmp_path):
    unet = load_checkpoint(make_tiny_checkpoint(tmp_path), configs=tiny_config_root(tmp_path),
                           storage=BF16).unet
    store_in_fp8(unet, "fp8_e4m3fn")
    assert layer_dtypes(unet) == {torch.float8_e4m3fn}
    assert unet_output(unet).dtype == torch.float32
