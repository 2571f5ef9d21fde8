"""The remaining routes: node schemas, files, saved workflows, models, system, OpenAPI, editor."""
from __future__ import annotations

import re
import sys

import aiohttp
import pytest

from nodeflow.server.app import ROUTE_TABLES

from .conftest import png_bytes, queue, txt2img, wait_done

pytestmark = pytest.mark.asyncio


async def test_object_info_has_comfyui_shape(client):
    info = await (await client.get("/object_info")).json()
    sampler = info["KSampler"]
    assert sampler["input"]["required"]["model"] == ["MODEL", {}]
    assert sampler["input"]["required"]["seed"] == ["INT", {
        "default": 0, "min": 0, "max": 2**64 - 1, "control_after_generate": True}]
    assert sampler["input"]["required"]["sampler"][0] == ["euler", "euler_ancestral", "dpmpp_2m"]
    assert sampler["input"]["required"]["sampler"][1] == {"default": "euler"}
    assert sampler["input_order"]["required"][:4] == ["model", "positive", "negative", "latent"]
    assert sampler["output"] == ["LATENT"] and sampler["output_name"] == ["latent"]
    assert sampler["output_is_list"] == [False]
    assert sampler["name"] == "KSampler" and sampler["category"] == "sampling"
    assert sampler["output_node"] is False and sampler["python_module"] == "nodes"
    assert sampler["nodeflow"]["version"] == "1.0.0"
    loader = info["CheckpointLoader"]
    assert loader["input"]["required"]["checkpoint"] == [["tiny.safetensors"], {}]
    assert loader["output"] == ["MODEL", "CLIP", "VAE"]
    assert loader["output_name"] == ["model", "clip", "vae"]
    assert info["TextEncode"]["input"]["required"]["text"] == [
        "STRING", {"default": "", "multiline": True}]
    assert info["SaveImage"]["output_node"] is True and info["SaveImage"]["output"] == []


async def test_object_info_for_one_type(client):
    body = await (await client.get("/object_info/EmptyLatent")).json()
    assert list(body) == ["EmptyLatent"]
    assert body["EmptyLatent"]["input"]["required"]["width"] == [
        "INT", {"default": 512, "min": 16, "max": 8192, "step": 8}]
    assert (await (await client.get("/object_info/NoSuchNode")).json()) == {}


async def test_nodeflow_object_info_lists_pack_failures(client):
    body = await (await client.get("/nodeflow/object_info")).json()
    assert "KSampler" in body["nodes"]
    assert body["packs"][0]["name"] == "stubs"
    assert body["errors"] == [{"pack": "broken_pack", "origin": "custom_nodes/broken_pack.py",
                               "reason": "ImportError: No module named 'nope' "
                                         "(at broken_pack.py:1)"}]


async def test_view_serves_outputs_and_inputs(client, settings):
    prompt_id = await queue(client, txt2img())
    image = (await wait_done(client, prompt_id))["outputs"]["save"]["images"][0]
    response = await client.get("/view", params=image)
    assert response.status == 200 and response.headers["Content-Type"] == "image/png"
    assert await response.read() == (settings.output_dir / image["filename"]).read_bytes()
    settings.input_dir.mkdir(parents=True)
    (settings.input_dir / "sub").mkdir()
    (settings.input_dir / "sub" / "in.jpg").write_bytes(png_bytes(fmt="JPEG"))
    response = await client.get("/view?filename=in.jpg&type=input&subfolder=sub")
    assert response.headers["Content-Type"] == "image/jpeg"
    response = await client.get("/view?filename=in.jpg [input]&subfolder=sub")
    assert response.status == 200
    assert (await client.get("/view?filename=nope.png")).status == 404
    assert (await client.get("/view")).status == 400
    assert (await client.get("/view?filename=a.png&type=models")).status == 400


async def test_upload_image_stores_renames_and_overwrites(client, settings):
    def form(data, **fields):
        body = aiohttp.FormData()
        body.add_field("image", data, filename="cat.png", content_type="image/png")
        for key, value in fields.items():
            body.add_field(key, value)
        return body

    first = await (await client.post("/upload/image", data=form(png_bytes()))).json()
    assert first == {"name": "cat.png", "subfolder": "", "type": "input"}
    same = await (await client.post("/upload/image", data=form(png_bytes()))).json()
    assert same["name"] == "cat.png"  # identical bytes: the existing file is reused
    other = png_bytes(color=(200, 0, 0))
    renamed = await (await client.post("/upload/image", data=form(other))).json()
    assert renamed["name"] == "cat (1).png"
    replaced = await (await client.post("/upload/image", data=form(other, overwrite="true"))
                      ).json()
    assert replaced["name"] == "cat.png"
    assert (settings.input_dir / "cat.png").read_bytes() == other
    into = await (await client.post("/upload/image", data=form(png_bytes(), type="temp",
                                                               subfolder="masks"))).json()
    assert into == {"name": "cat.png", "subfolder": "masks", "type": "temp"}
    assert (settings.temp_dir / "masks" / "cat.png").is_file()
    missing = await client.post("/upload/image", data=aiohttp.FormData({"type": "input"}))
    assert missing.status == 400


async def test_uploaded_image_feeds_a_comfyui_load_image(client):
    body = aiohttp.FormData()
    body.add_field("image", png_bytes(), filename="in.png", content_type="image/png")
    name = (await (await client.post("/upload/image", data=body)).json())["name"]
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name, "upload": "image"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    entry = await wait_done(client, await queue(client, prompt))
    assert entry["outputs"]["2"]["images"][0]["type"] == "temp"


