"""LoadImageOutput: a picture an earlier run saved, read from the output folder only."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nodeflow.errors import WorkflowError

from .conftest import capture, computed, run


def loading(name: str) -> dict:
    return {"nodeflow": 1, "nodes": {"load": {"type": "LoadImageOutput",
                                              "inputs": {"image": name}}}}


def test_reads_the_output_folder_only(base, executor):
    (base / "output" / "runs").mkdir(parents=True, exist_ok=True)
    (base / "input").mkdir(exist_ok=True)
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 1] = 255
    rgba[:, :3, 3] = 255
    Image.fromarray(rgba, "RGBA").save(base / "output" / "runs" / "green.png")
    Image.fromarray(rgba, "RGBA").save(base / "input" / "only-input.png")
    image = computed(executor, loading("runs/green.png"), "load", "image")
    mask = computed(executor, loading("runs/green.png"), "load", "mask")
    assert image.shape == (1, 4, 6, 3) and torch.all(image[..., 1] == 1.0)
    assert mask[0, 0].tolist() == [0, 0, 0, 1, 1, 1]  # transparent = 1, as Load Image
    for name in ("only-input.png", "../input/only-input.png"):
        with pytest.raises(WorkflowError) as info:
            run(executor, capture(loading(name), "load", "image"))
        problem = info.value.problems[0]
        assert (problem.node, problem.input) == ("load", "image")
        assert "not one of the choices" in problem.message
