"""Subgraphs in the editor, made and edited with the pointer and keyboard: convert a selection,
run it, undo it; open one, edit inside, come back by the breadcrumb; bypass one. Also what a
run shows: every image of a list run, and a switch's branch not taken drawn dimmed."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import urljoin

from PIL import Image
from playwright.sync_api import expect

from .helpers import (
    downloaded,
    empty_point,
    graph_to_client,
    image_bytes,
    menu_entry,
    node_types,
    of_type,
    open_file,
    run_and_wait,
    type_value,
    widget_point,
    workflow,
)

WORKFLOWS = Path(__file__).parents[2] / "workflows"


def example(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))


def newest_pixels(page) -> list:
    src = page.locator("#queue .gallery img").first.get_attribute("src")
    return pixels(page.request.get(urljoin(page.url, src)).body())


def pixels(body: bytes) -> bytes:
    return Image.open(io.BytesIO(body)).convert("RGB").tobytes()


def open_by_double_click(page, node: str) -> None:
    """Double-click ``node``'s title (retried: the canvas tells a double click by timing)."""
    crumb = page.locator("#breadcrumb")
    for _ in range(3):
        page.mouse.dblclick(*widget_point(page, node))
        try:
            expect(crumb).to_be_visible(timeout=2000)
            return
        except AssertionError:
            continue
    expect(crumb).to_be_visible()


def convert(page, node: str | None, name: str) -> None:
    """Right-click ``node``'s title (None: the empty canvas), Convert to subgraph, type the
    name."""
    page.mouse.click(*(widget_point(page, node) if node else empty_point(page)), button="right")
    menu_entry(page, "Convert to subgraph").click()
    field = page.get_by_role("dialog").get_by_role("textbox")
    expect(field).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_convert_a_selection_run_it_and_undo(editor):
    page = editor
    open_file(page, example("txt2img.json"), "txt2img.json")
    [first] = run_and_wait(page)
    before = pixels(image_bytes(page, first))
    original = workflow(page)["nodes"]

    page.mouse.click(*widget_point(page, "sample"))
    page.keyboard.down("Shift")
    page.mouse.click(*widget_point(page, "decode"))
    page.keyboard.up("Shift")
    convert(page, "sample", "Draw")

    doc = downloaded(page)
    assert set(doc["subgraphs"]["Draw"]["nodes"]) == {"sample", "decode"}
    (made,) = [nid for nid, node in doc["nodes"].items() if node["type"] == "Draw"]
    assert "sample" not in doc["nodes"] and "decode" not in doc["nodes"]
    assert doc["nodes"]["save"]["inputs"]["images"] == {"node": made, "output": "image"}
    assert doc["nodes"][made]["inputs"]["vae"] == {"node": "ckpt", "output": "vae"}
    assert page.evaluate(f"nodeflow.editor.nodeById({made!r}).inputs.length") == 5

    [second] = run_and_wait(page)
    assert pixels(image_bytes(page, second)) == before  # the engine expands it: the same picture

    page.keyboard.press("Control+z")  # one step: the original nodes are back
    assert workflow(page)["nodes"] == original
    assert "subgraphs" not in workflow(page)


def test_open_edit_inside_and_back_by_the_breadcrumb(editor):
    page = editor
    open_file(page, example("subgraph.json"), "subgraph.json")
    # drawn as a node of its type with its sockets and widgets, not a placeholder
    drawn = page.evaluate("(() => { const n = nodeflow.editor.nodeById('first');"
                          " return {missing: !!n.nf.missing, title: n.title,"
                          " inputs: n.inputs.map((i) => i.name),"
                          " outputs: n.outputs.map((o) => [o.name, o.type])}; })()")
    assert drawn == {"missing": False, "title": "Draw digit",
                     "inputs": ["model", "clip", "vae", "prompt", "seed"],
                     "outputs": [["image", "IMAGE"]]}

    open_by_double_click(page, "first")
    crumb = page.locator("#breadcrumb")
    expect(crumb).to_contain_text("subgraph")
    expect(crumb).to_contain_text("Draw digit")
    shown = page.evaluate("nodeflow.editor.readNodes().map((n) => n.id)")
    assert {"@inputs", "@outputs", "sample", "decode"} <= set(shown)
    type_value(page, "sample", "steps", "9")
    page.wait_for_timeout(50)
    steps = "nodeflow.editor.readNodes().find((n) => n.id === 'sample').values.steps"
    page.keyboard.press("Control+z")  # undo inside: the canvas still shows the inside
    assert page.evaluate(steps) == 12
    expect(crumb).to_be_visible()
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate(steps) == 9

    click_crumb = crumb.get_by_role("button", name="subgraph", exact=True)
    click_crumb.click()
    expect(crumb).to_be_hidden()
    assert "first" in node_types(page)
    doc = downloaded(page)
    assert doc["subgraphs"]["Draw digit"]["nodes"]["sample"]["inputs"]["steps"] == 9
    assert ({nid: node["inputs"] for nid, node in doc["nodes"].items()}
            == {nid: node["inputs"] for nid, node in example("subgraph.json")["nodes"].items()})

    with page.expect_download() as info:  # FLOAT inputs inside written as floats too
        page.get_by_role("button", name="Download", exact=True).click()
    assert '"cfg": 5.0,' in Path(info.value.path()).read_text(encoding="utf-8")

    page.keyboard.press("Control+z")  # undo across: the edit made inside is undone
    inner = workflow(page)["subgraphs"]["Draw digit"]["nodes"]["sample"]["inputs"]
    assert inner["steps"] == 12

    # Escape comes back too
    open_by_double_click(page, "second")
    page.keyboard.press("Escape")
    expect(crumb).to_be_hidden()


