"""At fp32, a checkpoint stored in fp16 keeps its VAE and text encoders in fp16 and widens them
on use: the same numbers as an fp32 copy, for half their memory; the UNet stays fp32."""
from __future__ import annotations

import copy
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodeflow.diffusion import vae_ops
from nodeflow.diffusion.checkpoints import load_checkpoint, load_vae
from nodeflow.diffusion.cpu_kernels import CpuConv2d, CpuLinear
from nodeflow.diffusion.merge import merge_modules
from nodeflow.diffusion.runtime import Runtime
from nodeflow.diffusion.stored_weights import StoredConv2d, StoredEmbedding, StoredLinear, working_dtype
from nodeflow.diffusion.stored_weights import widened as widened_weight

from tests.diffusion.tiny_models import make_tiny_checkpoint, tiny_config_root


def stored_as(tmp_path, arch: str, dtype: torch.dtype):
    """The tiny `arch` checkpoint with its floating tensors stored in `dtype`."""
    source = make_tiny_checkpoint(tmp_path, arch)
    path = source.with_name(f"{source.stem}-{str(dtype).removeprefix('torch.')}.safetensors")
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(source).items()}, path)
    return path


def widened(module: torch.nn.Module) -> torch.nn.Module:
    """A copy with every stored layer widened to fp32 and computing directly."""
    wide = copy.deepcopy(module)
    wider = {StoredLinear: CpuLinear, StoredConv2d: CpuConv2d, StoredEmbedding: torch.nn.Embedding}
    for layer in wide.modules():
        if type(layer) in wider:
            layer.__class__ = wider[type(layer)]
            layer.float()
    return wide


def layer_dtypes(module: torch.nn.Module) -> set[torch.dtype]:
    layers = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Embedding)
    return {p.dtype for m in module.modules() if isinstance(m, layers) for p in m.parameters(recurse=False)}


@pytest.mark.parametrize("arch,stored", [("sd1", torch.float16), ("sdxl", torch.float16), ("sd1", torch.bfloat16)])
def test_fp32_load_of_a_narrow_file_keeps_vae_and_text_encoders_narrow(tmp_path, arch, stored):
    checkpoint = load_checkpoint(stored_as(tmp_path, arch, stored), configs=tiny_config_root(tmp_path))
    assert {p.dtype for p in checkpoint.unet.parameters()} == {torch.float32}
    for part in (checkpoint.vae, *checkpoint.text_encoders):
        assert layer_dtypes(part) == {stored}
        assert working_dtype(part) == torch.float32
    for encoder in checkpoint.text_encoders:
        assert isinstance(encoder.get_input_embeddings(), StoredEmbedding)
        norms = [m for m in part.modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm))]
        assert norms and all(m.weight.dtype == torch.float32 for m in norms)


def test_narrow_parts_compute_exactly_what_an_fp32_copy_does(tmp_path):
    checkpoint = load_checkpoint(stored_as(tmp_path, "sd1", torch.float16), configs=tiny_config_root(tmp_path))
    wide_vae, wide_encoder = widened(checkpoint.vae), widened(checkpoint.text_encoders[0])
    assert layer_dtypes(wide_vae) == {torch.float32}
    torch.manual_seed(0)
    images, latents = torch.rand(1, 32, 32, 3), torch.randn(1, 4, 8, 8)
    ids = torch.randint(0, 1000, (1, 77)) % checkpoint.text_encoders[0].config.vocab_size
    with torch.no_grad():
        assert torch.equal(vae_ops.encode(checkpoint.vae, images), vae_ops.encode(wide_vae, images))
        decoded = vae_ops.decode(checkpoint.vae, latents)
        assert decoded.dtype == torch.float32 and torch.equal(decoded, vae_ops.decode(wide_vae, latents))
        assert torch.equal(vae_ops.decode_tiled(checkpoint.vae, latents, tile_size=32, overlap=8),
                           vae_ops.decode_tiled(wide_vae, latents, tile_size=32, overlap=8))
        assert torch.equal(checkpoint.text_encoders[0](ids).last_hidden_state, wide_encoder(ids).last_hidden_state)


