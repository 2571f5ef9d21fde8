"""The shipped scribble and Canny ControlNets for nodeflow-tiny: each example draws the hint's
digit along its strokes (the judge and the stroke overlap say so, over several seeds), a few
training steps give a file ControlNetLoader loads, and the loader lists the shipped files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.settings import Settings
from nodeflow.tiny import data, judge
from nodeflow.tiny.controlnet import CANNY_NAME, CANNY_THRESHOLDS, NAME, train_controlnet
from nodeflow.tiny.quality import shipped_model
from nodeflow.workflow import parse_workflow

from .conftest import ROOT

EXAMPLE = ROOT / "workflows" / "controlnet-scribble.json"
CANNY_EXAMPLE = ROOT / "workflows" / "controlnet-canny.json"


def pictures(executor, base, graph: dict) -> np.ndarray:
    result = executor.run(parse_workflow(graph))
    assert result.status == "success", result.error
    return np.stack([np.asarray(Image.open(base / "output" / item["subfolder"] / item["filename"]).convert("RGB"))
                     for item in result.outputs["save"]["images"]])


def overlap(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Intersection over union of each picture's strokes and the scribble's."""
    drawn, wanted = judge.stroke_values(images) > 0.5, (mask > 0.5)[None]
    return (drawn & wanted).sum(axis=(1, 2)) / np.maximum(1, (drawn | wanted).sum(axis=(1, 2)))


def canny_edges(painted: np.ndarray) -> np.ndarray:
    from kornia.filters import canny

    _, edges = canny(torch.from_numpy(np.asarray(painted, dtype=np.float32)).movedim(-1, 0)[None],
                     *CANNY_THRESHOLDS)
    return edges[0, 0, :, :, None].expand(-1, -1, 3).numpy()


@pytest.mark.parametrize("example, hint_of", [(EXAMPLE, lambda painted: painted),
                                              (CANNY_EXAMPLE, canny_edges)],
                         ids=["scribble", "canny"])
def test_the_example_draws_the_hints_digit_where_the_model_alone_does_not(executor, base,
                                                                           example, hint_of):
    graph = json.loads(example.read_text())
    scribble = graph["nodes"]["scribble"]["inputs"]
    mask = data.masks()[data.example_index(scribble["digit"], scribble["index"])]
    [picture] = pictures(executor, base, graph)
    assert picture.shape == (32, 96, 3)
    hint, plain, guided = picture[:, :32], picture[:, 32:64], picture[:, 64:]
    painted = np.asarray(data.paint(mask, "white", "black"))
    assert np.allclose(hint / 255.0, hint_of(painted), atol=1 / 255)
    digit = scribble["digit"]
    assert judge.digits(guided).tolist() == [digit] and judge.digits(plain).tolist() != [digit]
    assert overlap(guided[None], mask)[0] > overlap(plain[None], mask)[0] + 0.2

    # over 8 seeds (a batch of 8 from the same graph): the direction holds, not just for one.
    # measured: scribble 7 of 8 read right with the ControlNet, 1 without, IoU 0.66 / 0.32;
    # Canny 7 of 8 and 0, IoU 0.73 / 0.50
    graph["nodes"]["latent"]["inputs"]["batch_size"] = 8
    batch = pictures(executor, base, graph)
    plain, guided = batch[:, :, 32:64], batch[:, :, 64:]
    assert (judge.digits(guided) == digit).sum() >= 6 and (judge.digits(plain) == digit).sum() <= 3
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
        assert {NAME, CANNY_NAME} <= set(model_names("controlnet")(Settings(base_dir=home)))
    for name in (NAME, CANNY_NAME):
        net, family = load_controlnet(ROOT / "models" / "controlnet" / name)
        assert family == "sd1" and hint_factor(net) == 4
        assert next(net.parameters()).dtype == torch.float32
