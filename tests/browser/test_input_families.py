"""A growing input family in the editor (``**value: int``): connecting the last slot adds the
next one, the links are saved by member name, and a reopened file gets its slots back. By
mouse only (the file is opened with the Open button and its file chooser)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import running_server
from .helpers import canvas_point, connect, downloaded, drag, open_file, point, open_editor

PACK = '''from nodeflow import node


@node(category="test", output=True)
def Collect(*, ctx, **value: int) -> None:
    """Reports every connected value_N."""
    ctx.report(text=[",".join(str(v) for v in value.values())])
'''

DOC = {"nodeflow": 1, "nodes": {
    "a": {"type": "PrimitiveInt", "inputs": {"value": 1}, "ui": {"pos": [60, 80]}},
    "b": {"type": "PrimitiveInt", "inputs": {"value": 2}, "ui": {"pos": [60, 260]}},
    "c": {"type": "Collect", "ui": {"pos": [520, 140]}}}}


@pytest.fixture
def family_server(tmp_path):
    (tmp_path / "custom_nodes").mkdir()
    (tmp_path / "custom_nodes" / "collect.py").write_text(PACK)
    with running_server(tmp_path) as url:
        yield url


def slots(page, node: str) -> list[str]:
    return page.evaluate(f"nodeflow.editor.nodeById('{node}').inputs.map((i) => i.name)")


def test_a_family_grows_as_it_is_connected_and_is_saved(browser, family_server):
    page = open_editor(browser, family_server)
    open_file(page, DOC, "family.json")
    assert slots(page, "c") == ["value_1"]

    connect(page, "a", "int", "c", "value_1")
    page.wait_for_function("nodeflow.editor.nodeById('c').inputs.length === 2")
    assert slots(page, "c") == ["value_1", "value_2"]
    connect(page, "b", "int", "c", "value_2")
    page.wait_for_function("nodeflow.editor.nodeById('c').inputs.length === 3")
    assert slots(page, "c") == ["value_1", "value_2", "value_3"]

    saved = downloaded(page)
    assert saved["nodes"]["c"]["inputs"] == {"value_1": {"node": "a", "output": "int"},
                                             "value_2": {"node": "b", "output": "int"}}
    open_file(page, {"nodeflow": 1, "nodes": {}}, "empty.json")
    open_file(page, saved, "family-again.json")
    page.wait_for_function("nodeflow.editor.nodeById('c').inputs.length === 3")
    assert slots(page, "c") == ["value_1", "value_2", "value_3"]
    assert page.evaluate("nodeflow.currentWorkflow().nodes.c.inputs") == saved["nodes"]["c"][
        "inputs"]

    # taking the last link off again leaves one free slot at the end
    drag(page, point(page, "nodeflow.editor.slotPoint('c', 'value_2', true)"),
         canvas_point(page, 0.5, 0.75))
    page.keyboard.press("Escape")  # the search a dropped link opens
    page.wait_for_function("nodeflow.editor.nodeById('c').inputs.length === 2")
    assert slots(page, "c") == ["value_1", "value_2"]
    assert page.evaluate("nodeflow.currentWorkflow().nodes.c.inputs") == {
        "value_1": {"node": "a", "output": "int"}}
    connect(page, "b", "int", "c", "value_2")
    page.wait_for_function("nodeflow.editor.nodeById('c').inputs.length === 3")

    page.keyboard.press("Control+Enter")
    history = None
    for _ in range(100):
        history = page.request.get(family_server + "/history").json()
        done = [h for h in history.values() if h.get("status", {}).get("completed")]
        if done:
            break
        page.wait_for_timeout(200)
    assert done and done[0]["outputs"]["c"]["text"] == ["1,2"]
    expect(page.locator(".toast.error")).to_have_count(0)
    assert page.errors == []
    page.context.close()
