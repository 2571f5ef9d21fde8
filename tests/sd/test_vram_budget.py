"""--vram-budget through the executor: the same pixels with and without a budget, models that
stay on the device across runs while they fit, and a clear error when one cannot fit."""
from __future__ import annotations

from nodeflow.diffusion.checkpoints import load_checkpoint
from nodeflow.diffusion.placement import module_bytes
from nodeflow.engine.executor import Executor
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings

from .conftest import run, txt2img
from .test_txt2img import saved_arrays

CKPT = "tiny-sd1.safetensors"


def _executor(base, budget: str | None) -> Executor:
    settings = Settings(base_dir=base, vram_budget=budget)
    return Executor(load_registry(settings), settings)


def _sizes(base) -> dict[str, int]:
    path = base / "models" / "checkpoints" / CKPT
    loaded = load_checkpoint(path, configs=str(path.with_name("tiny-sd1.configs")))
    return {"unet": module_bytes(loaded.unet), "vae": module_bytes(loaded.vae),
            "encoder": module_bytes(loaded.text_encoders[0])}


def test_a_budget_smaller_than_the_models_gives_the_same_pixels(base):
    sizes = _sizes(base)
    plain = saved_arrays(base, run(_executor(base, None), txt2img(seed=5)))[0]
    budgeted = _executor(base, f"{max(sizes.values()) + 1}B")
    result = run(budgeted, txt2img(seed=5))
    assert result.status == "success", result.error
    assert (saved_arrays(base, result)[0] == plain).all()
    placer = budgeted.models.placement
    # the text encoder (the largest: the full CLIP vocabulary) went back for the UNet
    assert placer.resident_names() == [f"the UNet of {CKPT}", f"the VAE of {CKPT}"]
    assert placer.moves_out == 1 and placer.resident_bytes <= placer.budget_bytes
    again = run(budgeted, txt2img(seed=5, steps=2))  # the UNet and VAE are still there
    assert again.status == "success" and (placer.moves_in, placer.moves_out) == (3, 1)


def test_models_that_fit_move_to_the_device_once_across_runs(base):
    sizes = _sizes(base)
    executor = _executor(base, f"{sum(sizes.values())}B")
    for seed in (6, 7):
        assert run(executor, txt2img(seed=seed)).status == "success"
    placer = executor.models.placement
    assert placer.moves_in == 3 and placer.moves_out == 0
    assert sorted(placer.resident_names()) == sorted(
        [f"the text encoder of {CKPT}", f"the UNet of {CKPT}", f"the VAE of {CKPT}"])


def test_a_model_larger_than_the_budget_fails_its_node_in_one_sentence(base):
    sizes = _sizes(base)
    result = run(_executor(base, f"{sizes['unet']}B"), txt2img(seed=8))
    assert result.status == "error" and result.error["node"] in ("pos", "neg")
    assert (f"the text encoder of {CKPT} takes {sizes['encoder'] / 1024**2:.2f} MB, more than the "
            f"whole --vram-budget of {sizes['unet'] / 1024**2:.2f} MB") in result.error["message"]


def test_a_budget_that_does_not_parse_fails_the_first_model_node(base):
    result = run(_executor(base, "lots"), txt2img(seed=9))
    assert result.status == "error"
    assert "--vram-budget 'lots': give bytes with a unit" in result.error["message"]
