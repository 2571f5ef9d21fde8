"""ComfyUI's own frontend (comfyui-frontend-package) on `nodeflow serve --frontend comfyui`,
driven as a user drives it: pointer and keyboard only. page.evaluate only reads the
frontend's state (node positions to aim at, what a node shows).

One server and one page for the module: the frontend takes seconds to start on small machines.
The tests run on whichever frontend is installed: the extra's pinned 1.27.10, and in CI also
the newest supported one (1.58.1, installed into its own folder that PYTHONPATH puts first).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from .conftest import TINY_CHECKPOINT, running_server

frontend = pytest.importorskip("comfyui_frontend_package") if os.environ.get(
    "CI", "").lower() != "true" else __import__("comfyui_frontend_package")

PACK_EXTENSION = """
import { app } from "../../scripts/app.js";
app.registerExtension({
  name: "test.ComfyPackExtension",
  async setup() { window.comfyPackExtensionLoaded = typeof app.registerExtension; },
});
"""
SAVED_NAME = "frontend-saved"
BROKEN_CHECKPOINT = "broken.safetensors"
NODEFLOW_PROMPT = "a red handwritten digit seven on a blue background"  # workflows/txt2img.json


@pytest.fixture(scope="module")
def comfy_base(base_dir, tmp_path_factory) -> Path:
    """A user folder of its own: the tiny checkpoint, a returning user's settings (so the
    frontend opens its default graph, not the first-visit template browser), and a pack in
    custom_nodes/ whose web/ folder holds a ComfyUI-style extension."""
    base = tmp_path_factory.mktemp("comfyui-home")
    shutil.copytree(base_dir / "models", base / "models")
    user = base / "user" / "default"
    user.mkdir(parents=True)
    (user / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    pack = base / "custom_nodes" / "comfy_ext_pack"
    (pack / "web").mkdir(parents=True)
    (pack / "__init__.py").write_text('WEB_DIRECTORY = "web"\n')
    (pack / "web" / "marker.js").write_text(PACK_EXTENSION)
    # a file named like a checkpoint that is not one: loading it fails while the prompt runs
    (base / "models" / "checkpoints" / BROKEN_CHECKPOINT).write_bytes(b"not a checkpoint")
    return base


@pytest.fixture(scope="module")
def comfy_server(comfy_base):
    with running_server(comfy_base, frontend="comfyui") as url:
        yield url


@pytest.fixture(scope="module")
def comfy_page(browser, comfy_server):
    context = browser.new_context(viewport={"width": 1800, "height": 900})  # the whole graph
    page = context.new_page()
    page.problems = []
    page.failed_reads = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda m: page.problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: page.failed_reads.append((r.request.method, r.url))
            if r.status >= 400 else None)
    page.outside = []  # offline is the normal case: nothing may be asked of another server
    page.on("request", lambda r: page.outside.append(r.url)
            if not r.url.startswith((comfy_server, "data:", "blob:")) else None)
    page.frames_received = []  # what the server says on the websocket, as the page gets it
    page.on("websocket", lambda ws: ws.on("framereceived",
                                          lambda frame: page.frames_received.append(frame)))
    page.goto(comfy_server + "/")
    page.wait_for_function("window.app?.graph?.nodes?.length > 0", timeout=60_000)
    yield page
    context.close()


def problems(page) -> list[str]:
    """The page's errors. A 404 on reading the user folder is ComfyUI's answer for a file
    or folder that is not there yet (the frontend asks, then creates them); the console
    reports each one, so they are let through when every failed request was such a read."""
    userdata_reads = all(method == "GET" and "/api/userdata" in url
                         for method, url in page.failed_reads)
    return [p for p in page.problems
            if not (userdata_reads and "status of 404" in p)]


def nodes(page) -> list[dict]:
    return page.evaluate("""() => app.graph.nodes.map((n) => ({
        id: n.id, type: n.type,
        widgets: Object.fromEntries((n.widgets ?? []).map((w) => [w.name, w.value])),
        images: (n.imgs ?? []).map((img) => [img.naturalWidth, img.naturalHeight]),
    }))""")


def node_of(page, node_type: str) -> dict:
    return next(n for n in nodes(page) if n["type"] == node_type)


def frontend_version(page) -> tuple[int, ...]:
    return tuple(int(p) for p in page.evaluate("window.__COMFYUI_FRONTEND_VERSION__")
                 .split(".")[:2])


def node_id(page, node_type: str) -> str:
    return str(page.evaluate("(t) => app.graph.nodes.find((n) => n.type === t).id", node_type))


def title_point(page, node_type: str) -> tuple[float, float]:
    """The middle of a node's title bar on the screen."""
    return tuple(page.evaluate("""(type) => {
        const canvas = app.canvas;
        const node = app.graph.nodes.find((n) => n.type === type);
        const rect = canvas.canvas.getBoundingClientRect();
        const [ox, oy] = canvas.ds.offset;
        const scale = canvas.ds.scale;
        const x = node.pos[0] + node.size[0] / 2, y = node.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2;
        return [rect.left + (x + ox) * scale, rect.top + (y + oy) * scale];
    }""", node_type))


