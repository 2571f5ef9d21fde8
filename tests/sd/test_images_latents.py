"""Image and latent nodes: loading with alpha masks, saving animations, resizing, morphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.errors import WorkflowError

from .conftest import computed, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def graph(**nodes):
    return {"nodeflow": 1, "nodes": nodes}


def test_load_image_gives_rgb_and_a_mask_from_alpha(base, executor):
    (base / "input").mkdir(exist_ok=True)
    rgba = np.zeros((8, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :8, 3] = 255  # left half opaque, right half transparent
    Image.fromarray(rgba, "RGBA").save(base / "input" / "red.png")
    data = graph(load={"type": "LoadImage", "inputs": {"image": "red.png"}})
    image = computed(executor, data, "load", "image")
    mask = computed(executor, data, "load", "mask")
    assert image.shape == (1, 8, 16, 3) and torch.allclose(image[..., 0], torch.ones(1, 8, 16))
    assert mask.shape == (1, 8, 16)
    assert mask[0, 0, 0] == 0.0 and mask[0, 0, 15] == 1.0  # transparent = repaint
    channel = computed(executor, graph(m={"type": "LoadImageMask", "inputs": {
        "image": "red.png", "channel": "R"}}), "m", "mask")
    assert torch.all(channel == 1.0)


def test_load_image_outside_the_input_folder_is_refused(executor):
    with pytest.raises(WorkflowError) as info:
        run(executor, graph(load={"type": "LoadImage", "inputs": {"image": "../x.png"}},
                            show={"type": "PreviewImage",
                                  "inputs": {"images": L("load", "image")}}))
    [problem] = info.value.problems
    assert (problem.node, problem.input) == ("load", "image")
    assert "'../x.png' is not one of the choices" in problem.message


def test_sweep_and_animation(base, executor):
    data = txt2img(seed=1, save=False)
    nodes = dict(data["nodes"])
    nodes["other"] = dict(nodes["sample"], inputs=dict(nodes["sample"]["inputs"], seed=2))
    nodes["sweep"] = {"type": "LatentSweep", "inputs": {"a": L("sample", "latent"),
                                                        "b": L("other", "latent"), "frames": 4}}
    nodes["frames"] = {"type": "VAEDecode", "inputs": {"latent": L("sweep", "latent"),
                                                       "vae": L("ckpt", "vae")}}
    nodes["anim"] = {"type": "SaveAnimation", "inputs": {"images": L("frames", "image"),
                                                         "prefix": "morph", "fps": 4}}
    del nodes["decode"]
    result = run(executor, dict(data, nodes=nodes))
    assert result.status == "success", result.error
    [item] = result.outputs["anim"]["images"]
    with Image.open(base / "output" / item["filename"]) as animation:
        assert animation.format == "WEBP" and animation.n_frames == 4
    sweep = computed(executor, dict(data, nodes=nodes), "sweep", "latent").samples
    first = computed(executor, dict(data, nodes=nodes), "sample", "latent").samples
    assert sweep.shape[0] == 4 and torch.allclose(sweep[0], first[0], atol=1e-5)


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "bislerp"])
def test_latent_upscale(executor, method):
    data = txt2img(seed=1, save=False)
    nodes = dict(data["nodes"], up={"type": "LatentUpscale", "inputs": {
        "latent": L("sample", "latent"), "method": method, "width": 64, "height": 48}},
        by={"type": "LatentUpscaleBy", "inputs": {"latent": L("sample", "latent"),
                                                  "method": method, "scale_by": 2.0}})
    up = computed(executor, dict(data, nodes=nodes), "up", "latent")
    by = computed(executor, dict(data, nodes=nodes), "by", "latent")
    assert up.pixel_size == (48, 64) and by.pixel_size == (64, 64)


def test_interpolate_ends_are_the_inputs(executor):
    data = txt2img(seed=1, save=False)
    nodes = dict(data["nodes"])
    nodes["other"] = dict(nodes["sample"], inputs=dict(nodes["sample"]["inputs"], seed=2))
    for t in (0.0, 1.0):
        nodes["mix"] = {"type": "LatentInterpolate", "inputs": {
            "a": L("sample", "latent"), "b": L("other", "latent"), "t": t, "method": "slerp"}}
        mixed = computed(executor, dict(data, nodes=nodes), "mix", "latent").samples
        end = computed(executor, dict(data, nodes=nodes), "sample" if t == 0 else "other",
                       "latent").samples
        assert torch.allclose(mixed, end, atol=1e-5)
