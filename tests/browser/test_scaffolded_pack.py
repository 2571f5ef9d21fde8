"""The pack `nodeflow new-pack` writes, pip-installed editable as its README says, in a real
`nodeflow serve` process and the editor: its route, validate hook, node menu entry, sidebar
panel and message handler, by mouse and keyboard."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.server.editable import editable_pack, make_venv
from tests.server.live import Live

from .helpers import click_on, inputs, menu_entry, open_file, right_click_node, type_value


@pytest.fixture
def scaffolded_server(tmp_path):
    python = make_venv(tmp_path / "venv")
    editable_pack("nf-browser-probe", tmp_path, python)
    server = Live(tmp_path / "base", python=str(python))
    server.start()
    yield server
    server.stop()


def test_the_scaffolded_pack_in_the_editor(browser, scaffolded_server):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(scaffolded_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    open_file(page, {"nodeflow": 1, "nodes": {
        "r": {"type": "NfBrowserProbeRepeat", "inputs": {"text": "abc" * 50, "repeat": 2},
              "ui": {"pos": [150, 120]}},
        "show": {"type": "ShowValue", "inputs": {"value": {"node": "r", "output": "string"}},
                 "ui": {"pos": [600, 120]}}}}, "probe.json")

    right_click_node(page, "r")
    menu_entry(page, "Repeat once more").click()
    page.wait_for_function("nodeflow.currentWorkflow().nodes.r.inputs.repeat === 3")

    click_on(page, page.get_by_role("button", name="nf-browser-probe"))
    expect(page.locator("#ext-nf_browser_probe")).to_have_text("nf-browser-probe 0.1.0")

    page.keyboard.press("Control+Enter")
    expect(page.locator(".toast", has_text="node r repeated its text 3 times")).to_be_visible(
        timeout=30000)

    # the validate hook: 100 repeats of 150 characters are refused before the run
    type_value(page, "r", "repeat", "100")
    assert inputs(page, "r")["repeat"] == 100
    page.keyboard.press("Control+Enter")
    expect(page.locator(".toast.error", has_text="longer than 10000 characters").or_(
        page.get_by_text("longer than 10000 characters"))).to_be_visible(timeout=30000)
    assert errors == []
    context.close()