async def test_saved_workflows_crud(client, settings):
    assert (await (await client.get("/workflows")).json()) == {"workflows": []}
    response = await client.put("/workflows/portraits/txt2img", json=txt2img())
    assert response.status == 201
    assert (await response.json()) == {"name": "portraits/txt2img.json"}
    assert (await client.put("/workflows/portraits/txt2img.json", json=txt2img(seed=4))
            ).status == 200
    assert (await (await client.get("/workflows")).json()) == {
        "workflows": ["portraits/txt2img.json"]}
    response = await client.get("/workflows/portraits/txt2img")
    assert response.headers["Content-Type"] == "application/json"
    assert (await response.json())["nodes"]["sample"]["inputs"]["seed"] == 4
    saved = (settings.workflows_dir / "portraits" / "txt2img.json").read_text()
    assert saved.endswith("}\n") and saved.startswith('{\n  "nodeflow": 1')
    bad = await client.put("/workflows/bad", json={"nodes": {}})
    assert bad.status == 400 and (await bad.json())["error"]["type"] == "invalid_workflow"
    placeholder = {"nodeflow": 1, "nodes": {"x": {"type": "NotInstalled"}}}
    assert (await client.put("/workflows/placeholder", json=placeholder)).status == 201
    assert (await client.delete("/workflows/portraits/txt2img")).status == 200
    assert (await client.get("/workflows/portraits/txt2img")).status == 404
    assert (await client.delete("/workflows/portraits/txt2img")).status == 404


async def test_models_lists_files_by_kind(client, settings):
    loras = settings.model_dir("loras")
    (loras / "styles").mkdir(parents=True)
    (loras / "styles" / "ink.safetensors").write_bytes(b"x")
    (loras / "notes.txt").write_text("not a model")
    assert (await (await client.get("/models")).json())[:3] == ["checkpoints", "vae", "loras"]
    # the names nodes take: the user's files, then what ships (the built-in checkpoint first)
    assert (await (await client.get("/models/checkpoints")).json()) == ["nodeflow-tiny", "tiny.safetensors"]
    assert (await (await client.get("/models/loras")).json()) == ["styles/ink.safetensors",
                                                                  "nodeflow-tiny-bold.safetensors"]
    assert (await (await client.get("/models/vae")).json()) == []
    assert (await client.get("/models/../etc")).status == 404
    assert (await client.get("/models/embeddings")).status == 200  # ComfyUI's model kinds
    assert (await client.get("/models/no-such-kind")).status == 404


async def test_system_stats(client):
    body = await (await client.get("/system_stats")).json()
    assert {"os", "python_version", "ram_total", "ram_free", "pytorch_version",
            "embedded_python", "argv"} <= set(body["system"])
    assert body["system"]["ram_total"] > 0
    assert body["devices"][0]["type"] in ("cpu", "cuda")


async def test_system_stats_reports_cuda_once_a_run_initialised_it(client, monkeypatch):
    from types import SimpleNamespace

    cuda = SimpleNamespace(is_initialized=lambda: True, device_count=lambda: 1,
                           mem_get_info=lambda i: (30, 80), get_device_name=lambda i: "H200",
                           memory_reserved=lambda i: 10, memory_allocated=lambda i: 4)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    body = await (await client.get("/system_stats")).json()
    assert body["system"]["pytorch_loaded"] is True
    assert body["devices"] == [{"name": "H200", "type": "cuda", "index": 0, "vram_total": 80,
                                "vram_free": 30, "torch_vram_total": 10,
                                "torch_vram_free": 6}]


async def test_openapi_describes_every_route(client):
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    registered = set()
    for resource in client.app.router.resources():
        canonical = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", resource.canonical)
        if canonical.startswith("/api/"):
            canonical = canonical[4:]
        for route in resource:
            if route.method != "HEAD":
                registered.add((route.method, canonical))
    assert registered == documented
    assert ("POST", "/prompt") in documented and ("GET", "/ws") in documented
    for table in ROUTE_TABLES:
        for route in table.routes:
            for schema in [route.body] + [s for _, s in route.responses.values()]:
                if schema not in (None, "multipart"):
                    assert schema in document["components"]["schemas"], schema


async def test_editor_index_and_static_files(aiohttp_client, make_app, tmp_path):
    missing = await aiohttp_client(make_app(web_dir=tmp_path / "no_web"))
    response = await missing.get("/")
    assert response.status == 404 and "not installed" in await response.text()
    web_dir = tmp_path / "web"
    (web_dir / "js").mkdir(parents=True)
    (web_dir / "index.html").write_text("<!doctype html><title>editor</title>")
    (web_dir / "js" / "app.js").write_text("export const x = 1;")
    (web_dir / "style.css").write_text("body {}")
    (tmp_path / "private.txt").write_text("secret")
    client = await aiohttp_client(make_app(web_dir=web_dir))
    response = await client.get("/")
    assert response.status == 200 and "editor" in await response.text()
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    response = await client.get("/js/app.js")
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (await client.get("/style.css")).headers["Content-Type"].startswith("text/css")
    assert (await client.get("/js/missing.js")).status == 404
    assert (await client.get("/%2e%2e/private.txt")).status == 404
    assert (await client.get("/js/..%2F..%2Fprivate.txt")).status == 404
