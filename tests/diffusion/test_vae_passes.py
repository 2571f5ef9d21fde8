"""The full VAE decode and encode run diffusers' modules step by step: the same results as
diffusers' own calls, with no block's input kept alive through the whole block."""
from __future__ import annotations

import weakref

import pytest
import torch
from diffusers.models.autoencoders.vae import Decoder

from nodeflow.diffusion import vae_ops
from nodeflow.diffusion.checkpoint_paths import builtin_checkpoint
from nodeflow.diffusion.checkpoints import load_checkpoint
from nodeflow.diffusion.cpu_kernels import use_cpu_kernels

from tests.diffusion.tiny_models import random_sd15_vae


@pytest.fixture(scope="module")
def tiny_vae():
    return load_checkpoint(builtin_checkpoint()).vae


@pytest.fixture(scope="module")
def sd15_vae():
    return use_cpu_kernels(random_sd15_vae()).requires_grad_(False)


def diffusers_decode(vae, latent: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        decoded = vae.decode(latent.contiguous(memory_format=torch.channels_last)).sample
    return ((decoded.float() + 1.0) / 2.0).clamp(0, 1).movedim(1, -1)


def diffusers_encode(vae, image: torch.Tensor) -> torch.Tensor:
    pixels = (image.movedim(-1, 1) * 2.0 - 1.0).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return vae.encode(pixels).latent_dist.mean


@pytest.mark.parametrize("which", ["tiny", "sd15"])
def test_the_same_results_as_diffusers_own_calls(request, which):
    vae = request.getfixturevalue(f"{which}_vae")
    torch.manual_seed(1)
    latent = torch.randn(2, vae.config.latent_channels, 8, 6)
    image = vae_ops.decode(vae, latent)
    assert torch.equal(image, diffusers_decode(vae, latent))
    assert torch.equal(vae_ops.encode(vae, image), diffusers_encode(vae, image))


def input_outlives_first_resnet(block, run) -> bool:
    """Whether the input of ``block``'s first resnet is still alive when its second starts."""
    inputs, alive = [], []
    hooks = [block.resnets[0].register_forward_pre_hook(lambda module, args: inputs.append(weakref.ref(args[0]))),
             block.resnets[1].register_forward_pre_hook(lambda module, args: alive.append(inputs[-1]() is not None))]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    assert len(alive) == 1
    return alive[0]


def test_no_up_or_down_block_keeps_its_input_through_the_block(sd15_vae):
    """diffusers' Decoder holds each up block's input until the block returns: at 512 px the
    last one's (268 MB) outlived the block's first resnet. Likewise the Encoder's down blocks."""
    assert not input_outlives_first_resnet(sd15_vae.decoder.up_blocks[-1],
                                           lambda: vae_ops.decode(sd15_vae, torch.randn(1, 4, 4, 4)))
    assert not input_outlives_first_resnet(sd15_vae.encoder.down_blocks[0],
                                           lambda: vae_ops.encode(sd15_vae, torch.rand(1, 32, 32, 3)))
    with torch.no_grad():  # what diffusers' own calls do (so the check above can fail)
        assert input_outlives_first_resnet(sd15_vae.decoder.up_blocks[-1],
                                           lambda: sd15_vae.decode(torch.randn(1, 4, 4, 4)))


def test_sliced_tiled_or_patched_vaes_keep_diffusers_calls(tiny_vae, monkeypatch):
    calls = []
    real = type(tiny_vae).decode
    monkeypatch.setattr(type(tiny_vae), "decode", lambda self, z: calls.append(z.shape) or real(self, z))
    latent = torch.randn(1, 4, 4, 4)
    direct = vae_ops.decode(tiny_vae, latent)
    assert calls == []
    monkeypatch.setattr(tiny_vae, "use_slicing", True)
    assert torch.equal(vae_ops.decode(tiny_vae, latent), direct) and len(calls) == 1
    monkeypatch.setattr(tiny_vae, "use_slicing", False)
    original = Decoder.forward
    monkeypatch.setattr(Decoder, "forward", lambda self, *args, **kwargs: original(self, *args, **kwargs))
    assert torch.equal(vae_ops.decode(tiny_vae, latent), direct) and len(calls) == 2  # a pack's own forward


def test_the_heaps_free_memory_goes_back_before_steps_on_large_activations(tiny_vae, monkeypatch):
    released = []
    monkeypatch.setattr(vae_ops, "release_free_memory", lambda: released.append(True))
    latent = torch.randn(1, 4, 4, 4)
    vae_ops.decode(tiny_vae, latent)
    assert released == []  # the built-in model's steps are far too small to be worth it
    monkeypatch.setattr(vae_ops, "TRIM_FROM_BYTES", 1)
    vae_ops.decode(tiny_vae, latent)
    assert len(released) == len(vae_ops.decoder_steps(tiny_vae.decoder))


def test_tiled_passes_return_the_heaps_free_memory_after_every_tile_step(tiny_vae, monkeypatch):
    released, reported = [], []
    monkeypatch.setattr(vae_ops, "release_free_memory", lambda: released.append(True))
    on_tile = lambda done, total: reported.append((done, total))  # noqa: E731
    vae_ops.decode_tiled(tiny_vae, torch.randn(1, 4, 16, 16), tile_size=32, overlap=8, on_tile=on_tile)
    assert len(reported) > 1 and len(released) == len(reported)  # and progress is still reported
    released.clear()
    reported.clear()
    vae_ops.encode_tiled(tiny_vae, torch.rand(1, 64, 64, 3), tile_size=32, overlap=8, on_tile=on_tile)
    assert len(reported) > 1 and len(released) == len(reported)