def ws_messages(page) -> list[dict]:
    return [json.loads(f) for f in page.frames_received if isinstance(f, str)]


def wait_for_message(page, kind: str, timeout: float = 90.0, **data) -> dict:
    """The first websocket message of ``kind`` whose data has ``data`` (pumping the page's
    events while it waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in ws_messages(page):
            if message["type"] == kind and all(message["data"].get(k) == v
                                               for k, v in data.items()):
                return message
        page.wait_for_timeout(100)
    raise AssertionError(f"no {kind} message {data} within {timeout} s")


def widget_point(page, node_type: str, widget: str, fx: float = 0.5) -> tuple[float, float]:
    """Where a node's widget is on the screen (read from the canvas' own layout)."""
    return tuple(page.evaluate("""([type, name, fx]) => {
        const canvas = app.canvas;
        const node = app.graph.nodes.find((n) => n.type === type);
        const widget = node.widgets.find((w) => w.name === name);
        const rect = canvas.canvas.getBoundingClientRect();
        const [ox, oy] = canvas.ds.offset;
        const scale = canvas.ds.scale;
        const height = widget.computeSize?.(node.size[0])?.[1] ?? LiteGraph.NODE_WIDGET_HEIGHT;
        const x = node.pos[0] + node.size[0] * fx;
        const y = node.pos[1] + (widget.last_y ?? widget.y) + height / 2;
        return [rect.left + (x + ox) * scale, rect.top + (y + oy) * scale];
    }""", [node_type, widget, fx]))


def type_number(page, node_type: str, widget: str, value: int) -> None:
    """Click the middle of a number widget, which asks for a value, and type it."""
    page.mouse.click(*widget_point(page, node_type, widget))
    dialog = page.locator(".graphdialog input").first
    dialog.wait_for(state="visible", timeout=5000)
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([t, w, v]) => app.graph.nodes.find((n) => n.type === t).widgets"
        ".find((x) => x.name === w).value === v", arg=[node_type, widget, value], timeout=5000)


def pick_combo(page, node_type: str, widget: str, choice: str) -> None:
    page.mouse.click(*widget_point(page, node_type, widget))
    entry = page.locator(".litecontextmenu .litemenu-entry", has_text=choice).first
    entry.wait_for(state="visible", timeout=5000)
    box = entry.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "([t, w, v]) => app.graph.nodes.find((n) => n.type === t).widgets"
        ".find((x) => x.name === w).value === v", arg=[node_type, widget, choice], timeout=5000)


def click_button(page, text: str) -> None:
    button = page.get_by_role("button", name=text, exact=True).first
    button.wait_for(state="visible", timeout=5000)
    box = button.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def close_dialogs(page) -> None:
    """Click the close button of every dialog that shows (an error dialog covers the canvas)."""
    buttons = page.locator("[role=dialog] button[aria-label='Close']:visible")
    while buttons.count():
        box = buttons.first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(200)


def history(url: str) -> dict:
    with urlopen(url + "/api/history") as response:
        return json.load(response)


def test_boots_without_errors_and_opens_comfyuis_default_graph(comfy_page):
    page = comfy_page
    # 1.27 opens its own default graph; where the frontend's default needs nodes nodeflow
    # lacks (1.58: Z-Image Turbo), nodeflow's extension opens its txt2img, the same nodes
    types = sorted(n["type"] for n in nodes(page))
    assert types == sorted(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode",
                            "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"])
    ksampler = node_of(page, "KSampler")["widgets"]
    assert ksampler["sampler_name"] == "euler" and ksampler["scheduler"] == "normal"
    assert ksampler["control_after_generate"] in ("randomize", "fixed")
    prompts = {n["widgets"]["text"] for n in nodes(page) if n["type"] == "CLIPTextEncode"}
    nodeflows = NODEFLOW_PROMPT in prompts
    assert nodeflows == (frontend_version(page) >= (1, 58)), prompts
    assert problems(page) == []
    assert page.outside == []


def test_a_packs_web_extension_loads(comfy_page):
    # imported from /extensions/comfy_ext_pack/marker.js, registered, its setup() ran
    assert comfy_page.evaluate("window.comfyPackExtensionLoaded") == "function"
    names = comfy_page.evaluate("app.extensions.map((e) => e.name)")
    assert "test.ComfyPackExtension" in names and "nodeflow.ComfyUICompat" in names


def test_default_graph_runs_with_the_run_button(comfy_page, comfy_server):
    page = comfy_page
    pick_combo(page, "CheckpointLoaderSimple", "ckpt_name", TINY_CHECKPOINT)
    type_number(page, "EmptyLatentImage", "width", 64)
    type_number(page, "EmptyLatentImage", "height", 64)
    type_number(page, "KSampler", "steps", 3)
    before = set(history(comfy_server))
    click_button(page, "Run")
    page.wait_for_function(
        "app.graph.nodes.find((n) => n.type === 'SaveImage').imgs?.[0]?.naturalWidth > 0",
        timeout=90_000)
    assert node_of(page, "SaveImage")["images"] == [[64, 64]]
    # ComfyUI's messages on the way: node by node, step by step, with preview frames
    messages = ws_messages(page)
    kinds = [m["type"] for m in messages]
    assert {"execution_start", "executing", "progress", "executed",
            "execution_success"} <= set(kinds)
    sampler = node_id(page, "KSampler")
    assert {m["data"]["node"] for m in messages if m["type"] == "executing"} >= {
        sampler, node_id(page, "CheckpointLoaderSimple"), node_id(page, "VAEDecode"),
        node_id(page, "SaveImage"), None}
    steps = [m["data"] for m in messages if m["type"] == "progress"
             and m["data"]["node"] == sampler]
    assert steps[-1]["value"] == steps[-1]["max"] == 3
    assert any(isinstance(f, bytes) for f in page.frames_received)  # previews
    runs = {k: v for k, v in history(comfy_server).items() if k not in before}
    assert len(runs) == 1
    run = next(iter(runs.values()))
    assert run["status"]["status_str"] == "success"
    (saved,) = [image for output in run["outputs"].values() for image in output["images"]]
    assert saved["type"] == "output"
    assert problems(page) == []


def test_saved_workflow_reopens_and_runs_from_the_command_line(comfy_page, comfy_server,
                                                                comfy_base, tmp_path):
    page = comfy_page
    page.mouse.click(700, 120)  # the canvas has the focus, not a widget
    page.keyboard.press("Control+s")
    name_box = page.locator("[role=dialog] input:visible").first
    name_box.wait_for(state="visible", timeout=5000)
    page.keyboard.press("Control+A")
    page.keyboard.type(SAVED_NAME)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and f"workflows%2F{SAVED_NAME}" in r.url) as stored:
        page.keyboard.press("Enter")
    stored.value.finished()  # done before the reload below, which would cut it off
    saved = comfy_base / "user" / "default" / "workflows" / f"{SAVED_NAME}.json"
    page.wait_for_function("(name) => document.title.includes(name)", arg=SAVED_NAME,
                           timeout=10_000)
    assert saved.is_file()
    editor_format = json.loads(saved.read_text())
    assert {n["type"] for n in editor_format["nodes"]} >= {"KSampler", "SaveImage"}

    page.reload()
    page.wait_for_function("window.app?.graph?.nodes?.length > 0", timeout=60_000)
    page.wait_for_function("(name) => document.title.includes(name)", arg=SAVED_NAME,
                           timeout=10_000)
    latent = node_of(page, "EmptyLatentImage")["widgets"]
    assert (latent["width"], latent["height"]) == (64, 64)
    assert node_of(page, "CheckpointLoaderSimple")["widgets"]["ckpt_name"] == TINY_CHECKPOINT
    # the file on disk is what the frontend saved, byte for byte
    with urlopen(f"{comfy_server}/api/userdata/workflows%2F{SAVED_NAME}.json") as response:
        assert response.read() == saved.read_bytes()

    copy = comfy_base / "workflows" / "comfyui" / f"{SAVED_NAME}.json"
    assert json.loads(copy.read_text())["nodeflow"] == 1
    out = tmp_path / "out"
    for path in (saved, copy):  # the editor-format file itself, and its nodeflow copy
        done = subprocess.run(
            [sys.executable, "-m", "nodeflow", "run", str(path), "--base-dir", str(comfy_base),
             "--output-dir", str(out)], capture_output=True, text=True, timeout=120,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.png"))) == 2
    assert problems(page) == []
    assert page.outside == []


def test_cancel_button_stops_the_running_prompt(comfy_page, comfy_server):
    page = comfy_page
    type_number(page, "KSampler", "steps", 1000)  # the most it takes
    before = set(history(comfy_server))
    page.frames_received.clear()
    click_button(page, "Run")
    sampler = node_id(page, "KSampler")
    wait_for_message(page, "progress", node=sampler)  # sampling has started
    click_button(page, "Cancel current run")
    stopped = wait_for_message(page, "execution_interrupted", timeout=30)
    assert stopped["data"]["node_id"] == sampler
    (run,) = [v for k, v in history(comfy_server).items() if k not in before]
    assert run["nodeflow"]["status"] == "interrupted"
    steps = [m["data"]["value"] for m in ws_messages(page) if m["type"] == "progress"
             and m["data"]["node"] == sampler]
    assert max(steps) < 1000
    type_number(page, "KSampler", "steps", 3)
    assert problems(page) == []


def test_an_execution_error_shows_on_its_node(comfy_page):
    page = comfy_page
    pick_combo(page, "CheckpointLoaderSimple", "ckpt_name", BROKEN_CHECKPOINT)
    page.frames_received.clear()
    click_button(page, "Run")
    loader = node_id(page, "CheckpointLoaderSimple")
    failed = wait_for_message(page, "execution_error")
    assert failed["data"]["node_id"] == loader
    assert failed["data"]["node_type"] == "CheckpointLoaderSimple"
    assert "not a readable safetensors file" in failed["data"]["exception_message"]
    # the frontend takes it as ComfyUI's: the node is the one marked, the message is shown
    page.wait_for_function("(id) => String(app.lastExecutionError?.node_id) === id", arg=loader,
                           timeout=10_000)
    if frontend_version(page) >= (1, 58):  # an error card naming the node by its title
        title = page.evaluate("(t) => app.graph.nodes.find((n) => n.type === t).title",
                              "CheckpointLoaderSimple")
        page.get_by_text(f"{title} failed").first.wait_for(timeout=10_000)
    else:  # a dialog with the node's type and the message
        page.get_by_text("not a readable safetensors file").first.wait_for(timeout=10_000)
    close_dialogs(page)
    pick_combo(page, "CheckpointLoaderSimple", "ckpt_name", TINY_CHECKPOINT)


def test_a_validation_error_marks_the_node_and_its_input(comfy_page):
    page = comfy_page
    page.mouse.click(*title_point(page, "EmptyLatentImage"))  # select it, then delete it
    page.keyboard.press("Delete")
    page.wait_for_function("!app.graph.nodes.some((n) => n.type === 'EmptyLatentImage')",
                           timeout=5000)
    sampler = node_id(page, "KSampler")
    click_button(page, "Run")
    # the 400 answer's node_errors, in ComfyUI's shape, names ComfyUI's input
    errors = page.wait_for_function("(id) => app.lastNodeErrors?.[id]", arg=sampler,
                                    timeout=30_000).json_value()
    assert errors["class_type"] == "KSampler"
    (error,) = errors["errors"]
    assert error["type"] == "required_input_missing"
    assert error["extra_info"]["input_name"] == "latent_image"
    if frontend_version(page) >= (1, 58):  # 1.27 draws the outline from lastNodeErrors
        assert page.evaluate("(id) => app.graph.getNodeById(id).has_errors", int(sampler))
    shown = "missing a required input: latent_image" if frontend_version(page) >= (1, 58) \
        else "missing required input"
    page.get_by_text(shown).first.wait_for(timeout=10_000)


def test_nodeflow_editor_stays_at_nodeflow(browser, comfy_server):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(comfy_server + "/nodeflow/")
        page.wait_for_function("Object.keys(window.nodeflow?.currentWorkflow?.()?.nodes ?? {})"
                               ".length > 0", timeout=30_000)
        types = {n["type"] for n in page.evaluate("nodeflow.currentWorkflow()")["nodes"].values()}
        assert {"CheckpointLoader", "KSampler", "SaveImage"} <= types  # nodeflow's own names
        assert errors == []
    finally:
        context.close()
