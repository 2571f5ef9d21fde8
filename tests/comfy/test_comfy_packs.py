"""ComfyUI packs (tests/comfy/packs, written for these tests) loaded and run by nodeflow:
through the CLI, in process, and through a real server's POST /prompt and pack routes."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import PACKS, ROOT, cli, home_with, live_server_class

PROMPT = Path(__file__).with_name("workflows") / "pack_api.json"


@pytest.fixture
def base(tmp_path) -> Path:
    return home_with(tmp_path)


def test_nodes_lists_comfy_packs_and_json_stays_valid(base):
    done = cli(base, "nodes", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # the pack's banner did not reach stdout
    v1 = next(p for p in data["packs"] if p["name"] == "test_pack_v1")
    assert v1["kind"] == "comfyui"
    assert "### Test Pack V1" in v1["import_output"]
    info = v1["comfyui"]
    assert info["classes"] == 15 and len(v1["nodes"]) == 13
    assert info["failed"]["SampleWithComfy"].startswith(
        "needs ComfyUI internals: comfy.samplers.KSampler.SAMPLERS")
    assert "this class is broken on purpose" in info["failed"]["BrokenNode"]
    assert info["missing_requirements"] == ["nodeflow-test-not-installed-package==1.0"]
    node = data["nodes"]["Invert Image (Test)"]
    assert node["display_name"] == "🧪 Invert Image"
    assert node["category"] == "test pack/image"
    assert [(i["name"], i.get("default"), i.get("choices")) for i in node["inputs"]] == [
        ("image", None, None), ("strength", 1.0, None), ("mode", "invert", ["invert", "keep"]),
        ("note", None, None)]
    assert node["inputs"][1]["min"] == 0.0 and node["inputs"][1]["step"] == 0.05
    assert [o["name"] for o in node["outputs"]] == ["inverted", "mask"]
    assert data["nodes"]["Brighten V3"]["display_name"] == "Brighten (V3)"
    text = cli(base, "nodes")
    assert data["nodes"]["NoiseWithComfy"]["comfy"]["needs_internals"] == [
        "comfy.sample", "comfy.sample.prepare_noise"]
    assert "needs_internals" not in data["nodes"]["ResizeTo+"]["comfy"]
    assert "test_pack_v1: 13 of 15 nodes loaded" in text.stdout
    assert "missing requirements (not installed automatically)" in text.stdout
    assert "###" not in text.stdout.split("ComfyUI packs:")[0]


def test_cli_runs_a_comfyui_api_prompt_through_pack_nodes(base, tmp_path):
    out = tmp_path / "out"
    done = cli(base, "run", str(PROMPT), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "8: red+green+blue" in lines  # OUTPUT_IS_LIST into INPUT_IS_LIST
    assert [l for l in lines if l.startswith("10: ")] == [
        "10: 10:ShowText:red", "10: 10:ShowText:green", "10: 10:ShowText:blue"]  # hidden inputs
    assert "11: 11:ShowText:red+green+blue" in lines  # lazy switch took 'a' (an output node)
    assert "5: 5 +0.5" in lines and "12: 2" in lines  # V3 nodes, one async
    assert "3/gb1.1 (Invert Image (Test))" in done.stderr  # GraphBuilder expansion ran
    from PIL import Image
    saved = Image.open(out / "pack_note_00001_.png")
    assert saved.size == (16, 12)  # ResizeTo+ (common_upscale, lanczos)
    assert json.loads(saved.text["note"]) == "hello"  # the SaveImage subclass's metadata
    assert json.loads(saved.text["prompt"])["6"]["class_type"] == "SaveWithNote"
    assert (out / "native_00001.png").is_file()  # nodeflow's SaveImage fed by a pack node


def test_in_process_values_isolation_and_validate_hook(base):
    import torch

    from nodeflow import WorkflowError
    from nodeflow.comfy.api_format import convert_api_prompt
    from nodeflow.engine.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow

    settings = Settings.from_args(base)
    registry = load_registry(settings)
    import nodes
    import nodes.sd.loaders  # nodeflow's own node folder still imports under the shim
    assert nodes.MAX_RESOLUTION == 16384 and "Invert Image (Test)" in nodes.NODE_CLASS_MAPPINGS
    assert callable(nodes.sd.loaders.model_names)
    # a [H,W] mask and a [B,H,W] image from a foreign node arrive strict
    grey = registry.get("GreyMask|test")
    mask, image = grey.fn(ctx=None, width=4, height=3, value=0.5)
    assert mask.shape == (1, 3, 4) and image.shape == (1, 3, 4, 3)
    assert grey.outputs_from_result((mask, image))  # nodeflow's strict checks pass
    # VALIDATE_INPUTS is the node's validate hook: a problem before anything runs
    prompt = {"1": {"class_type": "GreyMask|test", "inputs": {}},
              "2": {"class_type": "ResizeTo+", "inputs": {"image": ["1", 1], "width": 100,
                                                          "height": 100, "method": "bilinear"}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}
    flow, problems = convert_api_prompt(prompt, registry)
    assert problems == []
    with pytest.raises(WorkflowError) as err:
        Executor(registry, settings).run(parse_workflow(flow))
    assert [str(p) for p in err.value.problems] == [
        "node '2': 100x100 is too large for this test node"]
    # ComfyUI internals used at run time: a NodeError naming the API, not AttributeError
    import comfy.sd
    from nodeflow.comfy_compat.missing import MissingComfyAPI
    with pytest.raises(MissingComfyAPI, match="comfy.sd.load_checkpoint_guess_config"):
        comfy.sd.load_checkpoint_guess_config("x")
    assert torch.is_tensor(mask)


def test_native_validate_hook_ctx_send_and_extra():
    from nodeflow import Field, node
    from nodeflow.engine.executor import Executor
    from nodeflow.registry import PackInfo, Registry
    from nodeflow.workflow import parse_workflow

    def even_only(n: int = 0):
        return None if n % 2 == 0 else [f"n must be even, got {n}"]

    @node(output=True, validate=even_only)
    def Announce(n: int = Field(0), *, ctx) -> None:
        ctx.send("demo.announce", {"n": n, "node": ctx.node_id,
                                   "author": ctx.extra.get("author")})

    registry = Registry()
    registry.add_nodes([Announce], PackInfo("demo", "1.0.0", "test", "custom"))
    events = []
    flow = parse_workflow({"nodeflow": 1, "nodes": {"a": {"type": "Announce",
                                                          "inputs": {"n": 4}}}})
    Executor(registry).run(flow, listener=events.append, extra={"author": "me"})
    sent = [e.data for e in events if e.kind == "message"]
    assert sent == [{"event": "demo.announce", "data": {"n": 4, "node": "a", "author": "me"}}]
    from nodeflow.engine.validate import validate
    bad = parse_workflow({"nodeflow": 1, "nodes": {"a": {"type": "Announce", "inputs": {"n": 3}}}})
    assert [str(p) for p in validate(bad, registry)] == ["node 'a': n must be even, got 3"]


def test_server_prompt_routes_and_send_sync(base):
    live = live_server_class()(base).start()
    try:
        with urllib.request.urlopen(f"{live.url}/testpack/hello?name=pack") as res:
            assert json.loads(res.read())["hello"] == "pack"  # a ComfyUI pack route
        asyncio.run(_prompt_over_websocket(live.url))
        request = urllib.request.Request(f"{live.url}/testpack/hello", method="GET",
                                         headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == 403  # the server's Host rule applies to pack routes too
    finally:
        live.stop()


async def _prompt_over_websocket(url: str) -> None:
    import aiohttp

    prompt = {"1": {"class_type": "GreyMask|test", "inputs": {}},
              "2": {"class_type": "Invert Image (Test)", "inputs": {"image": ["1", 1]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/ws?clientId=c1") as ws:
            async with session.post(f"{url}/prompt", json={"prompt": prompt,
                                                           "client_id": "c1"}) as res:
                assert res.status == 200, await res.text()
            seen = []
            while "execution_success" not in seen:
                msg = await asyncio.wait_for(ws.receive(), 30)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    seen.append(data["type"])
                    if data["type"] == "testpack.inverted":
                        assert data["data"]["node"] == "2"
                        assert abs(data["data"]["mean"] - 0.75) < 1e-6
                    assert data["type"] != "execution_error", data
            assert "testpack.inverted" in seen


def test_editor_format_and_png_round_trip_keep_pack_names(base, tmp_path):
    from nodeflow.comfy.api_format import convert_api_prompt
    from nodeflow.comfy.export import export_api, export_ui
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow

    registry = load_registry(Settings.from_args(base))
    flow, problems = convert_api_prompt(json.loads(PROMPT.read_text()), registry)
    assert problems == []
    api, problems = export_api(parse_workflow(flow), registry)
    assert problems == [] and api["2"]["class_type"] == "Invert Image (Test)"
    assert api["2"]["inputs"] == {"image": ["1", 1], "strength": 1.0, "mode": "invert"}
    ui, problems = export_ui(parse_workflow(flow), registry)
    assert problems == []
    assert next(n for n in ui["nodes"] if n["type"] == "ResizeTo+")["widgets_values"] == [
        16, 12, "lanczos"]
    (tmp_path / "ui.json").write_text(json.dumps(ui))
    done = cli(base, "import", str(tmp_path / "ui.json"), "-o", str(tmp_path / "flow.json"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    done = cli(base, "run", str(tmp_path / "flow.json"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    assert "8: red+green+blue" in done.stdout.splitlines()
    # the PNG a pack's SaveImage subclass wrote carries ComfyUI's prompt: it runs again
    done = cli(base, "run", str(out / "pack_note_00001_.png"), "--output-dir", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "pack_note_00002_.png").is_file()


def test_custom_nodes_folder_from_extra_model_paths(tmp_path):
    comfy = tmp_path / "ComfyUI"
    shutil.copytree(PACKS / "test_pack_v3", comfy / "custom_nodes" / "test_pack_v3")
    home = tmp_path / "home"
    home.mkdir()
    (home / "extra_model_paths.json").write_text(json.dumps(
        {"comfyui": {"base_path": str(comfy), "custom_nodes": "custom_nodes"}}))
    data = json.loads(cli(home, "nodes", "--json").stdout)
    assert {"Brighten V3", "CountAsync"} <= set(data["nodes"])


def test_no_shim_without_comfy_packs_and_finder_claims_only_comfy_names(tmp_path):
    code = (
        "import sys, importlib.util\n"
        "from nodeflow.plugins import load_registry\n"
        "from nodeflow.settings import Settings\n"
        "load_registry(Settings.from_args(sys.argv[1]))\n"
        "print(sorted(n for n in ('folder_paths', 'comfy', 'server', 'comfy_api') "
        "if n in sys.modules), getattr(sys.modules.get('nodes'), '__nodeflow_shim__', False))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plain = subprocess.run([sys.executable, "-c", code, str(tmp_path / "plain")], env=env,
                           capture_output=True, text=True, timeout=60)
    assert plain.stdout.strip() == "[] False", plain.stderr
    from nodeflow.comfy_compat.missing import MissingFinder
    finder = MissingFinder()
    for name in ("torchvision", "diffusers", "comfyui_frontend_package", "nodes", "server"):
        assert finder.find_spec(name) is None
    assert finder.find_spec("comfy.sd") is not None and finder.find_spec("comfy_extras.x")


def test_bench_script_counts_classes_loaded_and_smoke_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "comfy_packs.py"), str(PACKS),
                           "--json", "--no-models"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {r["pack"]: r for r in json.loads(done.stdout)}
    assert (rows["test_pack_v1"]["found"], rows["test_pack_v1"]["loaded"],
            rows["test_pack_v1"]["ran"], rows["test_pack_v1"]["skipped"]) == (15, 13, 11, 1)
    assert rows["test_pack_v1"]["reasons"] == {
        "needs ComfyUI internals: comfy.samplers.KSampler.SAMPLERS": 1,
        "INPUT_TYPES() failed: RuntimeError: this class is broken on purpose": 1,
        "run: needs ComfyUI internals: comfy.sample.prepare_noise": 1}
    assert (rows["test_pack_v3"]["found"], rows["test_pack_v3"]["ran"]) == (2, 2)


def test_bench_on_pack_shaped_fixtures_with_the_tiny_model():
    """The numbers docs/custom-nodes.md reports for bench/comfy_pack_shapes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "comfy_packs.py"),
                           str(ROOT / "bench" / "comfy_pack_shapes"), "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {r["pack"]: (r["found"], r["loaded"], r["ran"], r["skipped"])
            for r in json.loads(done.stdout)}
    assert rows == {"shape_essentials": (9, 9, 9, 0), "shape_impact": (7, 6, 3, 2),
                    "shape_kj": (6, 6, 6, 0), "shape_lorastack": (3, 3, 2, 1),
                    "shape_rgthree": (3, 3, 3, 0),
                    "shape_v3": (3, 3, 3, 0), "shape_was": (5, 5, 3, 1)}


