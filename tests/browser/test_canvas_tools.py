"""Everyday canvas tools as ComfyUI users know them: Ctrl+G, Alt+C, Alt+drag, zoom to fit; the
time each node took; a failing node keeps its red outline."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from .helpers import (
    canvas_point,
    drag,
    node_types,
    of_type,
    run_and_wait,
    type_value,
    widget_point,
    workflow,
)


def test_group_collapse_and_clone_from_the_keyboard(editor):
    page = editor
    sample = of_type(page, "KSampler")
    page.mouse.click(*widget_point(page, sample))
    groups = len(workflow(page).get("ui", {}).get("groups", []))
    page.keyboard.press("Control+g")
    doc = workflow(page)
    assert len(doc["ui"]["groups"]) == groups + 1
    left, top, width, height = doc["ui"]["groups"][-1]["bounding"]
    x, y = doc["nodes"][sample]["ui"]["pos"]
    assert left < x < left + width and top < y < top + height
    page.keyboard.press("Alt+c")
    assert workflow(page)["nodes"][sample]["ui"]["collapsed"] is True
    page.keyboard.press("Alt+c")
    assert "collapsed" not in workflow(page)["nodes"][sample]["ui"]
    page.keyboard.press("Control+z")
    assert workflow(page)["nodes"][sample]["ui"]["collapsed"] is True

    latent = of_type(page, "EmptyLatent")
    start = widget_point(page, latent)
    page.keyboard.down("Alt")
    drag(page, start, (start[0] + 40, start[1] + 260))
    page.keyboard.up("Alt")
    latents = [n for n, t in node_types(page).items() if t == "EmptyLatent"]
    assert len(latents) == 2
    nodes = workflow(page)["nodes"]
    assert nodes[latents[0]]["inputs"] == nodes[latents[1]]["inputs"]


def test_zoom_to_fit_shows_every_node(editor):
    page = editor
    box = page.locator("#canvas").bounding_box()
    drag(page, canvas_point(page, 0.5, 0.9), canvas_point(page, 0.02, 0.02))  # pan far away
    drag(page, canvas_point(page, 0.5, 0.9), canvas_point(page, 0.02, 0.02))
    page.keyboard.press(".")
    for node in workflow(page)["nodes"]:
        x, y = widget_point(page, node)
        assert box["x"] <= x <= box["x"] + box["width"] and box["y"] <= y <= box["y"] + box[
            "height"], node


def test_each_node_shows_how_long_it_took(editor):
    page = editor
    sample = of_type(page, "KSampler")
    type_value(page, sample, "seed", "424241")  # seeds no other test runs: the sampler runs
    run_and_wait(page)
    page.wait_for_function(f"nodeflow.editor.timeOf({sample!r}) !== null")
    assert re.fullmatch(r"\d+ ms|\d+\.\d+ s", page.evaluate(f"nodeflow.editor.timeOf({sample!r})"))
    type_value(page, sample, "seed", "424242")  # a seed no other test runs
    run_and_wait(page)  # only the sampler and what follows run again
    positive = of_type(page, "TextEncode")
    page.wait_for_function(f"nodeflow.editor.timeOf({positive!r}) === 'cached'")
    assert re.fullmatch(r"\d+ ms|\d+\.\d+ s", page.evaluate(f"nodeflow.editor.timeOf({sample!r})"))


def test_a_run_that_fails_fast_keeps_the_red_outline(editor):
    page = editor
    save = of_type(page, "SaveImage")
    type_value(page, save, "prefix", "../outside")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("alert").first).to_contain_text("inside the output folder")
    page.wait_for_timeout(1500)  # the answer to the request and later messages come and go
    errors = page.evaluate(f"nodeflow.editor.errorsOf({save!r})")
    assert errors and "output folder" in errors[0]["message"]
