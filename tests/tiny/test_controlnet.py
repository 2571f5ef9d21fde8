"""The shipped scribble ControlNet for nodeflow-tiny: its example draws the scribble's digit along
the scribble's strokes (the judge and the stroke overlap say so, over several seeds), a few
training steps give a file ControlNetLoader loads, and the loader lists the shipped file."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from nodeflow.settings import Settings
from nodeflow.tiny import data, judge
from nodeflow.tiny.controlnet import NAME, train_controlnet
from nodeflow.tiny.quality import shipped_model
from nodeflow.workflow import parse_workflow

from .conftest import ROOT

EXAMPLE = ROOT / "workflows" / "controlnet-scribble.json"


def pictures(executor, base, graph: dict) -> np.ndarray:
    result = executor.run(parse_workflow(graph))
    assert result.status == "success", result.error
    return np.stack([np.asarray(Image.open(base / "output" / item["subfolder"] / item["filename"]).convert("RGB"))
                     for item in result.outputs["save"]["images"]])


def overlap(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Intersection over union of each picture's strokes and the scribble's."""
    drawn, wanted = judge.stroke_values(images) > 0.5, (mask > 0.5)[None]
    return (drawn & wanted).sum(axis=(1, 2)) / np.maximum(1, (drawn | wanted).sum(axis=(1, 2)))


def test_the_example_draws_the_scribbles_digit_where_the_model_alone_does_not(executor, base):
    graph = json.loads(EXAMPLE.read_text())
    scribble = graph["nodes"]["scribble"]["inputs"]
    mask = data.masks()[data.example_index(scribble["digit"], scribble["index"])]
    [picture] = pictures(executor, base, graph)
    assert picture.shape == (32, 96, 3)
    hint, plain, guided = picture[:, :32], picture[:, 32:64], picture[:, 64:]
    assert np.allclose(hint / 255.0, np.asarray(data.paint(mask, "white", "black")), atol=1 / 255)
    assert judge.digits(guided).tolist() == [7] and judge.digits(plain).tolist() != [7]
    assert overlap(guided[None], mask)[0] > overlap(plain[None], mask)[0] + 0.2

    # over 8 seeds (a batch of 8 from the same graph): the direction holds, not just for one
    graph["nodes"]["latent"]["inputs"]["batch_size"] = 8
    batch = pictures(executor, base, graph)
    plain, guided = batch[:, :, 32:64], batch[:, :, 64:]
    # measured: the judge reads 7 in 7 of 8 with the ControlNet, 1 of 8 without; IoU 0.66 / 0.32
    assert (judge.digits(guided) == 7).sum() >= 6 and (judge.digits(plain) == 7).sum() <= 3
    assert overlap(guided, mask).mean() > overlap(plain, mask).mean() + 0.15


def test_a_few_training_steps_give_a_controlnet_the_loader_reads(base, executor):
    from nodeflow.diffusion.controlnet import hint_factor, load_controlnet

    lines: list[str] = []
    out = train_controlnet(shipped_model(), base / "models" / "controlnet" / "smoke.safetensors", steps=2,
                           colorings=1, seed=1, log=lines.append)
    assert any("wrote" in line for line in lines)
    net, family = load_controlnet(out)
    assert family == "sd1" and hint_factor(net) == 4  # 32x32 hints for 8x8 latents
    assert any(p.abs().sum() > 0 for p in net.controlnet_mid_block.parameters())  # trained off zero
    graph = json.loads(EXAMPLE.read_text())
    graph["nodes"]["controlnet"]["inputs"]["control_net_name"] = "smoke.safetensors"
    assert pictures(executor, base, graph).shape == (1, 32, 96, 3)


def test_the_shipped_controlnet_is_listed_and_loads():
    from nodeflow.diffusion.controlnet import hint_factor, load_controlnet
    from nodes.sd.loaders import model_names

    import tempfile

    with tempfile.TemporaryDirectory() as home:
        assert NAME in model_names("controlnet")(Settings(base_dir=home))
    net, family = load_controlnet(ROOT / "models" / "controlnet" / NAME)
    assert family == "sd1" and hint_factor(net) == 4
    assert next(net.parameters()).dtype == torch.float32
