"""The tiny pack through the contract kit, and what its nodes give."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodeflow import NodeError
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings
from nodeflow.testing import contract_problems, run_node
from nodeflow.tiny import data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    settings = Settings(base_dir=tmp_path_factory.mktemp("home"))
    registry = load_registry(settings, entry_points=False, custom=False)
    return {n.type_name: n for n in registry.nodes.values() if n.pack == "tiny"}, settings


def test_tiny_pack_contract(tiny):
    nodes, settings = tiny
    samples = {"DigitImage": {}, "SideBySide": {"left": torch.rand(1, 32, 32, 3),
                                                "right": torch.rand(2, 32, 32, 3)}}
    assert sorted(nodes) == sorted(samples)
    problems = [f"{name}: {p}" for name, node_def in nodes.items()
                for p in contract_problems(node_def, samples[name], settings)]
    assert problems == []


def test_digit_image_is_a_painted_training_digit(tiny):
    nodes, settings = tiny
    outputs, _, _ = run_node(nodes["DigitImage"], {"digit": 4, "index": 2, "color": "red",
                                                   "background": "blue"}, settings)
    image = outputs["image"]
    assert image.shape == (1, 32, 32, 3) and image.dtype == torch.float32
    _, labels = data.source_digits()
    assert labels[data.example_index(4, 2)] == 4
    red, blue = (np.array(data.PALETTE[c]) / 255 for c in ("red", "blue"))
    pixels = image[0].reshape(-1, 3).numpy()
    assert np.allclose(pixels[0], blue, atol=1e-6)  # a corner is background
    assert np.abs(pixels - red).sum(1).min() < 0.05  # the stroke centre is ink


def test_digit_image_refuses_one_colour_for_both(tiny):
    nodes, settings = tiny
    with pytest.raises(NodeError, match="both white"):
        run_node(nodes["DigitImage"], {"color": "white", "background": "white"}, settings)


def test_side_by_side_joins_widths_and_checks_heights(tiny):
    nodes, settings = tiny
    left, right = torch.zeros(1, 32, 16, 3), torch.ones(3, 32, 8, 3)
    outputs, _, _ = run_node(nodes["SideBySide"], {"left": left, "right": right}, settings)
    joined = outputs["image"]
    assert joined.shape == (3, 32, 24, 3)
    assert joined[:, :, :16].eq(0).all() and joined[:, :, 16:].eq(1).all()
    with pytest.raises(NodeError, match="heights"):
        run_node(nodes["SideBySide"], {"left": left, "right": torch.ones(1, 16, 8, 3)}, settings)
