"""A ComfyUI pack in the editor: its node found by search with its ComfyUI display name and
widgets, and its WEB_DIRECTORY extension (app.registerExtension hooks) applied to the node."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import comfy_pack_server
from .helpers import add_by_search, canvas_point, choose, inputs, open_editor

PACKS = Path(__file__).resolve().parents[1] / "comfy" / "packs"


@pytest.fixture(scope="module")
def comfy_server(tmp_path_factory):
    packs = sorted(p for p in PACKS.iterdir() if p.is_dir())
    with comfy_pack_server(tmp_path_factory, *packs) as url:
        yield url


def test_pack_node_widgets_and_extension(browser, comfy_server):
    page = open_editor(browser, comfy_server)
    assert "/extensions/test_pack_v1/invert.js" in page.evaluate("nodeflow.extensions")

    node = add_by_search(page, "Invert Image", "Invert Image (Test)", canvas_point(page, .4, .4))
    read = f"nodeflow.editor.graph._nodes.find((n) => n.nf?.id === {node!r})"
    # the extension's beforeRegisterNodeDef wrapped onNodeCreated; nodeCreated set a property
    assert page.evaluate(f"{read}.title") == "🧪 Inverted by extension"
    assert page.evaluate(f"{read}.color") == "#335533"
    assert page.evaluate(f"{read}.properties.testpack") == "created"
    widgets = page.evaluate(f"{read}.widgets.map((w) => [w.name, w.value])")
    assert ["strength", 1.0] in widgets and ["mode", "invert"] in widgets
    assert ["note (pack widget)", "hi"] in widgets  # getCustomWidgets' factory for its type
    assert page.evaluate("globalThis.testpackSetupRan") >= 1  # setup ran
    choose(page, node, "mode", "keep")
    expect(page.locator("body")).to_be_visible()
    assert inputs(page, node)["mode"] == "keep"
    assert page.errors == []
    page.context.close()