def test_other_precisions_and_fp32_files_store_as_they_compute(tmp_path):
    configs = tiny_config_root(tmp_path)
    narrow_file = stored_as(tmp_path, "sd1", torch.float16)
    bf16 = load_checkpoint(narrow_file, configs=configs, dtype=torch.bfloat16)
    assert layer_dtypes(bf16.vae) == layer_dtypes(bf16.text_encoders[0]) == {torch.bfloat16}
    fp32 = load_checkpoint(make_tiny_checkpoint(tmp_path), configs=configs)
    assert layer_dtypes(fp32.vae) == layer_dtypes(fp32.text_encoders[0]) == {torch.float32}
    assert layer_dtypes(load_vae(narrow_file, configs=configs)) == {torch.float16}  # VAELoader alike


def test_preparing_for_an_fp32_run_keeps_the_narrow_vae(tmp_path):
    checkpoint = load_checkpoint(stored_as(tmp_path, "sd1", torch.float16), configs=tiny_config_root(tmp_path))
    Runtime.choose("fp32", "cpu").prepare_checkpoint(checkpoint)
    assert layer_dtypes(checkpoint.vae) == {torch.float16}


def test_merging_narrow_text_encoders_rounds_once(tmp_path):
    configs = tiny_config_root(tmp_path)
    a = load_checkpoint(stored_as(tmp_path, "sd1", torch.float16), configs=configs).text_encoders[0]
    b_file = make_tiny_checkpoint(tmp_path / "b", seed=1)
    b = load_checkpoint(b_file, configs=tiny_config_root(tmp_path / "b")).text_encoders[0]
    merged = merge_modules(a, b, 0.3, "CLIP")
    layer = next(name for name, m in a.named_modules() if name.endswith("mlp.fc1"))
    expected = (a.get_submodule(layer).weight.float() * 0.3 + b.get_submodule(layer).weight * 0.7).half()
    assert torch.equal(merged.get_submodule(layer).weight, expected)
    assert isinstance(merged.get_submodule(layer), StoredLinear)


def in_new_thread(work):
    """``work()``'s result, computed in a thread of its own (whose widening buffers are new)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0]


def test_widening_into_the_reused_buffer_keeps_every_mode_and_thread_exact(tmp_path):
    """CPU inference widens each weight into one buffer per thread (stored_weights.widened):
    a buffer made inside inference_mode stays writable under no_grad, each thread has its own,
    and a call with gradients keeps weights of its own for the backward pass."""
    encoder = load_checkpoint(stored_as(tmp_path, "sd1", torch.float16),
                              configs=tiny_config_root(tmp_path)).text_encoders[0]
    ids = torch.randint(0, encoder.config.vocab_size, (1, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = widened(encoder)(ids).last_hidden_state

    def inference_then_no_grad():
        with torch.inference_mode():
            first = encoder(ids).last_hidden_state.clone()
        with torch.no_grad():
            return first, encoder(ids).last_hidden_state
    for result in in_new_thread(inference_then_no_grad):
        assert torch.equal(result, expected)

    def encode_three_times():
        with torch.no_grad():
            return [encoder(ids).last_hidden_state for _ in range(3)]
    threads = [threading.Thread(target=lambda: results.extend(encode_three_times())) for _ in range(2)]
    results = []
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(torch.equal(r, expected) for r in results)

    narrow, x = torch.ones(4, 8, dtype=torch.float16), torch.zeros(1, 8)
    with torch.no_grad():
        here = widened_weight(narrow, x).data_ptr()
        assert in_new_thread(lambda: widened_weight(narrow, x).data_ptr()) != here

    layers = [m for m in encoder.modules() if isinstance(m, StoredLinear)]
    layer, other = layers[0], next(m for m in layers if m.weight.shape == layers[0].weight.shape and m is not layers[0])
    x = torch.randn(2, layer.in_features, requires_grad=True)
    out = layer(x)
    with torch.no_grad():
        other(torch.randn(2, other.in_features))  # rewrites this thread's buffer
    out.sum().backward()
    assert torch.allclose(x.grad, layer.weight.float().sum(0).expand(2, -1), atol=1e-5)
    assert not torch.allclose(x.grad, other.weight.float().sum(0).expand(2, -1), atol=1e-5)


def test_a_weight_already_in_the_working_dtype_is_used_as_it_is():
    layer = torch.nn.Linear(8, 4)
    assert widened_weight(layer.weight, torch.zeros(1, 8)) is layer.weight
    narrow = layer.weight.detach().half()
    with torch.no_grad():
        assert torch.equal(widened_weight(narrow, torch.zeros(1, 8)), narrow.float())
