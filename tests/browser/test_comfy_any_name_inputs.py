"""A LoRA-stack-shaped ComfyUI pack (tests/comfy/packs/test_pack_anyname) in nodeflow's editor:
rows its extension adds at a button's click (lora_1, lora_2, custom widgets saved through
serializeValue), a DOM widget and a socket no input declares, and a widget its
getCustomWidgets draws for the pack's own TEST_TINT type. The values are saved as the node's
inputs, reach the nodes when the workflow runs, and come back when the file is reopened."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import comfy_pack_server
from .helpers import connect, downloaded, open_file, settle, type_value, widget_point, open_editor
from .test_comfy_extension_widgets import wait_for_run

PACK = Path(__file__).resolve().parents[1] / "comfy" / "packs" / "test_pack_anyname"

FLOW = {"nodeflow": 1, "name": "loras", "nodes": {
    "n": {"type": "Count (Test)", "inputs": {"count": 4}, "ui": {"pos": [40, 320]}},
    "s": {"type": "LoRA Stack (Test)", "inputs": {"model_name": "sd"},
          "ui": {"pos": [420, 80], "size": [360, 200]}},
    "t": {"type": "Tint (Test)", "inputs": {}, "ui": {"pos": [40, 80], "size": [300, 80]}}}}


@pytest.fixture(scope="module")
def stack_server(tmp_path_factory):
    with comfy_pack_server(tmp_path_factory, PACK) as url:
        yield url


def widget_values(page, node: str) -> dict:
    return page.evaluate(f"Object.fromEntries(nodeflow.editor.nodeById({node!r}).widgets"
                         ".map((w) => [w.name, w.value]))")


def test_extension_rows_and_custom_type_widget_reach_the_nodes(browser, stack_server):
    page = open_editor(browser, stack_server)
    open_file(page, FLOW, "loras.json")

    for _ in range(2):  # the pack's button adds a row per click
        page.mouse.click(*widget_point(page, "s", "+ Add LoRA"))
        settle(page)
    page.mouse.click(*widget_point(page, "s", "lora_2"))  # a click turns the row off
    settle(page)
    field = page.locator("input.testanyname-tag")
    expect(field).to_be_visible()
    field.click()
    page.keyboard.type("night")
    connect(page, "n", "INT", "s", "bonus")  # a socket the extension added
    type_value(page, "t", "tint", "teal")  # the getCustomWidgets widget of TEST_TINT
    settle(page)

    saved = downloaded(page)
    stack = saved["nodes"]["s"]
    assert stack["inputs"] == {
        "model_name": "sd",
        "lora_1": {"on": True, "lora": "a.safetensors", "strength": 1.0},
        "lora_2": {"on": False, "lora": "a.safetensors", "strength": 1.0},
        "tag": "night", "bonus": {"node": "n", "output": "INT"}}  # "shown" left out
    assert "widgets" not in stack["ui"]  # inputs now, not layout
    assert saved["nodes"]["t"]["inputs"] == {"tint": "teal"}

    run = wait_for_run(page)
    assert run["status"]["status_str"] == "success", run["status"]
    text = run["outputs"]["s"]["text"]
    assert text[0] == "sd<a.safetensors@1>"  # lora_2 is off
    assert json.loads(text[1].removeprefix("received ")) == {
        "bonus": 40, "tag": "night",
        "lora_1": {"on": True, "lora": "a.safetensors", "strength": 1.0},
        "lora_2": {"on": False, "lora": "a.safetensors", "strength": 1.0}}
    assert run["outputs"]["t"]["text"] == ['tint="teal"']

    # another graph, then the saved file: onConfigure makes the rows again from the values
    open_file(page, {**FLOW, "nodes": {"n": FLOW["nodes"]["n"]}}, "other.json")
    open_file(page, saved, "saved.json")
    values = widget_values(page, "s")
    assert values["lora_1"]["on"] is True and values["lora_2"]["on"] is False
    assert values["tag"] == "night" and widget_values(page, "t")["tint"] == "teal"
    again = downloaded(page)
    assert again["nodes"] == saved["nodes"]

    # a file ComfyUI's editor wrote: the rows' values come without names, one per widget the
    # extension added (null for its button), after the node's own; the extension names them
    row = {"on": True, "lora": "b.safetensors", "strength": 0.5}
    open_file(page, comfy_file([None, "dawn", row, {**row, "on": False}]), "from_comfy.json")
    assert widget_values(page, "1")["lora_2"]["on"] is False
    imported = downloaded(page)["nodes"]["1"]
    assert imported["inputs"] == {"model_name": "xl", "scale": 1.0, "tag": "dawn",
                                  "lora_1": row, "lora_2": {**row, "on": False}}
    assert "comfy_widgets" not in imported["ui"]
    run = wait_for_run(page)
    assert run["outputs"]["1"]["text"][0] == "xl<b.safetensors@0.5>"
    assert page.errors == []
    page.context.close()


def comfy_file(extension_values: list) -> dict:
    """A ComfyUI editor-format workflow with one LoRA Stack (Test) node."""
    return {"last_node_id": 1, "last_link_id": 0, "links": [], "groups": [], "config": {},
            "extra": {}, "version": 0.4, "nodes": [{
                "id": 1, "type": "LoRA Stack (Test)", "pos": [300, 100], "size": [360, 220],
                "flags": {}, "order": 0, "mode": 0, "inputs": [],
                "outputs": [{"name": "summary", "type": "STRING", "links": None}],
                "properties": {}, "widgets_values": ["xl", 1.0, *extension_values]}]}
