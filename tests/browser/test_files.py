"""Save, reload, open, download; drag-and-drop of a workflow .json and of a PNG that carries
one; a node type that is not installed kept as a placeholder with its values and links."""
from __future__ import annotations

import base64
import io
import json
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from .conftest import TINY_CHECKPOINT
from .helpers import node_types, type_value, workflow

DROP = """async ({name, data, type}) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  const canvas = document.getElementById("canvas");
  for (const kind of ["dragover", "drop"]) {
    canvas.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true,
                                              cancelable: true}));
  }
}"""


def python_text(doc: dict) -> str:
    """A workflow file as nodeflow writes it."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def drop(page, name: str, data: bytes, mime: str) -> None:
    page.evaluate(DROP, {"name": name, "data": base64.b64encode(data).decode(), "type": mime})


def shared_file() -> dict:
    link = lambda node, output: {"node": node, "output": output}
    return {
        "nodeflow": 1, "name": "shared", "description": "from a friend",
        "nodes": {
            "loader": {"type": "CheckpointLoader", "version": "1.0.0",
                       "inputs": {"checkpoint": TINY_CHECKPOINT},
                       "ui": {"pos": [10, 10]}},
            "prompt": {"type": "TextEncode", "version": "1.0.0", "inputs": {"clip": link("loader", "clip"),
                                                        "text": "a seven, écrit à la main"},
                       "ui": {"pos": [340, 10], "size": [400, 200], "title": "Prompt"}},
            "sampler": {"type": "KSampler", "version": "1.0.0", "inputs": {
                "model": link("loader", "model"), "positive": link("prompt", "conditioning"),
                "negative": link("prompt", "conditioning"), "latent": link("empty", "latent"),
                "seed": 5, "cfg": 7.0, "denoise": 1.0},
                "ui": {"pos": [800, 10], "collapsed": True}},
            "empty": {"type": "EmptyLatent", "version": "1.0.0", "inputs": {"width": 32, "height": 32},
                      "ui": {"pos": [340, 260]}},
        },
        "ui": {"groups": [{"title": "Inputs", "bounding": [0, -40, 640, 360],
                           "color": "#3f789e"}],
               "view": {"offset": [20.5, 60], "scale": 0.9}},
    }


def test_dropped_json_opens_and_downloads_unchanged(editor):
    page = editor
    text = python_text(shared_file())
    drop(page, "shared.json", text.encode(), "application/json")
    expect(page.locator("#name")).to_have_value("shared")
    assert node_types(page) == {"loader": "CheckpointLoader", "prompt": "TextEncode",
                                "sampler": "KSampler", "empty": "EmptyLatent"}
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    downloaded = Path(info.value.path()).read_text(encoding="utf-8")
    assert downloaded.splitlines() == text.splitlines()
    assert downloaded == text
    page.screenshot(path=str(_shot("dropped_json.png")))


def test_dropped_png_restores_its_workflow(editor):
    from PIL import Image, PngImagePlugin

    page = editor
    doc = shared_file()
    doc["name"] = "from an image"
    info = PngImagePlugin.PngInfo()
    info.add_text("nodeflow", json.dumps(doc))
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="PNG", pnginfo=info)
    drop(page, "result.png", buffer.getvalue(), "image/png")
    expect(page.locator("#name")).to_have_value("from an image")
    assert workflow(page)["nodes"] == json.loads(json.dumps(doc["nodes"]))


def test_save_reload_and_open(editor, server):
    page = editor
    sampler = next(n for n, t in node_types(page).items() if t == "KSampler")
    type_value(page, sampler, "steps", "7")
    page.locator("#name").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("my digits")
    page.locator("#name").press("Tab")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="saved my digits")).to_be_visible()
    with urllib.request.urlopen(server + "/workflows/my%20digits.json") as response:
        saved = json.load(response)
    assert saved["nodes"][sampler]["inputs"]["steps"] == 7
    assert saved["name"] == "my digits"
    assert saved["nodes"][sampler]["version"] == "1.0.0"

    page.reload()  # the graph survives a reload
    page.wait_for_selector("body[data-ready=true]")
    assert workflow(page)["nodes"][sampler]["inputs"]["steps"] == 7

    page.get_by_role("button", name="Clear", exact=True).click()
    assert workflow(page)["nodes"] == {}
    page.locator("[data-panel=workflows]").click()
    page.locator("#workflows").get_by_role("button", name="my digits", exact=True).click()
    expect(page.locator("#name")).to_have_value("my digits")
    assert workflow(page)["nodes"] == saved["nodes"]
    page.locator("[data-panel=workflows]").click()


def test_missing_node_type_is_a_placeholder_that_keeps_values_and_links(editor):
    page = editor
    doc = shared_file()
    doc["nodes"]["upscale"] = {"type": "FancyUpscaler", "version": "2.1.0",
                               "inputs": {"latent": {"node": "sampler", "output": "latent"},
                                          "factor": 1.5, "mode": "magic"},
                               "ui": {"pos": [700, 320]}}
    doc["nodes"]["decode"] = {"type": "VAEDecode", "version": "1.0.0", "inputs": {
        "latent": {"node": "upscale", "output": "upscaled"},
        "vae": {"node": "loader", "output": "vae"}}, "ui": {"pos": [1000, 320]}}
    doc["nodes"]["sampler"]["ui"]["collapsed"] = False
    drop(page, "needs-a-pack.json", python_text(doc).encode(), "application/json")
    expect(page.locator("#name")).to_have_value("shared")
    nodes = workflow(page)["nodes"]
    assert nodes["upscale"] == doc["nodes"]["upscale"]
    assert nodes["decode"]["inputs"]["latent"] == {"node": "upscale", "output": "upscaled"}
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("alert").first).to_contain_text("FancyUpscaler")
    assert page.evaluate("nodeflow.editor.errorsOf('upscale')")
    page.screenshot(path=str(_shot("placeholder.png")))


def _shot(name):
    from .test_build_and_run import _shot as shot
    return shot(name)


def test_dropped_comfyui_workflow_is_imported_with_its_warnings(editor):
    fixture = Path(__file__).parents[1] / "sharing" / "fixtures" / "comfyui-default-ui-1.json"
    drop(editor, "comfy.json", fixture.read_bytes(), "application/json")
    editor.wait_for_function("Object.keys(nodeflow.currentWorkflow().nodes).length >= 7")
    types = set(node_types(editor).values())
    assert {"CheckpointLoader", "TextEncode", "EmptyLatent", "KSampler", "VAEDecode",
            "SaveImage"} <= types
    expect(editor.locator(".toast.error").first).to_contain_text("v1-5-pruned-emaonly")
