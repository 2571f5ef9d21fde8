"""The list, switch and subgraph examples on the built-in model do what they say."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from nodeflow.workflow import parse_workflow

from .conftest import ROOT


def _load(name: str, **overrides) -> dict:
    data = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    for target, value in overrides.items():
        node, field = target.split("__")
        data["nodes"][node]["inputs"][field] = value
    return data


def _saved(base, result, node: str) -> Image.Image:
    [item] = result.outputs[node]["images"]
    return Image.open(base / "output" / item["subfolder"] / item["filename"])


def test_xy_plot_draws_one_cell_per_prompt_and_seed(base, executor):
    events = []
    result = executor.run(parse_workflow(_load("xy-plot")), listener=events.append)
    assert result.status == "success", result.error
    grid = _saved(base, result, "save")
    # pictures are enlarged (at least 96 px, more until the longest label fits), 3 x 2
    assert grid.width >= 3 * 96 and grid.height >= 2 * 96 and grid.width > grid.height
    samples = [e for e in events if e.kind == "node_started" and e.node == "sample"]
    assert len(samples) == 1  # one node, run once per grid cell
    assert len([e for e in events if e.kind == "progress" and e.node == "sample"]) == 6 * 12


def test_xy_plot_reuses_cells_when_a_seed_is_added(executor):
    executor.run(parse_workflow(_load("xy-plot")))
    events = []
    executor.run(parse_workflow(_load("xy-plot", seeds__count=3)), listener=events.append)
    steps = [e for e in events if e.kind == "progress" and e.node == "sample"]
    assert len(steps) == 3 * 12  # only the new row is sampled


def test_switch_runs_only_the_branch_it_picks(base, executor):
    result = executor.run(parse_workflow(_load("switch", switch__index=1)))
    assert result.status == "success", result.error
    assert "sample" not in result.executed and "ckpt" not in result.executed
    assert "preview" not in result.outputs  # blocked, without an error
    picture = _saved(base, result, "save")
    assert picture.size == (32, 32)
    result = executor.run(parse_workflow(_load("switch", switch__index=0)))
    assert "sample" in result.executed and "training" not in result.executed


def test_subgraph_example_runs_both_uses_and_shares_the_cache(base, executor):
    result = executor.run(parse_workflow(_load("subgraph")))
    assert result.status == "success", result.error
    assert _saved(base, result, "save").size == (64, 32)
    assert {"first/sample", "second/sample"} <= set(result.executed)
    # the negative prompt inside both uses is one computation (or came from the cache)
    assert not {"first/negative", "second/negative"} <= set(result.executed)
    again = executor.run(parse_workflow(_load("subgraph", second__seed=9)))
    assert again.executed == ["second/sample", "second/decode", "both", "save"]


def test_repeat_upscales_a_latent_twice_and_caches_each_step(base, executor):
    data = _load("switch", switch__index=0)
    nodes = data["nodes"]
    nodes["twice"] = {"type": "Repeat", "inputs": {
        "value": {"node": "sample", "output": "latent"}, "node_type": "LatentUpscaleBy",
        "input": "latent", "output": "latent", "times": 2, "inputs": '{"scale_by": 2.0}'}}
    nodes["decode"]["inputs"]["latent"] = {"node": "twice", "output": "value"}
    events = []
    result = executor.run(parse_workflow(data), listener=events.append)
    assert result.status == "success", result.error
    assert _saved(base, result, "save").size == (128, 128)
    assert {"twice/1", "twice/2"} <= set(result.executed)
    started = [e for e in events if e.kind == "node_started" and e.node.startswith("twice/")]
    assert {e.data["display_node"] for e in started} == {"twice"}
    nodes["twice"]["inputs"]["times"] = 3
    again = executor.run(parse_workflow(data))
    assert "twice/3" in again.executed and "twice/1" not in again.executed  # steps 1-2 cached
    assert _saved(base, again, "save").size == (256, 256)


def test_image_batch_and_list_convert_both_ways():
    import torch

    from nodeflow.plugins import load_registry
    from nodeflow.testing import run_node
    from nodeflow import NodeError

    registry = load_registry(None, entry_points=False, custom=False)
    to_list, to_batch = registry.get("ImageBatchToList"), registry.get("ImageListToBatch")
    batch = torch.rand(3, 8, 8, 3)
    items = run_node(to_list, {"images": batch})[0]["image"]
    assert [tuple(i.shape) for i in items] == [(1, 8, 8, 3)] * 3
    assert torch.equal(run_node(to_batch, {"images": items})[0]["image"], batch)
    with pytest.raises(NodeError, match="differ in size"):
        run_node(to_batch, {"images": [torch.rand(1, 8, 8, 3), torch.rand(1, 4, 8, 3)]})
