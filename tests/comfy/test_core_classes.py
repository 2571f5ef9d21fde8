"""ComfyUI's core classes (``nodes.KSampler``, ...) called and subclassed by a pack
(tests/comfy/packs/test_pack_core), its routes added through PromptServer.instance.app, what
it reads about the running prompt, forceInput and DYNPROMPT, and the ComfyUI chunks that
nodeflow's SaveImage writes for workflows with pack nodes."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import cli, home_with, live_server_class

PACK = Path(__file__).with_name("packs") / "test_pack_core"


@pytest.fixture
def base(tmp_path) -> Path:
    return home_with(tmp_path, PACK)


def test_core_classes_run_and_savedimage_carries_comfy_chunks(base, tmp_path):
    prompt = {
        "1": {"class_type": "TinyPicture", "inputs": {"ckpt_name": "nodeflow-tiny",
                                                     "text": "a seven", "seed": 3}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                    "filename_prefix": "core"}},
        "3": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nodeflow-tiny"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["3", 1], "text": "a two"}},
        "5": {"class_type": "QuietKSampler", "inputs": {
            "model": ["3", 0], "positive": ["4", 0], "negative": ["4", 0],
            "latent_image": ["1", 1], "seed": 1, "steps": 30, "cfg": 3.0,
            "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0, "steps_cap": 2}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["3", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0],
                                                    "filename_prefix": "capped"}}}
    (tmp_path / "prompt.json").write_text(json.dumps(prompt))
    out = tmp_path / "out"
    done = cli(base, "run", str(tmp_path / "prompt.json"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    from PIL import Image
    picture = Image.open(out / "core_00001.png")
    assert picture.size == (16, 16)  # nodeflow-tiny's VAE, decoded through nodes.VAEDecode
    capped = Image.open(out / "capped_00001.png")
    # nodeflow's SaveImage wrote ComfyUI's chunks for a workflow of pack and core nodes
    comfy_prompt = json.loads(capped.text["prompt"])
    assert comfy_prompt["5"]["class_type"] == "QuietKSampler"
    assert comfy_prompt["5"]["inputs"]["steps_cap"] == 2
    assert comfy_prompt["3"]["class_type"] == "CheckpointLoaderSimple"
    workflow = json.loads(capped.text["workflow"])
    assert {n["type"] for n in workflow["nodes"]} >= {"TinyPicture", "QuietKSampler",
                                                      "SaveImage", "VAEDecode"}
    quiet = next(n for n in workflow["nodes"] if n["type"] == "QuietKSampler")
    assert quiet["widgets_values"][-1] == 2  # the subclass's own widget, after ComfyUI's
    # the PNG runs again (nodeflow reads ComfyUI's chunks too)
    done = cli(base, "run", str(out / "capped_00001.png"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr


def test_core_classes_in_process(base):
    import torch

    from nodeflow.comfy.export import export_ui
    from nodeflow.comfy.api_format import convert_api_prompt
    from nodeflow.comfy_compat.missing import MissingComfyAPI
    from nodeflow.errors import NodeError
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow

    registry = load_registry(Settings.from_args(base))
    import nodes

    mappings = nodes.NODE_CLASS_MAPPINGS
    assert {"KSampler", "KSamplerAdvanced", "VAEDecode", "LoraLoader", "ImageToMask",
            "SaveImage", "TinyPicture", "QuietKSampler"} <= set(mappings)
    assert "GLIGENLoader" not in mappings  # not backed: packs that check see it missing
    with pytest.raises(MissingComfyAPI, match="nodes.GLIGENLoader"):
        nodes.GLIGENLoader()
    assert nodes.KSamplerAdvanced.FUNCTION == "sample"
    declared = nodes.KSamplerAdvanced.INPUT_TYPES()["required"]
    assert list(declared)[:3] == ["model", "add_noise", "noise_seed"]
    assert declared["add_noise"] == (["enable", "disable"], {"default": "enable"})
    assert nodes.KSampler.RETURN_TYPES == ("LATENT",)
    assert nodes.CheckpointLoaderSimple.RETURN_TYPES == ("MODEL", "CLIP", "VAE")
    # values cross in ComfyUI's shapes, in ComfyUI's output order
    latent = {"samples": torch.ones(1, 4, 4, 4), "batch_index": [0]}
    (bigger,) = nodes.LatentUpscaleBy().upscale(latent, "nearest-exact", 2.0)
    assert isinstance(bigger, dict) and bigger["samples"].shape == (1, 4, 8, 8)
    image, mask = nodes.ImagePadForOutpaint().expand_image(torch.zeros(1, 4, 4, 3), 2, 0, 0,
                                                           0, 0)
    assert image.shape == (1, 4, 6, 3) and mask.shape == (1, 4, 6)
    (mask,) = nodes.NODE_CLASS_MAPPINGS["SolidMask"]().solid(0.5, 3, 2)
    assert mask.shape == (1, 2, 3)
    # a user's mistake is a NodeError naming the class and the input
    with pytest.raises(NodeError, match="nodes.LatentUpscale: crop='center' is not supported"):
        nodes.LatentUpscale().upscale(latent, "bilinear", 64, 64, "center")
    with pytest.raises(NodeError, match="nodes.LatentUpscaleBy: input 'scale_by'"):
        nodes.LatentUpscaleBy().upscale(latent, "bilinear", 99.0)
    with pytest.raises(TypeError, match="missing 'scale_by'"):
        nodes.LatentUpscaleBy().upscale(latent, "bilinear")
    with pytest.raises(NodeError, match="nodes.ConditioningZeroOut: input 'conditioning': a "
                                        "conditioning needs at least one entry"):
        nodes.ConditioningZeroOut().zero_out([])

    # forceInput: a socket, required, with no widget in ComfyUI's editor format
    who = registry.get("WhoRuns").schema()
    count = next(i for i in who["inputs"] if i["name"] == "count")
    assert count["widget"] == "socket" and count["required"] is True
    from nodeflow.comfy.object_view import comfy_object_info
    viewed = comfy_object_info(registry, Settings.from_args(base))["WhoRuns"]["input"]
    assert viewed["required"]["count"][1].get("forceInput") is True  # ComfyUI's editor too
    flow, problems = convert_api_prompt({
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                           "batch_size": 3}},
        "2": {"class_type": "WhoRuns", "inputs": {"count": 2, "label": "x"}}}, registry)
    assert problems == []
    ui, problems = export_ui(parse_workflow(flow), registry)
    assert problems == []
    assert next(n for n in ui["nodes"] if n["type"] == "WhoRuns")["widgets_values"] == ["x"]
    # widgets a pack's editor extension added: after the node's own in widgets_values, and
    # back (unnamed, as ComfyUI keeps them) in ui.comfy_widgets for the editor to restore
    flow["nodes"]["2"]["ui"] = {"widgets": {"zoom": 7, "mood": "calm"}}
    ui, problems = export_ui(parse_workflow(flow), registry)
    assert problems == []
    assert next(n for n in ui["nodes"] if n["type"] == "WhoRuns")["widgets_values"] == [
        "x", 7, "calm"]
    from nodeflow.comfy.ui_format import convert_ui_workflow
    back, problems, notes = convert_ui_workflow(ui, registry)
    assert problems == [] and not any("ignored" in n for n in notes)
    who_back = next(n for n in back["nodes"].values() if n["type"] == "WhoRuns")
    assert who_back["ui"]["comfy_widgets"] == [7, "calm"]
    assert who_back["inputs"]["label"] == "x"
    again, problems = export_ui(parse_workflow(back), registry)
    assert next(n for n in again["nodes"] if n["type"] == "WhoRuns")["widgets_values"] == [
        "x", 7, "calm"]
    # an output a pack returns as None: what it feeds does not run, the rest does
    from nodeflow.engine.executor import Executor
    maybe = parse_workflow({"nodeflow": 1, "nodes": {
        "m": {"type": "MaybeImage", "inputs": {"count": 4}},
        "show": {"type": "ShowValue", "inputs": {"value": {"node": "m", "output": "INT"}}},
        "save": {"type": "SaveImage", "inputs": {"images": {"node": "m", "output": "IMAGE"}}}}})
    result = Executor(registry, Settings.from_args(base)).run(maybe)
    assert result.status == "success", result.error
    assert result.outputs == {"show": {"text": ["4"]}}  # SaveImage was blocked: no images
    from nodeflow.engine.validate import validate
    missing = parse_workflow({"nodeflow": 1, "nodes": {"w": {"type": "WhoRuns",
                                                             "inputs": {"label": "x"}}}})
    assert [p.input for p in validate(missing, registry)] == ["count"]


def test_server_routes_through_app_and_what_a_node_reads(base):
    live = live_server_class()(base).start()
    try:
        with urllib.request.urlopen(f"{live.url}/testcore/queue") as res:
            assert json.loads(res.read()) == {"running": 0, "pending": 0}
        with urllib.request.urlopen(f"{live.url}/testcore/files/hello.txt") as res:
            assert res.read().decode().strip() == "served by a pack's static route"
        body = json.dumps({"say": "hi"}).encode()
        post = urllib.request.Request(f"{live.url}/testcore/echo", data=body, method="POST",
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post) as res:
            assert json.loads(res.read()) == {"echo": "hi"}
        evil = urllib.request.Request(f"{live.url}/testcore/echo", data=body, method="POST",
                                      headers={"Content-Type": "application/json",
                                               "Origin": "http://evil.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(evil)
        assert err.value.code == 403  # the Origin rule covers routes added through .app
        said = asyncio.run(_who_runs(live.url))
        assert said["class_type"] == "WhoRuns" and said["count"] == 5
        assert said["client"] == "core-client" and said["node"] == "2"
        assert said["running"] == 1 and said["prompt_id"] == said["expected_prompt_id"]
        # send_sync(BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, [fmt, image, size]): a preview
        # frame as ComfyUI sends it (event 1, then the encoded image)
        assert len(said["frames"]) == 1 and said["frames"][0][:4] == b"\x00\x00\x00\x01"
    finally:
        live.stop()


async def _who_runs(url: str) -> dict:
    import aiohttp

    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
              "2": {"class_type": "WhoRuns", "inputs": {"count": ["1", 0], "label": "w"}}}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/ws?clientId=core-client") as ws:
            async with session.post(f"{url}/prompt", json={"prompt": prompt,
                                                           "client_id": "core-client"}) as res:
                assert res.status == 200, await res.text()
                prompt_id = (await res.json())["prompt_id"]
            said, frames = None, []
            while True:
                msg = await asyncio.wait_for(ws.receive(), 60)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    frames.append(msg.data)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                assert data["type"] != "execution_error", data
                if data["type"] == "testcore.who":
                    said = data["data"]
                if data["type"] == "execution_success":
                    break
    return {**said, "expected_prompt_id": prompt_id, "frames": frames}
