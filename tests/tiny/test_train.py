"""The training command, run for a few steps (the full run takes minutes, not a test's time)."""
from __future__ import annotations

import json
import shutil

from safetensors import safe_open

from nodeflow.tiny.quality import txt2img
from nodeflow.tiny.train import train
from nodeflow.workflow import parse_workflow


def test_a_few_training_steps_give_a_checkpoint_that_runs(tmp_path, base, executor):
    lines = []
    out = train(tmp_path / "model", seed=1, scale=0.005, log=lines.append)
    assert any("wrote" in line for line in lines)
    for part, weights in (("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                          ("text_encoder", "model")):
        with safe_open(out / part / f"{weights}.safetensors", "pt") as f:
            assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F16"}
    index = json.loads((out / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    shutil.copytree(out, base / "models" / "checkpoints" / "smoke")
    result = executor.run(parse_workflow(txt2img("smoke", "a handwritten digit one", seed=0)))
    assert result.status == "success", result.error
    [saved] = result.outputs["save"]["images"]
    assert (base / "output" / saved["filename"]).stat().st_size > 0
