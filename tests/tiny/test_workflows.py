"""Every example workflow runs on the built-in model and leaves its outputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nodeflow.tiny import judge
from nodeflow.workflow import parse_workflow

from .conftest import ROOT

WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_example_runs_and_saves(path, base, executor):
    data = json.loads(path.read_text())
    assert data["name"] and data["description"]
    result = executor.run(parse_workflow(data))
    assert result.status == "success", result.error
    saved = [item for outputs in result.outputs.values() for item in outputs.get("images", [])]
    assert saved, result.outputs
    for item in saved:
        assert (base / "output" / item["subfolder"] / item["filename"]).stat().st_size > 0


def test_txt2img_example_draws_what_it_says(base, executor):
    result = executor.run(parse_workflow(json.loads((ROOT / "workflows" / "txt2img.json").read_text())))
    [item] = result.outputs["save"]["images"]
    picture = np.asarray(Image.open(base / "output" / item["filename"]).convert("RGB"))
    assert judge.digits(picture).tolist() == [7]
    assert judge.colors(picture) == (["red"], ["blue"])


def test_vae_example_shows_fidelity_numbers(executor):
    data = json.loads((ROOT / "workflows" / "vae-mean-vs-sample.json").read_text())
    result = executor.run(parse_workflow(data))
    psnr_mean = float(result.outputs["psnr_mean"]["text"][0])
    psnr_sample = float(result.outputs["psnr_sample"]["text"][0])
    assert psnr_mean > 20 and psnr_sample > 15


def test_area_composition_draws_one_digit_per_half(base, executor):
    data = json.loads((ROOT / "workflows" / "area-composition.json").read_text())
    result = executor.run(parse_workflow(data))
    [item] = result.outputs["save"]["images"]
    picture = np.asarray(Image.open(base / "output" / item["filename"]).convert("RGB"))
    assert picture.shape == (32, 64, 3)
    assert judge.digits(picture[:, :32]).tolist() == [1]
    assert judge.digits(picture[:, 32:]).tolist() == [7]


def test_upscale_example_is_sharper_than_bicubic(base, executor):
    data = json.loads((ROOT / "workflows" / "upscale-with-model.json").read_text())
    result = executor.run(parse_workflow(data))
    model, bicubic = (np.asarray(Image.open(base / "output" / item["filename"]).convert("L"),
                                 dtype=np.float64) / 255 for item in result.outputs["save"]["images"])
    assert model.shape == bicubic.shape == (64, 64)
    small = np.asarray(Image.open(base / "output" / result.outputs["save"]["images"][0]["filename"])
                       .convert("RGB").resize((32, 32), Image.BILINEAR))
    assert judge.digits(small).tolist() == [3]
    edges = lambda a: np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert edges(model) > 1.2 * edges(bicubic)
