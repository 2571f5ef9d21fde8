"""ComfyUI's shipped workflow templates (comfyui-workflow-templates) that use only nodes nodeflow
maps: each is imported from its file and run end to end, on a tiny random-weight SDXL
checkpoint at 32 px with two steps (the only changes: the model files, the input picture, the
size, the steps).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from nodeflow.comfy.convert import import_workflow
from nodeflow.comfy.object_view import comfy_object_info

from .conftest import install_tiny

IN_CI = os.environ.get("CI", "").lower() == "true"
EDITOR_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
SIZE, STEPS = 32, 2


def template_files() -> list[Path]:
    """The templates the package's index lists."""
    from nodeflow.server.routes_comfy_frontend import template_dirs

    for root in template_dirs():
        if (root / "index.json").is_file():
            index = json.loads((root / "index.json").read_text())
            return [root / f"{t['name']}.json" for category in index
                    for t in category["templates"] if (root / f"{t['name']}.json").is_file()]
    return []


def supported(files: list[Path], view: dict) -> list[Path]:
    """Templates whose every node (subgraph definitions' too) is in the ComfyUI view."""
    found = []
    for path in files:
        data = json.loads(path.read_text())
        definitions = (data.get("definitions") or {}).get("subgraphs") or []
        inner = {d["id"] for d in definitions}
        nodes = data.get("nodes", []) + [n for d in definitions for n in d.get("nodes", [])]
        if {n["type"] for n in nodes} - EDITOR_ONLY - inner <= set(view):
            found.append(path)
    return found


@pytest.fixture(scope="module")
def templates(executor) -> list[Path]:
    files = template_files()
    if not files:
        if IN_CI:  # the comfyui-frontend extra installs them
            raise AssertionError("comfyui-workflow-templates is not installed")
        pytest.skip("comfyui-workflow-templates is not installed")
    return supported(files, comfy_object_info(executor.registry, executor.settings))


def tiny_run_of(workflow, checkpoint: str, vision: str, picture: str):
    """The imported template with tiny models, a picture of ours, a small latent and few
    steps; the split points of a base/refiner pair keep their place in the schedule."""
    nodes = {}
    for node_id, spec in workflow.nodes.items():
        inputs = dict(spec.inputs)
        if spec.type == "CheckpointLoader":
            inputs["checkpoint"] = checkpoint
        if spec.type == "CLIPVisionLoader":
            inputs["clip_name"] = vision
        if spec.type == "LoadImage":
            inputs["image"] = picture
        if spec.type == "EmptyLatent":
            inputs.update(width=SIZE, height=SIZE, batch_size=1)
        if isinstance(inputs.get("steps"), int):
            total = inputs["steps"]
            inputs["steps"] = STEPS
            for name in ("start_at_step", "end_at_step"):
                if isinstance(inputs.get(name), int) and inputs[name] <= total:
                    inputs[name] = round(inputs[name] * STEPS / total)
        nodes[node_id] = spec.model_copy(update={"inputs": inputs})
    return workflow.model_copy(update={"nodes": nodes})


def checkpoint_only(workflow, registry) -> bool:
    """Whether the models come from whole checkpoints only (the SD/SDXL families nodeflow
    loads); a template on diffusion-model files may be an architecture it does not."""
    from nodeflow.engine.subgraphs import flatten

    flat = flatten(workflow, registry).workflow
    return all(spec.type != "UNETLoader" for spec in flat.nodes.values())


def test_templates_with_supported_nodes_import_without_problems(executor, templates):
    for path in templates:
        imported = import_workflow(json.loads(path.read_text()), executor.registry,
                                   executor.settings)
        assert imported.problems == [], (path.name, imported.problems)


def tiny_vision_and_picture(base: Path) -> tuple[str, str]:
    """A CLIP vision file whose embedding is as wide as the tiny SDXL's pooled text (16, for
    SDXL revision) and a picture in the input folder."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=1,
        image_size=16, patch_size=4, projection_dim=16)).eval()
    (base / "models" / "clip_vision").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vision.state_dict().items()},
              base / "models" / "clip_vision" / "tiny-vision-templates.safetensors")
    (base / "input").mkdir(exist_ok=True)
    Image.new("RGB", (24, 20), (200, 60, 30)).save(base / "input" / "tiny-template-picture.png")
    return "tiny-vision-templates.safetensors", "tiny-template-picture.png"


def test_templates_with_supported_nodes_run(executor, base, templates):
    checkpoint = install_tiny(base, "sdxl", name="tiny-sdxl-templates.safetensors")
    vision, picture = tiny_vision_and_picture(base)
    runnable = []
    for path in templates:
        imported = import_workflow(json.loads(path.read_text()), executor.registry,
                                   executor.settings)
        if not checkpoint_only(imported.workflow, executor.registry):
            continue
        runnable.append(path.name)
        result = executor.run(tiny_run_of(imported.workflow, checkpoint, vision, picture))
        assert result.status == "success", (path.name, result.error)
        saved = [image for out in result.outputs.values() for image in out.get("images", [])]
        assert saved, path.name
        for image in saved:
            file = executor.settings.output_dir / image.get("subfolder", "") / image["filename"]
            with Image.open(file) as png:
                assert png.size == (SIZE, SIZE), path.name
    assert len(runnable) >= 4, runnable