def test_bypass_a_subgraph_made_from_a_box_selection(editor):
    page = editor
    open_file(page, example("txt2img.json"), "txt2img.json")
    start = graph_to_client(page, 680, 150)
    end = graph_to_client(page, 760, 260)
    page.keyboard.down("Control")
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    page.keyboard.up("Control")
    assert page.evaluate("nodeflow.editor.selectedIds()") == ["sample"]
    convert(page, None, "Sample")  # from the canvas menu
    made = of_type(page, "Sample")
    assert workflow(page)["subgraphs"]["Sample"]["outputs"] == {
        "latent": {"node": "sample", "output": "latent"}}
    page.keyboard.press("Control+b")  # the new node is selected
    assert workflow(page)["nodes"][made]["mode"] == "bypass"
    run_and_wait(page)  # the empty latent passes through: a run, no error
    expect(page.get_by_role("alert")).to_have_count(0)


def test_edit_the_inputs_inside_and_nest_a_subgraph(editor):
    page = editor
    open_file(page, example("subgraph.json"), "subgraph.json")
    open_by_double_click(page, "first")
    page.mouse.click(*widget_point(page, "@inputs"), button="right")
    menu_entry(page, "Rename input").click()
    menu_entry(page, "seed").click()
    expect(page.get_by_role("dialog").get_by_role("textbox")).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("noise")
    page.keyboard.press("Enter")
    doc = workflow(page)
    assert list(doc["subgraphs"]["Draw digit"]["inputs"]) == [
        "model", "clip", "vae", "prompt", "noise"]
    assert doc["subgraphs"]["Draw digit"]["nodes"]["sample"]["inputs"]["seed"] == {
        "node": "@inputs", "output": "noise"}
    assert doc["nodes"]["first"]["inputs"]["noise"] == 2 and "seed" not in doc["nodes"]["first"]["inputs"]

    page.mouse.click(*widget_point(page, "latent"), button="right")
    menu_entry(page, "Expose as subgraph input").click()
    menu_entry(page, "width").click()
    definition = workflow(page)["subgraphs"]["Draw digit"]
    assert definition["inputs"]["width"] == {"type": "INT", "default": 32}
    assert definition["nodes"]["latent"]["inputs"]["width"] == {"node": "@inputs", "output": "width"}

    page.mouse.click(*widget_point(page, "@outputs"), button="right")
    menu_entry(page, "Rename output").click()
    menu_entry(page, "image").click()
    expect(page.get_by_role("dialog").get_by_role("textbox")).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("picture")
    page.keyboard.press("Enter")
    doc = workflow(page)
    assert doc["subgraphs"]["Draw digit"]["outputs"] == {
        "picture": {"node": "decode", "output": "image"}}
    assert doc["nodes"]["both"]["inputs"]["right"] == {"node": "second", "output": "picture"}

    page.mouse.click(*widget_point(page, "positive"), button="right")  # a subgraph inside
    menu_entry(page, "Convert to subgraph").click()
    expect(page.get_by_role("dialog").get_by_role("textbox")).to_be_focused()
    page.keyboard.type("Encode")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)
    (inner,) = [n["id"] for n in page.evaluate("nodeflow.editor.readNodes()")
                if n["type"] == "Encode"]
    page.mouse.click(*widget_point(page, "sample"))
    open_by_double_click(page, inner)
    expect(page.locator("#breadcrumb")).to_have_text(re.compile(
        r"subgraph\s*›\s*Draw digit\s*›\s*Encode"))
    page.locator("#breadcrumb").get_by_role("button", name="subgraph", exact=True).click()
    expect(page.locator("#breadcrumb")).to_be_hidden()
    doc = downloaded(page)
    assert doc["subgraphs"]["Draw digit"]["nodes"][inner]["type"] == "Encode"
    assert set(doc["subgraphs"]["Encode"]["nodes"]) == {"positive"}
    assert page.evaluate("nodeflow.editor.nodeById('first').inputs.map((i) => i.name)") == [
        "model", "clip", "vae", "prompt", "noise", "width"]
    run_and_wait(page)  # the nested subgraphs expand and run