def test_latent_conditioning_blocking_and_internals_at_run_time(base):
    import torch

    from nodeflow.diffusion.conditioning import Conditioning
    from nodeflow.diffusion.latent import LatentBatch
    from nodeflow.engine.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow

    registry = load_registry(Settings.from_args(base))
    scale = registry.get("LatentScale")
    cond = Conditioning.single(torch.ones(1, 77, 8), torch.ones(1, 4), area=(8, 8, 0, 0))
    latent, conditioning = scale.fn(ctx=None, samples=LatentBatch(torch.ones(1, 4, 2, 2)),
                                    conditioning=cond, factor=2.0)
    assert isinstance(latent, LatentBatch) and float(latent.samples.sum()) == 32.0
    entry = conditioning.entries[0]
    assert float(entry.cond.mean()) == 2.0 and entry.pooled.shape == (1, 4)
    assert dict(entry.extra) == {"area": (8, 8, 0, 0), "strength": 2.0}
    assert scale.outputs_from_result((latent, conditioning))  # nodeflow's checks pass

    events = []
    blocked = parse_workflow({"nodeflow": 1, "nodes": {
        "b": {"type": "BlockIfNegative", "inputs": {"value": -1}},
        "s": {"type": "LazySwitch", "inputs": {"use_a": True,
                                               "a": {"node": "b", "output": "INT"},
                                               "b": {"node": "b", "output": "INT"}}},
        "t": {"type": "ShowText", "inputs": {"text": {"node": "s", "output": "*"}}}}})
    executor = Executor(registry, Settings.from_args(base))
    result = executor.run(blocked, listener=events.append)
    assert result.status == "success" and result.outputs.get("t", {}) == {}
    again = executor.run(blocked, listener=events.append)
    assert "b" in again.executed  # IS_CHANGED returned NaN: never from the cache

    deep = parse_workflow({"nodeflow": 1, "nodes": {
        "e": {"type": "EmptyLatent", "inputs": {"width": 64, "height": 64}},
        "n": {"type": "NoiseWithComfy", "inputs": {"latent": {"node": "e", "output": "latent"}}},
        "p": {"type": "ShowValue", "inputs": {"value": {"node": "n", "output": "LATENT"}}}}})
    failed = executor.run(deep)
    assert failed.status == "error"
    assert failed.error["message"].startswith(
        "needs ComfyUI internals: comfy.sample.prepare_noise is not provided by nodeflow")
    assert not failed.error.get("traceback")  # a NodeError: the user's message, no traceback


