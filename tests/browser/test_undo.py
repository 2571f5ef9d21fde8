"""Undo and redo (Ctrl+Z, Ctrl+Shift+Z, Ctrl+Y) of every kind of edit, made with the pointer
and keyboard as a user makes it."""
from __future__ import annotations

from .helpers import (
    add_by_search,
    open_file,
    canvas_point,
    connect,
    drag,
    menu_entry,
    node_types,
    type_value,
    widget_point,
    workflow,
)


def graph(page) -> dict:
    doc = workflow(page)
    doc.get("ui", {}).pop("view", None)
    return doc


def of_type(page, node_type: str) -> str:
    return next(n for n, t in node_types(page).items() if t == node_type)


def add_node(page):
    add_by_search(page, "primitiveint", "PrimitiveInt", canvas_point(page, 0.1, 0.85))


def move(page):
    start = widget_point(page, of_type(page, "VAEDecode"))
    drag(page, start, (start[0] + 60, start[1] + 140))


def change_value(page):
    type_value(page, of_type(page, "KSampler"), "steps", "9")


def relink(page):
    connect(page, of_type(page, "TextEncode"), "conditioning", of_type(page, "KSampler"),
            "negative")


def delete(page):
    page.mouse.click(*widget_point(page, of_type(page, "EmptyLatent")))
    page.keyboard.press("Delete")


def collapse(page):
    page.mouse.click(*widget_point(page, of_type(page, "VAEDecode")), button="right")
    menu_entry(page, "Collapse (Alt+C)").click()


def group(page):
    page.mouse.click(*canvas_point(page, 0.4, 0.9), button="right")
    menu_entry(page, "Add Group").click()


def copy_paste(page):
    page.mouse.click(*widget_point(page, of_type(page, "KSampler")))
    page.keyboard.press("Control+c")
    page.mouse.move(*canvas_point(page, 0.6, 0.85))
    page.keyboard.press("Control+v")


def resize(page):
    node = of_type(page, "SaveImage")
    corner = page.evaluate(f"nodeflow.editor.cornerPoint({node!r})")
    drag(page, (corner["x"], corner["y"]), (corner["x"] + 80, corner["y"] + 60))


EDITS = [add_node, move, change_value, relink, delete, collapse, group, copy_paste, resize]


def test_undo_and_redo_of_each_kind_of_edit(editor):
    page = editor
    for edit in EDITS:
        before = graph(page)
        edit(page)
        page.wait_for_timeout(50)
        after = graph(page)
        assert after != before, f"{edit.__name__} changed nothing"
        page.keyboard.press("Control+z")
        assert graph(page) == before, f"undo of {edit.__name__}"
        page.keyboard.press("Control+Shift+z" if edit.__name__ < "m" else "Control+y")
        assert graph(page) == after, f"redo of {edit.__name__}"
    page.get_by_role("button", name="Undo").click()
    assert graph(page) != after
    page.get_by_role("button", name="Redo").click()
    assert graph(page) == after


def test_redo_after_undoing_a_link_change(editor):
    page = editor
    sample, positive = of_type(page, "KSampler"), of_type(page, "TextEncode")
    before = graph(page)
    connect(page, positive, "conditioning", sample, "negative")
    relinked = graph(page)
    assert relinked != before
    page.keyboard.press("Control+z")
    assert graph(page) == before
    page.keyboard.press("Control+Shift+z")
    assert graph(page) == relinked
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert graph(page) == relinked


def test_dragging_a_number_is_one_undo_step(editor):
    page = editor
    sample = of_type(page, "KSampler")
    steps = workflow(page)["nodes"][sample]["inputs"]["steps"]
    x, y = widget_point(page, sample, "steps")
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(6, 120, 6):
        page.mouse.move(x + dx, y)
    page.mouse.up()
    dragged = workflow(page)["nodes"][sample]["inputs"]["steps"]
    assert dragged > steps + 1
    page.keyboard.press("Control+z")
    assert workflow(page)["nodes"][sample]["inputs"]["steps"] == steps


def test_clear_new_and_open_can_be_undone(editor):
    page = editor
    sample = of_type(page, "KSampler")
    type_value(page, sample, "steps", "9")
    mine = graph(page)
    page.get_by_role("button", name="Clear", exact=True).click()
    assert workflow(page)["nodes"] == {}
    page.keyboard.press("Control+z")
    assert graph(page) == mine
    page.get_by_role("button", name="New").click()
    page.wait_for_function(f"nodeflow.currentWorkflow().nodes[{sample!r}]?.inputs.steps === 20")
    page.keyboard.press("Control+z")
    assert graph(page) == mine
    open_file(page, {"nodeflow": 1, "nodes": {}}, "empty.json")
    assert workflow(page)["nodes"] == {}
    page.keyboard.press("Control+z")
    assert graph(page) == mine
