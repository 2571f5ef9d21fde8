"""ComfyUI's core classes that nodeflow gained nodes for (latent transforms, RepeatLatentBatch,
EmptyImage, LoadImageOutput, SaveLatent/LoadLatent, ConditioningSetAreaStrength, style models,
DiffusersLoader): ComfyUI workflows using them import and run through the CLI (API and editor
format), a pack calls and subclasses them positionally, and a wrong value is a NodeError
naming the class and the input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from .helpers import cli, home_with

PACK = Path(__file__).with_name("packs") / "test_pack_latents"


@pytest.fixture
def base(tmp_path) -> Path:
    return home_with(tmp_path, PACK)


def test_api_prompt_with_the_new_core_nodes_runs(base, tmp_path):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a seven"}},
        "3": {"class_type": "ConditioningSetAreaStrength", "inputs": {"conditioning": ["2", 0],
                                                                      "strength": 0.8}},
        "4": {"class_type": "WeakerArea", "inputs": {"conditioning": ["3", 0]}},
        "5": {"class_type": "CheckerLatent", "inputs": {"vae": ["1", 2], "color": 0x2080C0,
                                                        "copies": 2}},
        "6": {"class_type": "LatentCrop", "inputs": {"samples": ["5", 0], "width": 64,
                                                     "height": 64, "x": 0, "y": 0}},
        "7": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["4", 0], "negative": ["2", 0],
            "latent_image": ["6", 0], "seed": 5, "steps": 2, "cfg": 4.0,
            "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5}},
        "8": {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0],
                                                     "filename_prefix": "latents/api"}},
        "9": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4, "batch_size": 1,
                                                     "color": 0xFF0000}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0],
                                                     "filename_prefix": "red"}},
        "11": {"class_type": "CornerOf", "inputs": {"samples": ["5", 0]}}}
    (tmp_path / "prompt.json").write_text(json.dumps(prompt))
    out = tmp_path / "out"
    done = cli(base, "run", str(tmp_path / "prompt.json"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    saved = load_file(out / "latents" / "api_00001.latent")
    # a 32 x 24 picture is a 6 x 8 latent for nodeflow-tiny's VAE (4 pixels each); turned a
    # quarter it is 8 x 6, and the pack repeated it twice
    assert saved["latent_tensor"].shape == (2, 4, 8, 6)
    from PIL import Image
    red = Image.open(out / "red_00001.png")
    assert red.size == (8, 4) and red.getpixel((3, 2)) == (255, 0, 0)
    # the PNG carries ComfyUI's prompt with the new classes under ComfyUI's names
    comfy = json.loads(red.text["prompt"])
    assert {n["class_type"] for n in comfy.values()} >= {
        "ConditioningSetAreaStrength", "LatentCrop", "SaveLatent", "EmptyImage", "CheckerLatent"}


def _editor_workflow() -> dict:
    def node(id_, type_, widgets, inputs=(), outputs=()):
        return {"id": id_, "type": type_, "mode": 0, "widgets_values": list(widgets),
                "inputs": [{"name": n, "type": t, "link": link} for n, t, link in inputs],
                "outputs": [{"name": n, "type": t, "links": links} for n, t, links in outputs]}
    return {"last_node_id": 6, "last_link_id": 5, "version": 0.4, "links": [
        [1, 1, 0, 2, 0, "LATENT"], [2, 2, 0, 3, 0, "LATENT"], [3, 3, 0, 4, 0, "LATENT"],
        [4, 4, 0, 5, 0, "LATENT"], [5, 5, 0, 6, 0, "LATENT"]], "nodes": [
        node(1, "LoadLatent", ["start.latent [input]"], outputs=[("LATENT", "LATENT", [1])]),
        node(2, "LatentRotate", ["270 degrees"], [("samples", "LATENT", 1)],
             [("LATENT", "LATENT", [2])]),
        node(3, "LatentFlip", ["x-axis: vertically"], [("samples", "LATENT", 2)],
             [("LATENT", "LATENT", [3])]),
        node(4, "LatentCrop", [64, 128, 8, 16], [("samples", "LATENT", 3)],
             [("LATENT", "LATENT", [4])]),
        node(5, "RepeatLatentBatch", [3], [("samples", "LATENT", 4)],
             [("LATENT", "LATENT", [5])]),
        node(6, "SaveLatent", ["latents/editor"], [("samples", "LATENT", 5)])]}


def test_editor_workflow_transforms_a_saved_latent_exactly(base, tmp_path):
    (base / "input").mkdir(parents=True)
    start = torch.randn(1, 4, 20, 24)
    save_file({"latent_tensor": start, "latent_format_version_0": torch.tensor([])},
              base / "input" / "start.latent")
    (tmp_path / "editor.json").write_text(json.dumps(_editor_workflow()))
    out = tmp_path / "out"
    done = cli(base, "run", str(tmp_path / "editor.json"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    got = load_file(out / "latents" / "editor_00001.latent")["latent_tensor"]
    turned = start.transpose(2, 3).flip(2)  # 270 degrees clockwise: [24, 20]
    flipped = turned.flip(2)
    cropped = flipped[:, :, 2:18, 1:9]  # y 16 // 8 = 2, x 8 // 8 = 1, 128 x 64 pixels
    assert torch.equal(got, torch.cat([cropped] * 3))


def test_a_pack_calls_them_and_mistakes_name_the_input(base):
    from nodeflow.errors import NodeError
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    load_registry(Settings.from_args(base))
    import nodes

    mappings = nodes.NODE_CLASS_MAPPINGS
    assert {"LatentRotate", "LatentFlip", "LatentCrop", "RepeatLatentBatch", "EmptyImage",
            "LoadImageOutput", "SaveLatent", "LoadLatent", "ConditioningSetAreaStrength",
            "StyleModelLoader", "StyleModelApply", "DiffusersLoader", "unCLIPConditioning",
            "unCLIPCheckpointLoader", "CheckpointLoader", "CornerOf"} <= set(mappings)
    assert "GLIGENTextBoxApply" not in mappings
    assert nodes.StyleModelApply.FUNCTION == "apply_stylemodel"
    assert list(nodes.StyleModelApply.INPUT_TYPES()["required"]) == [
        "conditioning", "style_model", "clip_vision_output", "strength", "strength_type"]
    assert nodes.LatentFlip.INPUT_TYPES()["required"]["flip_method"][0] == [
        "x-axis: vertically", "y-axis: horizontally"]
    samples = torch.arange(6.0).reshape(1, 1, 2, 3)
    (flipped,) = nodes.LatentFlip().flip({"samples": samples, "batch_index": [4]},
                                         "y-axis: horizontally")
    assert flipped["samples"][0, 0].tolist() == [[2, 1, 0], [5, 4, 3]]
    assert flipped["batch_index"] == [4]  # ComfyUI's other keys stay
    (repeated,) = nodes.RepeatLatentBatch().repeat({"samples": samples, "batch_index": [4]}, 2)
    assert repeated["batch_index"] == [4, 5]
    (image,) = nodes.EmptyImage().generate(2, 1, 1, 0x0000FF)
    assert image.tolist() == [[[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]]
    # SaveLatent -> LoadLatent through the core classes, bit for bit
    noise = torch.randn(2, 4, 3, 5)
    assert nodes.SaveLatent().save({"samples": noise}, "pack/saved") == ()
    written = base / "output" / "pack" / "saved_00001.latent"
    (base / "input").mkdir(exist_ok=True)
    shutil.copy(written, base / "input" / "again.latent")
    (again,) = nodes.LoadLatent().load("again.latent")
    assert torch.equal(again["samples"], noise)
    with pytest.raises(NodeError, match="nodes.LatentRotate: input 'rotation'") as info:
        nodes.LatentRotate().rotate({"samples": samples}, "45 degrees")
    assert info.value.input == "rotation"
    with pytest.raises(NodeError, match="nodes.EmptyImage: input 'width'"):
        nodes.EmptyImage().generate(0, 4)
    with pytest.raises(NodeError, match="nodes.LoadImageOutput: input 'image'.*input folder"):
        nodes.LoadImageOutput().load_image("picture.png [input]")
    with pytest.raises(NodeError, match="nodes.StyleModelApply: input 'strength_type'"):
        nodes.StyleModelApply().apply_stylemodel([[torch.zeros(1, 77, 32), {}]], None, None,
                                                 1.0, "sideways")


def test_annotated_file_names_import_and_export():
    from nodeflow.comfy.api_format import convert_api_prompt
    from nodeflow.comfy.export import builtin_registry, export_api
    from nodeflow.workflow import parse_workflow

    prompt = {"1": {"class_type": "LoadImageOutput", "inputs": {"image": "run_00001.png [output]"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
              "3": {"class_type": "LoadLatent", "inputs": {"latent": "a.latent [input]"}},
              "4": {"class_type": "SaveLatent", "inputs": {"samples": ["3", 0],
                                                           "filename_prefix": "latents/x"}}}
    flow, problems = convert_api_prompt(prompt)
    assert problems == []
    assert flow["nodes"]["1"]["inputs"]["image"] == "run_00001.png"
    assert flow["nodes"]["3"]["inputs"]["latent"] == "a.latent"
    back, problems = export_api(parse_workflow(flow), builtin_registry())
    assert problems == []
    assert back["1"]["inputs"]["image"] == "run_00001.png [output]"  # ComfyUI reads input/ else
    assert back["4"]["class_type"] == "SaveLatent" and back["4"]["inputs"]["samples"] == ["3", 0]
    prompt["1"]["inputs"]["image"] = "mine.png [input]"
    _, problems = convert_api_prompt(prompt)
    assert [(p.node, p.input) for p in problems] == [("1", "image")]
    assert "reads the output folder" in problems[0].message


def test_a_pack_reads_style_tokens_through_get_cond(base):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from nodeflow.engine.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow
    from tests.sd.tiny_style import WIDTH, style_state_dict

    torch.manual_seed(0)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=WIDTH, intermediate_size=96, num_hidden_layers=1, num_attention_heads=1,
        image_size=28, patch_size=7, projection_dim=16)).eval()
    for kind in ("clip_vision", "style_models"):
        (base / "models" / kind).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in vision.state_dict().items()},
              base / "models" / "clip_vision" / "v.safetensors")
    save_file(style_state_dict(context=64), base / "models" / "style_models" / "s.safetensors")
    link = lambda node, out: {"node": node, "output": out}  # noqa: E731
    flow = parse_workflow({"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "nodeflow-tiny"}},
        "text": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": "a"}},
        "picture": {"type": "EmptyImage", "inputs": {"width": 28, "height": 28,
                                                     "color": 0xC08040}},
        "vision": {"type": "CLIPVisionLoader", "inputs": {"clip_name": "v.safetensors"}},
        "seen": {"type": "CLIPVisionEncode", "inputs": {"clip_vision": link("vision", "clip_vision"),
                                                        "image": link("picture", "image")}},
        "style": {"type": "StyleModelLoader", "inputs": {"style_model_name": "s.safetensors"}},
        "half": {"type": "HalfStyle", "inputs": {
            "conditioning": link("text", "conditioning"), "style_model": link("style", "style_model"),
            "clip_vision_output": link("seen", "clip_vision_output")}}}})
    settings = Settings.from_args(base)
    result = Executor(load_registry(settings), settings).run(flow)
    assert result.status == "success", result.error
    report = json.loads(result.outputs["half"]["text"][0])
    assert report["tokens"] == 4 and report["shape"] == [1, 77 + 4, 64]
    assert report["size"] > 0.01 and report["apart"] == 0.0