def test_folder_paths_core_nodes_and_cli_args(base):
    import numpy as np
    import torch
    from PIL import Image

    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    settings = Settings.from_args(base)
    (base / "models" / "loras" / "style").mkdir(parents=True)
    (base / "models" / "loras" / "style" / "ink.safetensors").write_bytes(b"x")
    (base / "models" / "loras" / "notes.txt").write_text("not a model")
    (base / "input").mkdir()
    rgba = np.zeros((6, 10, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba).save(base / "input" / "red.png")
    load_registry(settings)
    import comfy.cli_args
    import folder_paths
    import nodes

    assert folder_paths.get_folder_paths("loras")[0] == str(base / "models" / "loras")
    assert folder_paths.get_filename_list("loras") == ["style/ink.safetensors"]
    assert folder_paths.get_full_path("loras", "style/ink.safetensors") == str(
        (base / "models" / "loras" / "style" / "ink.safetensors").resolve())
    assert folder_paths.get_full_path("loras", "../../input/red.png") is None
    assert folder_paths.get_input_directory() == str(base / "input")
    assert comfy.cli_args.args.disable_metadata is False and comfy.cli_args.args.unknown is None
    assert "red.png" in nodes.LoadImage.INPUT_TYPES()["required"]["image"][0]
    image, mask = nodes.LoadImage().load_image("red.png")
    assert image.shape == (1, 6, 10, 3) and float(image[0, 0, 0, 0]) == 1.0
    assert mask.shape == (1, 6, 10) and abs(float(mask.mean()) - (1 - 128 / 255)) < 1e-6
    (scaled,) = nodes.ImageScale().upscale(image, "bilinear", 20, 0, "disabled")
    assert scaled.shape == (1, 12, 20, 3)
    (half,) = nodes.ImageScaleBy().upscale(torch.rand(2, 8, 8, 3), "lanczos", 0.5)
    assert half.shape == (2, 4, 4, 3)
    # combo choices are asked again, as ComfyUI re-reads INPUT_TYPES: a new file is a choice
    from nodeflow.engine.validate import validate
    from nodeflow.workflow import parse_workflow
    registry = load_registry(settings)
    (base / "input" / "later.png").write_bytes(b"x")
    flow = parse_workflow({"nodeflow": 1, "nodes": {
        "p": {"type": "PickInputFile", "inputs": {"file": "later.png"}},
        "s": {"type": "ShowValue", "inputs": {"value": {"node": "p", "output": "STRING"}}}}})
    assert validate(flow, registry, settings) == []
    assert registry.get("PickInputFile").schema(settings)["inputs"][0]["choices"] == [
        "later.png", "red.png"]


@pytest.mark.asyncio
async def test_a_closed_server_stops_taking_pack_messages(base, aiohttp_client):
    """send_sync from outside a node goes to the newest running server; one that has shut
    down is forgotten, so a process that makes many apps (tests, --dev) does not pile them up."""
    from nodeflow.comfy_compat import runtime
    from nodeflow.settings import Settings
    from nodeflow.plugins import load_registry
    from nodeflow.server import create_app

    before = (list(runtime.BROADCAST), list(runtime.SERVER))
    settings = Settings(base_dir=base)
    client = await aiohttp_client(create_app(settings, registry=load_registry(settings)))
    assert len(runtime.BROADCAST) == len(before[0]) + 1
    ws = await client.ws_connect("/ws?clientId=c1")
    runtime.send("testpack.hello", {"from": "a route"})
    async with asyncio.timeout(10):
        while (message := await ws.receive_json())["type"] != "testpack.hello":
            pass
    assert message["data"] == {"from": "a route"}
    await ws.close()
    await client.close()
    assert (runtime.BROADCAST, runtime.SERVER) == before


def test_packs_typed_with_comfy_types_and_v3_types_of_their_own(base, tmp_path):
    """comfy.comfy_types (IO, ComfyNodeABC), node_helpers, io.comfytype, io.MultiType and
    io.Video: what current packs import only to name types load and run."""
    from PIL import Image

    (base / "input").mkdir(parents=True)
    Image.new("RGB", (5, 3), (10, 20, 30)).save(base / "input" / "pixel.png")
    done = cli(base, "nodes", "--json")
    data = json.loads(done.stdout)
    pack = next(p for p in data["packs"] if p["name"] == "test_pack_typing")
    assert pack["comfyui"]["classes"] == 5 and len(pack["nodes"]) == 5, pack["comfyui"]
    assert data["nodes"]["Scale Number (Typing)"]["display_name"] == "Scale a number"
    assert [o["type"] for o in data["nodes"]["Scale Number (Typing)"]["outputs"]] == [
        "FLOAT", "STRING"]
    assert data["nodes"]["TicketPrint"]["inputs"][0]["type"] == "TICKET"
    run = cli(base, "run", str(PROMPT.with_name("typing_api.json")),
              "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "4: 1x6x8" in lines  # a MASK through the IMAGE-or-MASK input
    assert "9: 4*3.0" in lines  # an INT into the FLOAT-or-INT input
    assert "12: 1.5*2.0" in lines and "13: {'a': [1, 2]}" in lines  # literals, as in ComfyUI
    assert "7: 1x3x5x3" in lines  # node_helpers.pillow opened the input image


def test_node_helpers_conditioning_set_values_copies_the_options():
    from nodeflow.comfy_compat.comfy_types import IO, conditioning_set_values

    cond = [["tensor", {"pooled_output": 1}]]
    changed = conditioning_set_values(cond, {"strength": 0.5})
    assert changed == [["tensor", {"pooled_output": 1, "strength": 0.5}]]
    assert cond == [["tensor", {"pooled_output": 1}]]  # the input is left alone
    assert not (IO.NUMBER != "INT")  # ComfyUI: a NUMBER input takes an INT
    assert IO.IMAGE != "MASK" and not (IO.ANY != "LATENT") and str(IO.MASK) == "MASK"
