"""ComfyUI export (API and editor format) and PNGs: nodeflow's images carry ComfyUI's chunks
when the graph maps, and `nodeflow run image.png` takes either kind of chunk."""
from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from nodeflow.cli import main
from nodeflow.comfy.convert import import_workflow
from nodeflow.comfy.export import export_api, export_ui
from nodeflow.png import read_text_chunks
from nodeflow.workflow import parse_workflow

from .conftest import ROOT

TXT2IMG = ROOT / "workflows" / "txt2img.json"


def txt2img(steps: int = 2) -> dict:
    data = json.loads(TXT2IMG.read_text())
    data["nodes"]["sample"]["inputs"]["steps"] = steps
    return data


def without_ui(workflow) -> dict:
    data = workflow.model_dump(mode="json", exclude_unset=True)
    return {k: {"type": v["type"], "inputs": v.get("inputs", {})}
            for k, v in data["nodes"].items()}


def test_export_api_round_trips_through_import(registry, settings):
    workflow = parse_workflow(txt2img())
    prompt, problems = export_api(workflow, registry)
    assert problems == []
    assert prompt["ckpt"] == {"inputs": {"ckpt_name": "nodeflow-tiny"},
                              "class_type": "CheckpointLoaderSimple",
                              "_meta": {"title": "Load Checkpoint"}}
    assert prompt["sample"]["inputs"]["latent_image"] == ["latent", 0]
    assert prompt["sample"]["inputs"]["sampler_name"] == "euler"
    assert prompt["decode"]["inputs"] == {"samples": ["sample", 0], "vae": ["ckpt", 2]}
    back = import_workflow(prompt, registry, settings)
    assert back.problems == []
    assert without_ui(back.workflow) == without_ui(workflow)


def test_export_ui_round_trips_through_import(registry, settings):
    workflow = parse_workflow(txt2img())
    drawing, problems = export_ui(workflow, registry)
    assert problems == [] and drawing["version"] == 0.4
    assert all(isinstance(n["id"], int) for n in drawing["nodes"])
    sampler = next(n for n in drawing["nodes"] if n["type"] == "KSampler")
    seed = next(s.inputs["seed"] for s in workflow.nodes.values() if s.type == "KSampler")
    assert sampler["widgets_values"] == [seed, "fixed", 2, 5.0, "euler", "normal", 1.0]
    assert sampler["pos"] == [700, 200]
    back = import_workflow(drawing, registry, settings)
    assert back.problems == []
    numbers = {str(n["id"]): n for n in drawing["nodes"]}
    ids = {old: str(next(n["id"] for n in drawing["nodes"]
                         if n["pos"] == workflow.nodes[old].ui["pos"])) for old in workflow.nodes}
    renamed = {ids[k]: v for k, v in without_ui(workflow).items()}
    for spec in renamed.values():
        for name, value in spec["inputs"].items():
            if isinstance(value, dict):
                spec["inputs"][name] = {"node": ids[value["node"]], "output": value["output"]}
    assert without_ui(back.workflow) == renamed
    assert set(numbers) == set(back.workflow.nodes)
    assert back.workflow.nodes[ids["save"]].ui["title"] == "Result"


def test_values_convert_back_to_comfyui_forms(registry):
    link = lambda n, o: {"node": n, "output": o}
    workflow = parse_workflow({"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "x.safetensors"}},
        "skip": {"type": "ClipSkip", "inputs": {"clip": link("ckpt", "clip"), "skip": 2}},
        "mask": {"type": "LoadImageMask", "inputs": {"image": "a.png", "channel": "R"}},
        "up": {"type": "LatentUpscale", "inputs": {"latent": link("adv", "latent")}},
        "adv": {"type": "KSamplerAdvanced", "inputs": {
            "model": link("ckpt", "model"), "positive": link("pos", "conditioning"),
            "negative": link("pos", "conditioning"), "latent": link("empty", "latent")}},
        "pos": {"type": "TextEncode", "inputs": {"clip": link("skip", "clip")}},
        "empty": {"type": "EmptyLatent"}}})
    prompt, problems = export_api(workflow, registry)
    assert problems == []
    assert prompt["skip"]["inputs"]["stop_at_clip_layer"] == -2
    assert prompt["mask"]["inputs"] == {"image": "a.png", "channel": "red", "upload": "image"}
    assert prompt["up"]["inputs"]["crop"] == "disabled"
    assert prompt["adv"]["inputs"]["add_noise"] == "enable"
    assert prompt["adv"]["inputs"]["return_with_leftover_noise"] == "disable"
    assert prompt["empty"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}


def test_export_names_every_node_without_a_counterpart(tmp_path, home, capsys):
    out = tmp_path / "api.json"
    source = ROOT / "workflows" / "vae-comparison.json"
    assert main(["export", "--comfy", str(source), "-o", str(out), "--base-dir",
                 str(home)]) == 1
    err = capsys.readouterr().err
    for node, kind in (("digit_1", "DigitImage"), ("source", "SideBySide"),
                       ("by_mean", "VAEFidelity"), ("psnr_mean", "ShowValue")):
        assert f"error: node '{node}': {kind} has no ComfyUI counterpart" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("ui", [False, True])
