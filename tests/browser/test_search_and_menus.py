"""Finding nodes: the search box (double-click), a link dropped on empty canvas (only nodes that
fit, connected), long lists with a filter, tooltips; menus that never destroy work."""
from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from .helpers import (
    canvas_point,
    click_on,
    drag,
    empty_point,
    node_types,
    of_type,
    open_file,
    point,
    right_click_node,
    widget_point,
    workflow,
)


def open_search(page, at):
    box = page.locator(".node-search")
    for _ in range(3):  # the canvas tells a double click by timing: retry on a busy machine
        page.mouse.dblclick(*at)
        try:
            box.wait_for(state="visible", timeout=2000)
            return
        except PlaywrightTimeout:
            continue
    expect(box).to_be_visible()


def listed(page) -> list[str]:
    return page.locator(".node-search li[data-type]").evaluate_all(
        "items => items.map((i) => i.dataset.type)")


def test_fuzzy_search_finds_by_name_category_and_description(editor):
    page = editor
    open_search(page, empty_point(page))
    page.keyboard.type("ksadv")
    assert listed(page)[0] == "KSamplerAdvanced"
    page.keyboard.press("Control+a")
    page.keyboard.type("latent upscale")  # words from the name and the category, any order
    assert "LatentUpscale" in listed(page)[:3]
    item = page.locator('.node-search li[data-type="LatentUpscale"]')
    expect(item.locator(".where")).to_have_text("latent")
    page.keyboard.press("Control+a")
    page.keyboard.type("zzzzqqq")
    expect(page.locator(".node-search li.none")).to_have_text("No node matches.")
    page.keyboard.press("Control+a")
    page.keyboard.type("empty lat")
    before = set(workflow(page)["nodes"])
    page.keyboard.press("Enter")
    added = set(workflow(page)["nodes"]) - before
    assert [node_types(page)[n] for n in added] == ["EmptyLatent"]
    expect(page.locator(".node-search")).to_have_count(0)


def test_a_link_dropped_on_empty_canvas_offers_what_fits_and_connects_it(editor):
    page = editor
    sample = of_type(page, "KSampler")
    start = point(page, f"nodeflow.editor.slotPoint({sample!r}, 'latent', false)")
    drag(page, start, canvas_point(page, 0.55, 0.85))
    expect(page.locator(".node-search-filter")).to_have_text("takes LATENT")
    found = listed(page)
    assert "VAEDecode" in found and "LatentUpscale" in found
    assert "CheckpointLoader" not in found and "TextEncode" not in found
    page.keyboard.type("vae decode")
    before = set(workflow(page)["nodes"])
    click_on(page, page.locator('.node-search li[data-type="VAEDecode"]'))
    [added] = set(workflow(page)["nodes"]) - before
    assert workflow(page)["nodes"][added]["inputs"]["latent"] == {"node": sample,
                                                                 "output": "latent"}
    # from a free input: nodes that give that type, the new one's output linked in
    decode = added
    end = point(page, f"nodeflow.editor.slotPoint({decode!r}, 'vae', true)")
    drag(page, end, canvas_point(page, 0.3, 0.9))
    expect(page.locator(".node-search-filter")).to_have_text("gives VAE")
    assert "LoadVAE" in listed(page) and "KSampler" not in listed(page)
    page.keyboard.type("load vae")
    page.keyboard.press("Enter")
    vae = of_type(page, "LoadVAE")
    assert workflow(page)["nodes"][decode]["inputs"]["vae"] == {"node": vae, "output": "vae"}


def test_no_menu_entry_converts_to_a_subgraph_or_loses_nodes(editor):
    page = editor
    count = len(workflow(page)["nodes"])
    page.keyboard.press("Control+a")
    right_click_node(page, of_type(page, "KSampler"))
    entries = page.locator(".litecontextmenu .litemenu-entry").all_inner_texts()
    assert entries and not any("Subgraph" in e for e in entries)
    page.keyboard.press("Escape")
    page.mouse.click(*canvas_point(page, 0.6, 0.9), button="right")
    entries = page.locator(".litecontextmenu .litemenu-entry").all_inner_texts()
    assert "Add Node" in entries and not any("Subgraph" in e for e in entries)
    assert len(workflow(page)["nodes"]) == count


def test_long_lists_have_a_filter(editor):
    page = editor
    sample = of_type(page, "KSampler")
    page.mouse.click(*widget_point(page, sample, "sampler"))
    field = page.locator(".litecontextmenu .menu-filter")
    expect(field).to_be_focused()
    page.keyboard.type("dpmpp 2m sde")
    visible = page.locator(".litecontextmenu .litemenu-entry:visible").all_inner_texts()
    assert visible and all("dpmpp_2m_sde" in v for v in visible)
    page.keyboard.press("Enter")
    assert workflow(page)["nodes"][sample]["inputs"]["sampler"] == visible[0]


def test_tooltips_describe_nodes_and_inputs(editor):
    page = editor
    sample = of_type(page, "KSampler")
    page.mouse.move(*widget_point(page, sample, "seed"))
    tip = page.get_by_role("tooltip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("seed (INT)")
    x, y = widget_point(page, sample)  # the title: the node's description
    page.mouse.move(x + 30, y)
    expect(tip).to_contain_text("KSampler")
    page.mouse.move(*canvas_point(page, 0.6, 0.95))
    expect(tip).to_be_hidden()


def test_a_placeholder_node_menu_has_no_subgraph_entry_either(editor):
    page = editor
    open_file(page, {"nodeflow": 1, "nodes": {
        "ghost": {"type": "FancyUpscaler", "inputs": {"factor": 2}, "ui": {"pos": [200, 200]}}}},
        "ghost.json")
    right_click_node(page, "ghost")
    entries = page.locator(".litecontextmenu .litemenu-entry").all_inner_texts()
    assert "Remove" in entries and not any("Subgraph" in e or "Clone" in e for e in entries)
