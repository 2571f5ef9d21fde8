"""A ComfyUI pack's editor extension (tests/comfy/packs/test_pack_core/web/who.js) in
nodeflow's editor: its init and setup hooks, the widgets it adds (a DOM widget taking over an
input, a number widget of its own) saved in the workflow, reopened and passed to the node, and
its api.addEventListener listeners hearing the pack's own message, "executed" and "progress"."""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from .conftest import comfy_pack_server
from .helpers import downloaded, open_file, settle, type_value, open_editor

PACK = Path(__file__).resolve().parents[1] / "comfy" / "packs" / "test_pack_core"

FLOW = {"nodeflow": 1, "name": "who", "nodes": {
    "n": {"type": "PrimitiveInt", "inputs": {"value": 5}, "ui": {"pos": [40, 120]}},
    "who": {"type": "WhoRuns", "inputs": {"count": {"node": "n", "output": "int"},
                                          "label": "from file"},
            "ui": {"pos": [380, 100], "size": [320, 160]}}}}


@pytest.fixture(scope="module")
def core_server(tmp_path_factory):
    with comfy_pack_server(tmp_path_factory, PACK) as url:
        yield url


def widget_value(page, node: str, name: str):
    return page.evaluate(f"nodeflow.editor.nodeById({node!r}).widgets"
                         f".find((w) => w.name === {name!r}).value")


def wait_for_run(page, timeout: float = 60.0) -> dict:
    """Queue with Ctrl+Enter and wait for the run's entry in the server's history."""
    before = set(page.request.get(urljoin(page.url, "/history")).json())
    page.keyboard.press("Control+Enter")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = page.request.get(urljoin(page.url, "/history")).json()
        new = [item for key, item in history.items() if key not in before
               and item.get("status", {}).get("completed")]
        if new:
            return new[0]
        page.wait_for_timeout(200)
    raise AssertionError("the run did not finish")


def test_extension_widgets_are_saved_reopened_and_passed(browser, core_server):
    page = open_editor(browser, core_server)
    # init ran before setup, with the editor's graph there; setup saw every extension
    assert page.evaluate("globalThis.testcoreInit") == {"graph": True, "setupYet": False}
    assert "testcore.who" in page.evaluate("globalThis.testcoreSetup.extensions")

    open_file(page, FLOW, "who.json")
    field = page.locator("input.testcore-label")
    expect(field).to_have_count(1)
    expect(field).to_be_visible()
    expect(field).to_have_value("from file")  # the DOM widget took over the label input
    assert widget_value(page, "who", "zoom") == 2
    field.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("hello")
    type_value(page, "who", "zoom", "7")
    settle(page)

    saved = downloaded(page)
    who = saved["nodes"]["who"]
    assert who["inputs"]["label"] == "hello"  # an input: saved as the input's value
    assert who["ui"]["widgets"] == {"zoom": 7}  # no input: kept by name in the node's ui

    run = wait_for_run(page)
    assert run["status"]["status_str"] == "success", run["status"]
    assert run["outputs"]["who"]["text"] == ["hello:5:WhoRuns"]  # the value reached the node
    page.wait_for_function("globalThis.testcoreHeard.some(([kind]) => kind === 'who')")
    heard = page.evaluate("globalThis.testcoreHeard")
    said = next(data for kind, data in heard if kind == "who")
    client = page.evaluate("sessionStorage.getItem('nodeflow.clientId')")
    assert said["label"] == "hello" and said["count"] == 5 and said["client"] == client
    assert said["node"] == "who" and said["class_type"] == "WhoRuns"
    assert any(kind == "executed" and data["node"] == "who" for kind, data in heard)
    assert any(kind == "progress" and data["node"] == "who" and data["value"] == 2
               and data["max"] == 2 for kind, data in heard)

    # another graph, then the saved file again: both values come back
    open_file(page, {**FLOW, "nodes": {"n": FLOW["nodes"]["n"]}}, "other.json")
    expect(field).to_have_count(0)  # the node went, and its DOM widget with it
    open_file(page, saved, "saved.json")
    expect(field).to_have_count(1)
    expect(field).to_have_value("hello")
    assert widget_value(page, "who", "zoom") == 7
    # values imported from a ComfyUI file come unnamed (ui.comfy_widgets): they fill the
    # extension's widgets in order, and are saved by name from then on
    imported = {**FLOW, "nodes": {**FLOW["nodes"], "who": {
        **FLOW["nodes"]["who"], "ui": {"pos": [380, 100], "comfy_widgets": [4]}}}}
    open_file(page, imported, "imported.json")
    assert widget_value(page, "who", "zoom") == 4
    type_value(page, "who", "zoom", "5")
    again = downloaded(page)["nodes"]["who"]["ui"]
    assert again["widgets"] == {"zoom": 5} and "comfy_widgets" not in again
    assert page.errors == []
    page.context.close()