def test_export_command_writes_comfyui_json(ui, tmp_path, home, capsys):
    out = tmp_path / "comfy.json"
    args = ["export", "--comfy", str(TXT2IMG), "-o", str(out), "--base-dir", str(home)]
    assert main(args + (["--ui"] if ui else [])) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = json.loads(out.read_text())
    assert ("links" in data) == ui
    with pytest.raises(SystemExit) as info:
        main(["export", str(TXT2IMG), "-o", str(out)])  # --comfy is required
    assert info.value.code == 2


@pytest.fixture(scope="module")
def saved_png(executor, settings):
    """A PNG that nodeflow saved while running txt2img (two steps)."""
    result = executor.run(parse_workflow(txt2img()))
    assert result.status == "success", result.error
    [item] = result.outputs["save"]["images"]
    return settings.output_dir / item["subfolder"] / item["filename"]


def test_saved_png_carries_nodeflow_and_comfyui_chunks(saved_png, registry, settings):
    chunks = read_text_chunks(saved_png.read_bytes())
    assert set(chunks) >= {"nodeflow", "prompt", "workflow"}
    assert parse_workflow(chunks["nodeflow"]).nodes["sample"].inputs["steps"] == 2
    prompt = json.loads(chunks["prompt"])
    assert prompt["sample"]["class_type"] == "KSampler"
    drawing = json.loads(chunks["workflow"])
    assert {n["type"] for n in drawing["nodes"]} >= {"KSampler", "SaveImage"}
    for key in ("prompt", "workflow"):
        assert import_workflow(json.loads(chunks[key]), registry, settings).problems == []


def test_a_png_saved_by_nodeflow_runs(saved_png, home, tmp_path, capsys):
    assert main(["run", str(saved_png), "--base-dir", str(home), "--output-dir",
                 str(tmp_path)]) == 0
    [path] = capsys.readouterr().out.split()
    assert path.endswith(".png")


@pytest.mark.parametrize("keep", ["workflow", "prompt"])
def test_a_png_with_only_comfyui_chunks_runs(keep, saved_png, home, tmp_path, capsys):
    chunks = read_text_chunks(saved_png.read_bytes())
    info = PngImagePlugin.PngInfo()
    info.add_text(keep, chunks[keep])
    comfy_png = tmp_path / "from-comfyui.png"
    Image.open(saved_png).save(comfy_png, pnginfo=info)
    assert main(["run", str(comfy_png), "--base-dir", str(home), "--output-dir",
                 str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith(".png")
    out = tmp_path / "imported.json"
    assert main(["import", str(comfy_png), "-o", str(out), "--base-dir", str(home)]) == 0
    assert f"the PNG's {keep} chunk" in capsys.readouterr().err


def test_a_comfyui_png_with_unmapped_nodes_names_them(saved_png, home, tmp_path, capsys):
    prompt = json.loads(read_text_chunks(saved_png.read_bytes())["prompt"])
    prompt["up"] = {"class_type": "PhotoMakerEncode",
                    "inputs": {"photomaker": ["ldr", 0], "image": ["decode", 0]}}
    prompt["ldr"] = {"class_type": "PhotoMakerLoader",
                     "inputs": {"photomaker_model_name": "x.bin"}}
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    comfy_png = tmp_path / "unmapped.png"
    Image.open(saved_png).save(comfy_png, pnginfo=info)
    assert main(["run", str(comfy_png), "--base-dir", str(home)]) == 1
    err = capsys.readouterr().err
    assert "node 'up': ComfyUI node type 'PhotoMakerEncode' has no nodeflow" in err
    assert "node 'ldr'" in err and "Traceback" not in err


def test_workflows_that_do_not_map_save_only_the_nodeflow_chunk(executor, settings):
    data = txt2img()
    data["nodes"]["sample"]["inputs"]["seed"] = 11  # not the cached run of saved_png
    data["nodes"]["show"] = {"type": "ShowValue",
                             "inputs": {"value": {"node": "latent", "output": "latent"}}}
    result = executor.run(parse_workflow(data))
    assert result.status == "success", result.error
    [item] = result.outputs["save"]["images"]
    chunks = read_text_chunks((settings.output_dir / item["filename"]).read_bytes())
    assert set(chunks) == {"nodeflow"}


def test_modes_export_as_comfyui_saves_them_and_import_back(registry, settings):
    data = txt2img()
    data["nodes"]["hires"] = {"type": "LatentUpscaleBy", "mode": "bypass",
                              "inputs": {"latent": {"node": "sample", "output": "latent"}}}
    data["nodes"]["decode"]["inputs"]["latent"] = {"node": "hires", "output": "latent"}
    data["nodes"]["spare"] = {"type": "SaveImage", "mode": "mute",
                              "inputs": {"images": {"node": "decode", "output": "image"}}}
    workflow = parse_workflow(data)
    drawing, problems = export_ui(workflow, registry)
    assert problems == []
    modes = {n["properties"]["Node name for S&R"]: n["mode"] for n in drawing["nodes"]}
    assert modes["LatentUpscaleBy"] == 4 and sorted(modes.values()).count(2) == 1
    back = import_workflow(drawing, registry, settings)
    assert sorted(spec.mode or "" for spec in back.workflow.nodes.values()) == \
        [""] * 7 + ["bypass", "mute"]
    # the API format has no modes: ComfyUI queues what is left once they are resolved
    prompt, problems = export_api(workflow, registry)
    assert problems == [] and not {"hires", "spare"} & set(prompt)
    assert prompt["decode"]["inputs"]["samples"] == ["sample", 0]
