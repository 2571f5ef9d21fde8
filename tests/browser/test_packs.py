"""Node packs in the editor: packs that failed to load are listed, packs' editor extensions
load and draw, and with `serve --dev` an edited custom node reaches the open editor."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from .conftest import running_server
from .helpers import open_file

HOT = '''from nodeflow import Field, node


@node(category="hot")
def HotNode(x: int = Field({default}, ge=0, le=100)) -> int:
    """A node whose default the test edits."""
    return x
'''


def write(path, text: str, bump: int) -> None:
    path.write_text(text)
    stamp = path.stat().st_mtime + bump
    os.utime(path, (stamp, stamp))


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("dev-home")
    custom = base / "custom_nodes"
    custom.mkdir()
    write(custom / "hot.py", HOT.format(default=1), 0)
    write(custom / "broken.py", "raise RuntimeError('pack init failed')\n", 0)
    with running_server(base, dev=True, reload_interval_s=0.2) as url:
        yield url, custom


def test_failures_extensions_and_hot_reload(browser, dev_server):
    url, custom = dev_server
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")

    button = page.locator("#pack-errors")
    expect(button).to_have_text("1 node pack failed")
    button.click()
    expect(page.locator("#pack-errors-list")).to_contain_text(
        "broken (" + str(custom / "broken.py") + "): RuntimeError: pack init failed")

    extensions = page.evaluate("nodeflow.extensions")
    assert "/extensions/image_filters/color-preview.js" in extensions
    open_file(page, {"nodeflow": 1, "nodes": {
        "c": {"type": "ColorAdjust", "inputs": {"saturation": 0}, "ui": {"pos": [100, 100]}},
        "h": {"type": "HotNode", "ui": {"pos": [500, 100]}}}}, "packs.json")
    page.wait_for_function("(globalThis.nodeflowColorPreviewDrawn ?? 0) > 0")

    assert page.evaluate("nodeflow.editor.schemas.HotNode.inputs[0].default") == 1
    write(custom / "hot.py", HOT.format(default=5), 2)
    write(custom / "broken.py", "x = 1\n", 2)
    expect(page.locator(".toast", has_text="node definitions reloaded")).to_be_visible(
        timeout=15000)
    assert page.evaluate("nodeflow.editor.schemas.HotNode.inputs[0].default") == 5
    expect(button).to_be_hidden()
    assert set(page.evaluate("Object.keys(nodeflow.currentWorkflow().nodes)")) == {"c", "h"}
    assert errors == []
    context.close()
