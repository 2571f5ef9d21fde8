"""The example workflows: every one survives load and save unchanged and validates; hires fix
and VAE comparison give what they promise (tests/tiny runs every example)."""
from __future__ import annotations

import json

import pytest

from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from .conftest import EXAMPLES, ROOT

STABLE_LAYOUT = ["hires-fix", "lora", "vae-comparison"]
"""Examples written by `dump_workflow`, so saving them gives back the same bytes."""


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_round_trips(path):
    text = path.read_text(encoding="utf-8")
    workflow = parse_workflow(text)
    saved = dump_workflow(workflow)
    assert json.loads(saved) == json.loads(text)  # nothing lost, nothing added
    assert parse_workflow(saved) == workflow
    assert dump_workflow(parse_workflow(saved)) == saved  # the saved layout is stable
    if path.stem in STABLE_LAYOUT:
        assert saved == text


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_describes_itself_and_validates(path, registry, settings):
    workflow = parse_workflow(path.read_text(encoding="utf-8"))
    assert workflow.name and workflow.description
    assert validate(workflow, registry, settings) == []


def _quick(path, steps: int = 2):
    """An example with few sampling steps (its pictures' sizes are what is checked)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for spec in data["nodes"].values():
        if spec["type"] in ("KSampler", "KSamplerAdvanced"):
            spec["inputs"]["steps"] = steps
    return parse_workflow(data)


def test_hires_fix_saves_both_passes(executor, settings):
    result = executor.run(_quick(ROOT / "workflows" / "hires-fix.json"))
    assert result.status == "success", result.error
    from PIL import Image

    sizes = {node: Image.open(settings.output_dir / result.outputs[node]["images"][0]["filename"]
                              ).size for node in ("save_first", "save")}
    assert sizes == {"save_first": (32, 32), "save": (64, 64)}


def test_vae_comparison_shows_numbers_and_both_pictures(executor, settings):
    result = executor.run(parse_workflow((ROOT / "workflows" / "vae-comparison.json"
                                          ).read_text(encoding="utf-8")))
    assert result.status == "success", result.error
    for node in ("psnr_mean", "ssim_mean", "psnr_sample", "ssim_sample"):
        float(result.outputs[node]["text"][0])
    assert float(result.outputs["show_tiled_vs_full"]["text"][0]) >= 40.0  # the description's claim
    from PIL import Image

    modes = result.outputs["save_modes"]["images"][0]["filename"]
    tiling = result.outputs["save_tiling"]["images"][0]["filename"]
    assert Image.open(settings.output_dir / modes).size == (256, 32)
    assert Image.open(settings.output_dir / tiling).size == (384, 32)
