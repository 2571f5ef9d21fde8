"""The example LoRA: its training, the shipped file, how Load LoRA finds it, and its effect."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from nodeflow.cli import main as cli
from nodeflow.settings import Settings
from nodeflow.tiny import data, judge, quality
from nodeflow.tiny.lora import bold_masks, train_lora
from nodeflow.workflow import parse_workflow

from .conftest import ROOT

SHIPPED = "nodeflow-tiny-bold.safetensors"


def with_lora(graph: dict, lora: str, strength: float) -> dict:
    """The quality txt2img graph with a Load LoRA node between the checkpoint and the sampler."""
    nodes = dict(graph["nodes"], lora={"type": "LoadLoRA", "inputs": {
        "model": {"node": "ckpt", "output": "model"}, "clip": {"node": "ckpt", "output": "clip"},
        "lora": lora, "strength_model": strength, "strength_clip": strength}})
    nodes["sample"] = {**nodes["sample"], "inputs": {**nodes["sample"]["inputs"],
                                                      "model": {"node": "lora", "output": "model"}}}
    return {**graph, "nodes": nodes}


def picture(executor, base, graph: dict) -> np.ndarray:
    result = executor.run(parse_workflow(graph))
    assert result.status == "success", result.error
    [saved] = result.outputs["save"]["images"]
    return np.asarray(Image.open(base / "output" / saved["subfolder"] / saved["filename"]).convert("RGB"))


def test_bold_training_digits_have_more_ink_and_still_read_right():
    _, labels = data.source_digits()
    inks, papers = data.color_pairs(np.random.default_rng(3), 300)
    thin, bold = data.masks()[:300], bold_masks()[:300]

    def paint(masks):
        return np.stack([data.paint(m, data.COLORS[a], data.COLORS[b]) for m, a, b in zip(masks, inks, papers)])

    assert (bold >= thin).all()
    # measured on these 300: 0.334 thin, 0.423 bold; the judge reads 299 of the bold digits right
    assert judge.ink_share(paint(bold)).mean() > judge.ink_share(paint(thin)).mean() + 0.06
    assert np.mean(judge.digits(paint(bold)) == labels[:300]) >= 0.98


def test_a_few_training_steps_give_a_lora_that_load_lora_applies(base, executor):
    lines = []
    out = train_lora(quality.shipped_model(), base / "models" / "loras" / "smoke.safetensors",
                     seed=1, steps=4, colorings=1, log=lines.append)
    assert any("wrote" in line for line in lines)
    with safe_open(out, "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
        assert {str(f.get_slice(k).get_dtype()) for k in keys} == {"F16"}
        assert f.get_tensor("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k"
                            ".lora_up.weight").abs().sum() > 0  # trained away from zero
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
    assert "lora_unet_up_blocks_1_resnets_0_conv1.alpha" in keys
    assert meta["ss_sd_model_name"] == "nodeflow-tiny" and meta["ss_steps"] == "4" and meta["ss_seed"] == "1"

    graph = quality.txt2img("nodeflow-tiny", "a red handwritten digit seven on a blue background", seed=3)
    plain = picture(executor, base, graph)
    assert np.array_equal(picture(executor, base, with_lora(graph, "smoke.safetensors", 0.0)), plain)
    assert not np.array_equal(picture(executor, base, with_lora(graph, "smoke.safetensors", 1.0)), plain)


def test_the_shipped_lora_is_listed_after_the_users_own_and_a_users_file_wins(tmp_path):
    from nodes.sd.loaders import _resolve, model_names

    assert SHIPPED in model_names("loras")(Settings(base_dir=tmp_path))
    own = tmp_path / "models" / "loras"
    own.mkdir(parents=True)
    shutil.copy(ROOT / "models" / "loras" / SHIPPED, own / "z-mine.safetensors")
    settings = Settings(base_dir=tmp_path)
    assert model_names("loras")(settings) == ["z-mine.safetensors", SHIPPED]
    assert _resolve("loras", SHIPPED, settings, "lora") == (ROOT / "models" / "loras" / SHIPPED).resolve()
    shutil.copy(own / "z-mine.safetensors", own / SHIPPED)
    assert model_names("loras")(settings) == [SHIPPED, "z-mine.safetensors"]
    assert _resolve("loras", SHIPPED, settings, "lora") == (own / SHIPPED).resolve()
    assert model_names("checkpoints")(settings)[0] == "nodeflow-tiny"


@pytest.fixture(scope="module")
def ten(base, executor) -> dict:
    """Ten pictures, one per digit, without and with the shipped LoRA (two without colours)."""
    inks, papers = data.color_pairs(np.random.default_rng(7), 10)
    items = [quality.Request(d, None, None, seed=d) if d % 5 == 4
             else quality.Request(d, data.COLORS[inks[d]], data.COLORS[papers[d]], seed=d) for d in range(10)]
    graphs = [quality.txt2img("nodeflow-tiny", item.text, item.seed) for item in items]
    return {"items": items, "digits": np.array([item.digit for item in items]),
            "base": np.stack([picture(executor, base, g) for g in graphs]),
            "bold": np.stack([picture(executor, base, with_lora(g, SHIPPED, 1.0)) for g in graphs])}


def test_the_shipped_lora_makes_digits_bolder(ten):
    base_ink, bold_ink = judge.ink_share(ten["base"]), judge.ink_share(ten["bold"])
    # measured with the shipped model and LoRA (2026-11): mean ink share 0.335 -> 0.390, all ten
    # bolder (100 quality prompts: 0.337 -> 0.391, 99 bolder)
    assert bold_ink.mean() > base_ink.mean() + 0.03
    assert np.sum(bold_ink > base_ink) >= 8


def test_the_shipped_lora_keeps_the_digits_and_colours(ten):
    def right(pictures) -> int:
        return int(np.sum(judge.digits(pictures) == ten["digits"]))

    # measured (same models): the judge reads all 10 right without the LoRA and with it (100
    # quality prompts: 99 and 100)
    assert right(ten["bold"]) >= 9
    assert quality.score(ten["items"], ten["bold"])["color"] == 1.0  # every colour the prompts name


def test_the_lora_example_is_bolder_on_the_right(base, executor):
    result = executor.run(parse_workflow(json.loads((ROOT / "workflows" / "lora.json").read_text())))
    assert result.status == "success", result.error
    [saved] = result.outputs["save"]["images"]
    both = np.asarray(Image.open(base / "output" / saved["filename"]).convert("RGB"))
    assert both.shape == (32, 64, 3)
    left, right = both[:, :32], both[:, 32:]
    assert judge.ink_share(right)[0] > judge.ink_share(left)[0] + 0.03
    assert judge.colors(np.stack([left, right])) == (["purple"] * 2, ["orange"] * 2)


def test_the_cli_has_the_training_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["train-tiny-lora", "--help"])
    assert exit_info.value.code == 0
    assert "--steps" in capsys.readouterr().out
    assert cli(["train-tiny-lora", "--out", "unused.safetensors", "--steps", "0"]) == 2
