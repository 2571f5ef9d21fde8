"""The list, switch and subgraph examples on the built-in model do what they say."""
from __future__ import annotations

import json

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
