"""POST /nodeflow/import (the editor's drop) and PUT /workflows stamping what a file needs."""
from __future__ import annotations

import io
import json

import pytest
import pytest_asyncio
from PIL import Image, PngImagePlugin

from nodeflow.comfy.export import export_api
from nodeflow.server import ServerConfig, create_app
from nodeflow.workflow import parse_workflow

from .conftest import FIXTURES, ROOT

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(aiohttp_client, settings, registry):
    return await aiohttp_client(create_app(settings, registry=registry, config=ServerConfig()))


async def test_import_takes_wrapped_json_and_raw_json(client):
    data = json.loads((FIXTURES / "comfyui-features-ui-0.4.json").read_text())
    for kwargs in ({"json": {"data": data}}, {"data": json.dumps(data).encode()}):
        response = await client.post("/nodeflow/import", **kwargs)
        assert response.status == 200
        body = await response.json()
        assert body["format"] == "comfyui-ui"
        assert body["workflow"]["nodes"]["3"]["inputs"]["seed"] == 42
        assert [(p["node"], p["kind"]) for p in body["problems"]] == [("14", "untranslatable")]
        assert body["workflow"]["nodes"]["15"]["mode"] == "mute"
    api = json.loads((FIXTURES / "comfyui-default-api.json").read_text())
    body = await (await client.post("/api/nodeflow/import", json={"data": api})).json()
    assert body["format"] == "comfyui-api"
    assert body["warnings"][0]["input"] == "checkpoint"


async def test_import_reads_pngs_and_nodeflow_files(client, registry):
    text = (ROOT / "workflows" / "txt2img.json").read_text()
    prompt, _ = export_api(parse_workflow(text), registry)
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    response = await client.post("/nodeflow/import", data=buffer.getvalue(),
                                 headers={"Content-Type": "image/png"})
    body = await response.json()
    assert response.status == 200 and body["format"] == "comfyui-api"
    assert set(body["workflow"]["nodes"]) == set(json.loads(text)["nodes"])
    body = await (await client.post("/nodeflow/import", data=text.encode())).json()
    assert body["format"] == "nodeflow" and body["problems"] == []


@pytest.mark.parametrize("payload, words", [
    (b'{"last_node_id": 3, "nodes": [', "not valid JSON"),
    (b'{"data": {"foo": 1}}', "not a known workflow format"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "truncated"),
])
async def test_import_refuses_what_is_not_a_workflow(client, payload, words):
    response = await client.post("/nodeflow/import", data=payload)
    assert response.status == 400
    body = await response.json()
    assert words in body["error"]["message"] and body["problems"]


async def test_saving_stamps_requires_and_node_versions(client, settings):
    data = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    for spec in data["nodes"].values():
        spec.pop("version", None)
    data.pop("requires")
    assert (await client.put("/workflows/shared", json=data)).status == 201
    saved = json.loads((settings.workflows_dir / "shared.json").read_text())
    assert saved["requires"]["nodeflow"].startswith(">=")
    assert {spec["version"] for spec in saved["nodes"].values()} == {"1.0.0"}
    again = await client.put("/workflows/shared", json=saved)
    assert again.status == 200
    assert json.loads((settings.workflows_dir / "shared.json").read_text()) == saved


async def test_the_import_route_is_documented(client):
    document = await (await client.get("/openapi.json")).json()
    assert "post" in document["paths"]["/nodeflow/import"]