# The last runs of this file leave 32x32 results newest in the history, as the files before it
# do: test_viewer compares the newest two pixel by pixel.

def test_a_list_run_shows_every_image(editor):
    page = editor
    doc = example("txt2img.json")
    doc["nodes"]["prompts"] = {"type": "PromptList", "inputs": {
        "text": "a red handwritten digit one\na green handwritten digit four"},
        "ui": {"pos": [40, 500]}}
    doc["nodes"]["positive"]["inputs"]["text"] = {"node": "prompts", "output": "string"}
    open_file(page, doc, "two-prompts.json")
    run_and_wait(page)
    page.wait_for_function("nodeflow.editor.imageUrls('save').length === 2")


def test_a_switch_run_dims_the_branch_not_taken(editor):
    page = editor
    open_file(page, example("switch.json"), "switch.json")
    run_and_wait(page)
    page.wait_for_function("nodeflow.editor.isDimmed('training')")
    dimmed = page.evaluate("['ckpt', 'sample', 'decode', 'switch', 'save']"
                           ".filter((id) => nodeflow.editor.isDimmed(id))")
    assert dimmed == []
    type_value(page, "sample", "steps", "11")  # an edit: nothing is dimmed any more
    page.wait_for_function("!nodeflow.editor.isDimmed('training')")


def test_a_malformed_subgraphs_section_is_kept_for_the_engine_to_report(editor):
    page = editor
    doc = {"nodeflow": 1, "nodes": {"odd": {"type": "Broken", "ui": {"pos": [200, 200]}}},
           "subgraphs": {"Broken": {"inputs": {}}, "Other": "not a definition"}}
    open_file(page, doc, "odd.json")
    assert page.evaluate("nodeflow.editor.nodeById('odd').nf.missing") is True
    assert downloaded(page)["subgraphs"] == doc["subgraphs"]


def test_copy_a_subgraph_node_into_another_workflow(editor):
    """Ctrl+C on a subgraph node, open another file, Ctrl+V: the node comes with its
    definition; a different definition of the same name there is kept and the pasted one is
    renamed."""
    page = editor
    source = example("subgraph.json")
    open_file(page, source, "subgraph.json")
    page.mouse.click(*widget_point(page, "first"))
    page.keyboard.press("Control+c")
    page.mouse.move(*empty_point(page))
    page.keyboard.press("Control+v")  # in the same workflow: its own definition serves
    assert list(node_types(page).values()).count("Draw digit") == 3
    assert list(workflow(page)["subgraphs"]) == ["Draw digit"]

    target = example("txt2img.json")
    target["subgraphs"] = {"Draw digit": {"nodes": {}, "inputs": {}, "outputs": {}}}
    open_file(page, target, "txt2img.json")
    page.mouse.click(*empty_point(page))
    page.keyboard.press("Control+v")
    page.mouse.move(*empty_point(page))  # (a second click there would be a double click)
    page.keyboard.press("Control+v")  # the second paste reuses the definition the first added

    doc = downloaded(page)
    pasted = [n for n in doc["nodes"].values() if n["type"] not in
              {node["type"] for node in target["nodes"].values()}]
    assert len(pasted) == 2 and pasted[0]["type"] == pasted[1]["type"] == "Draw digit 2"
    assert doc["subgraphs"]["Draw digit"] == target["subgraphs"]["Draw digit"]
    assert doc["subgraphs"]["Draw digit 2"]["nodes"] == source["subgraphs"]["Draw digit"]["nodes"]
    assert set(doc["subgraphs"]) == {"Draw digit", "Draw digit 2"}
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert "Draw digit 2" not in workflow(page).get("subgraphs", {})
