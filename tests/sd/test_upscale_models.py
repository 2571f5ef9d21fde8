"""Upscale models through spandrel on tiny random-weight models, ComfyUI's tiling, and the
two spandrel architectures that need torchvision saying why they cannot load here."""
from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from nodeflow.diffusion.upscale_models import spandrel, tile_positions, tiled_scale

from .conftest import computed, run

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def tiny_compact(scale=2):
    spandrel()
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    torch.manual_seed(0)
    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)


def tiny_esrgan():
    spandrel()
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

    torch.manual_seed(1)
    return RRDBNet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4)


@pytest.fixture(scope="module")
def upscalers(base):
    folder = base / "models" / "upscale_models"
    folder.mkdir(parents=True, exist_ok=True)
    models = {"compact-x2.safetensors": tiny_compact(), "esrgan-x4.safetensors": tiny_esrgan()}
    for name, model in models.items():
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / name)
    torch.save(models["compact-x2.safetensors"].state_dict(), folder / "compact-x2.pth")
    return {name: model.eval() for name, model in models.items()}


def graph(model_name, size=(20, 24)):
    return {"nodeflow": 1, "nodes": {
        "solid": {"type": "SolidMask", "inputs": {"value": 0.3, "width": size[1],
                                                  "height": size[0]}},
        "image": {"type": "MaskToImage", "inputs": {"mask": L("solid", "mask")}},
        "load": {"type": "UpscaleModelLoader", "inputs": {"model_name": model_name}},
        "up": {"type": "ImageUpscaleWithModel", "inputs": {
            "upscale_model": L("load", "upscale_model"), "image": L("image", "image")}}}}


@pytest.mark.parametrize("name, scale", [("compact-x2.safetensors", 2),
                                         ("esrgan-x4.safetensors", 4)])
def test_upscale_with_a_tiny_model(executor, upscalers, name, scale):
    out = computed(executor, graph(name), "up", "image")
    assert out.shape == (1, 20 * scale, 24 * scale, 3)
    with torch.no_grad():
        direct = upscalers[name](torch.full((1, 3, 20, 24), 0.3)).clamp(0, 1).movedim(1, -1)
    assert torch.allclose(out, direct, atol=1e-6)


def test_pickle_models_need_the_opt_in(executor, upscalers):
    from .conftest import capture

    result = run(executor, capture(graph("compact-x2.pth"), "up", "image"))
    assert result.status == "error" and "--allow-pickle" in str(result.error)


def test_tiles_blend_like_comfyui():
    assert tile_positions(600, 512, 32) == [0, 480]
    assert tile_positions(512, 512, 32) == [0]
    image = torch.rand(2, 3, 40, 37)
    steps = []
    doubled = tiled_scale(image, lambda t: F.interpolate(t, scale_factor=2, mode="nearest"), 2,
                          tile=16, overlap=4, progress=lambda done, total: steps.append(total))
    assert torch.allclose(doubled, F.interpolate(image, scale_factor=2, mode="nearest"), atol=1e-6)
    assert len(steps) == steps[0] == 2 * len(tile_positions(40, 16, 4)) * len(tile_positions(37, 16, 4))


def test_the_architectures_that_need_torchvision_say_so():
    spandrel()
    assert "torchvision" not in sys.modules  # nothing pretends to be torchvision afterwards
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from spandrel.architectures import RestoreFormer

    with pytest.raises(CheckpointError, match="needs torchvision"):
        RestoreFormer.tv_normalize(torch.zeros(1, 3, 2, 2), [0.5] * 3, [0.5] * 3)
