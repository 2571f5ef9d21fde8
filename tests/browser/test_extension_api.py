"""A pack's editor extension using the extension API (a node menu entry, a sidebar panel,
node type and node created hooks, messages from ``ctx.send``), and ``serve --dev`` bringing
an edited pack (Python and JavaScript) into the open editor. By mouse and keyboard only."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from .conftest import running_server
from .helpers import (add_by_search, canvas_point, click_on, empty_point, inputs, menu_entry,
                      open_editor, open_file, right_click_node)

NODES = '''from nodeflow import node


@node(category="hot", output=True)
def HotWeb(x: int = {default}, *, ctx) -> int:
    """A node whose extension the test drives."""
    ctx.send("hotweb.ran", {{"x": x}})
    return x
'''

SCRIPT = '''const seen = new Set();

export function setup(nodeflow) {
  nodeflow.onNodeTypeRegistered((type) => {
    seen.add(type);
    if (type === "HotWeb") globalThis.hotTypeCalls = (globalThis.hotTypeCalls ?? 0) + 1;
  });
  nodeflow.onNodeCreated((node) => {
    globalThis.hotCreated = [...(globalThis.hotCreated ?? []), node.type];
  });
  nodeflow.addNodeMenuItem({
    label: "Double x (VERSION)", types: ["HotWeb"],
    callback: (node) => node.setValue("x", node.values.x * 2),
  });
  nodeflow.addSidebarPanel({
    id: "hot", title: "Hot panel",
    render: (element) => {
      element.textContent = seen.has("HotWeb") ? "HotWeb is registered" : "no HotWeb";
    },
  });
  nodeflow.onMessage("hotweb.ran", (data) => nodeflow.notify(`hot web ran with ${data.x}`));
}
'''


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat().st_mtime if path.exists() else 0
    path.write_text(text)
    if old:
        os.utime(path, (old + 2, old + 2))


@pytest.fixture
def hot_pack(tmp_path):
    pack = tmp_path / "custom_nodes" / "hotweb"
    write(pack / "__init__.py", NODES.format(default=3))
    write(pack / "web" / "hot.js", SCRIPT.replace("VERSION", "v1"))
    with running_server(tmp_path, dev=True, reload_interval_s=0.2) as url:
        yield url, pack


def test_extension_api_and_dev_reload_in_the_editor(browser, hot_pack):
    url, pack = hot_pack
    page = open_editor(browser, url)
    open_file(page, {"nodeflow": 1, "nodes": {
        "w": {"type": "HotWeb", "inputs": {"x": 3}, "ui": {"pos": [200, 150]}}}}, "hot.json")
    assert "HotWeb" in page.evaluate("globalThis.hotCreated")
    assert page.evaluate("globalThis.hotTypeCalls") == 1

    # the extension's context-menu entry acts on the node (an edit like the user's)
    right_click_node(page, "w")
    menu_entry(page, "Double x (v1)").click()
    page.wait_for_function("nodeflow.currentWorkflow().nodes.w.inputs.x === 6")

    # its sidebar panel, from a toolbar button; it saw the node type registered
    click_on(page, page.get_by_role("button", name="Hot panel"))
    expect(page.locator("#ext-hot")).to_have_text("HotWeb is registered")

    # ctx.send in the node reaches the extension's onMessage
    page.mouse.click(*empty_point(page))
    page.keyboard.press("Control+Enter")
    expect(page.locator(".toast", has_text="hot web ran with 6")).to_be_visible(timeout=30000)

    # serve --dev: the pack's Python and its script change; the editor takes both
    write(pack / "__init__.py", NODES.format(default=4))
    write(pack / "web" / "hot.js", SCRIPT.replace("VERSION", "v2"))
    expect(page.locator(".toast", has_text="node definitions reloaded")).to_be_visible(
        timeout=20000)
    assert page.evaluate("globalThis.hotTypeCalls") == 2  # once by the new script, not the old
    right_click_node(page, "w")
    expect(menu_entry(page, "Double x (v2)")).to_be_visible()
    expect(page.locator(".litecontextmenu .litemenu-entry", has_text="Double x")).to_have_count(1)
    page.keyboard.press("Escape")
    page.mouse.click(*empty_point(page))
    expect(page.locator(".litecontextmenu")).to_have_count(0)
    expect(page.get_by_role("button", name="Hot panel")).to_have_count(1)
    expect(page.locator("#ext-hot")).to_have_text("HotWeb is registered")  # still open
    added = add_by_search(page, "Hot Web", "HotWeb", canvas_point(page, 0.2, 0.6))
    assert inputs(page, added)["x"] == 4
    assert page.errors == []
    page.context.close()
