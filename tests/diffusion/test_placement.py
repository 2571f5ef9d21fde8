"""--vram-budget: the budget's syntax, and which models the placer keeps on the compute device.

Both devices are the CPU here, so moves change nothing but the placer's accounting, which is
what these tests check (bench/cuda_check.py checks the moves themselves on a GPU)."""
from __future__ import annotations

import copy
import gc

import pytest
import torch

from nodeflow import NodeError
from nodeflow.cli import _parser
from nodeflow.diffusion.placement import ModelPlacer, module_bytes, parse_budget, size_text
from tests.diffusion.tiny_models import build_tiny_models

GB = 1024**3


@pytest.mark.parametrize("text, expected", [
    ("6GB", 6 * GB), ("6gib", 6 * GB), ("6000MB", 6000 * 1024**2), ("1.5 GB", int(1.5 * GB)),
    ("512", None), ("0.5", 5 * GB), ("1", 10 * GB), (".25", int(2.5 * GB)),
])
def test_budget_takes_bytes_with_a_unit_or_a_fraction_of_the_device(text, expected):
    if expected is None:
        with pytest.raises(ValueError, match="a bare number is a fraction"):
            parse_budget(text, lambda: 10 * GB)
    else:
        assert parse_budget(text, lambda: 10 * GB) == expected


@pytest.mark.parametrize("text", ["6XB", "lots", "", "-1GB", "0"])
def test_a_budget_that_does_not_parse_says_what_it_takes(text):
    with pytest.raises(ValueError, match=r"--vram-budget"):
        parse_budget(text, lambda: 10 * GB)


def test_the_command_line_refuses_a_bad_budget_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["run", "x.json", "--vram-budget", "6XB"])
    assert exit_info.value.code == 2
    assert "argument --vram-budget: '6XB': give bytes with a unit" in capsys.readouterr().err
    args = _parser().parse_args(["serve", "--vram-budget", "6GB"])
    assert args.vram_budget == "6GB"


@pytest.fixture(scope="module")
def models():
    unet, vae, (encoder,) = build_tiny_models("sd1")
    return {"unet": unet, "vae": vae, "encoder": encoder}


def test_sizes_read_in_gb_or_mb():
    assert (size_text(6 * GB), size_text(1536 * 1024**2), size_text(3 * 1024**2)) == \
        ("6.00 GB", "1.50 GB", "3.00 MB")


def test_module_bytes_counts_parameters_and_buffers_once(models):
    unet = models["unet"]
    expected = sum(p.numel() * p.element_size() for p in unet.parameters())
    expected += sum(b.numel() * b.element_size() for b in unet.buffers())
    assert module_bytes(unet) == expected > 0
    twice = torch.nn.ModuleList([unet, unet])
    assert module_bytes(twice) == expected


def _placer(models, fits: tuple[str, ...]) -> ModelPlacer:
    """A placer whose budget holds exactly the models named in ``fits``."""
    return ModelPlacer(sum(module_bytes(models[n]) for n in fits), compute="cpu", offload="cpu")


def test_models_stay_on_the_device_and_the_least_recently_used_goes_back(models):
    placer = _placer(models, ("unet", "vae"))
    placer.use(models["encoder"], "encoder", user="encode")
    placer.use(models["unet"], "unet", user="sample")
    assert placer.resident_names() == ["encoder", "unet"]
    placer.use(models["unet"], "unet", user="sample again")  # already there: nothing moves
    assert (placer.moves_in, placer.moves_out) == (2, 0)
    placer.use(models["vae"], "vae", user="decode")  # the encoder is older than the UNet
    assert placer.resident_names() == ["unet", "vae"]
    assert (placer.moves_in, placer.moves_out) == (3, 1)
    placer.use(models["unet"], "unet", user="sample")
    placer.use(models["encoder"], "encoder", user="encode")  # now the VAE is the oldest
    assert placer.resident_names() == ["unet", "encoder"]
    assert placer.resident_bytes <= placer.budget_bytes


def test_the_models_of_the_running_node_are_never_offloaded_for_it(models):
    placer = ModelPlacer(module_bytes(models["unet"]) + module_bytes(models["encoder"]) - 1, compute="cpu")
    placer.use(models["vae"], "vae", user="decode")
    placer.use(models["unet"], "the UNet of a.safetensors", user="sample")
    with pytest.raises(NodeError) as failure:
        placer.use(models["encoder"], "the text encoder of a.safetensors", user="sample")
    message = str(failure.value)
    assert message.startswith("the text encoder of a.safetensors (")
    assert "beside the UNet of a.safetensors (" in message and "raise the budget" in message
    # the VAE (not used by this node) went back to make room before it gave up
    assert placer.resident_names() == ["the UNet of a.safetensors"]


def test_a_model_larger_than_the_budget_is_refused_naming_it_its_size_and_the_budget(models):
    placer = ModelPlacer(module_bytes(models["unet"]) - 1, compute="cpu")
    size = module_bytes(models["unet"]) / 1024**2
    with pytest.raises(NodeError, match=rf"^the UNet of x.safetensors takes {size:.2f} MB, more "
                                        rf"than the whole --vram-budget of {size:.2f} MB; raise"):
        placer.use(models["unet"], "the UNet of x.safetensors", user="sample")
    assert placer.resident_names() == [] and placer.moves_in == 0


def test_a_model_the_cache_dropped_no_longer_counts():
    unet, vae, _ = build_tiny_models("sd1")
    placer = ModelPlacer(module_bytes(unet) + module_bytes(vae), compute="cpu")
    placer.use(unet, "unet", user=1)
    placer.use(vae, "vae", user=2)
    del unet
    gc.collect()
    assert placer.resident_names() == ["vae"]
    assert placer.resident_bytes == module_bytes(vae)


def test_offloading_a_lora_copy_offloads_the_model_it_shares_tensors_with(models):
    base = models["vae"]
    shared = {id(p): p for p in base.parameters()}
    patched = copy.deepcopy(base, shared)  # like checkpoint_lora._patched_copy: shares weights
    placer = ModelPlacer(module_bytes(base) + module_bytes(patched) + module_bytes(models["unet"]) - 1,
                         compute="cpu")
    placer.use(base, "base", user=1)
    placer.use(patched, "patched", user=2)
    placer.use(models["unet"], "unet", user=3)  # evicts the base, whose tensors the copy holds
    assert placer.resident_names() == ["unet"]
    assert placer.moves_out == 2
