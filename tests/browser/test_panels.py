"""The node library, the settings panel, the minimap and the overall run progress, used with
the pointer and the keyboard as a person does."""
from __future__ import annotations

import re
from io import BytesIO

from PIL import Image
from playwright.sync_api import expect

from .helpers import canvas_point, drag, node_types, type_value, widget_point, workflow
from .test_build_and_run import _shot


def of_type(page, node_type: str) -> list[str]:
    return [n for n, t in node_types(page).items() if t == node_type]


def title_point(page, node: str) -> tuple[float, float]:
    return widget_point(page, node)


# -- node library ---------------------------------------------------------------------------


def test_library_tree_details_and_search(editor):
    page = editor
    page.keyboard.press("n")
    panel = page.get_by_role("complementary", name="Node library")
    expect(panel).to_be_visible()
    search = page.get_by_role("searchbox", name="Search nodes")
    expect(search).to_be_focused()

    # a tree by category, collapsed until opened
    sampling = panel.locator("details[data-category=sampling]")
    entry = panel.get_by_role("button", name="KSampler", exact=True)
    expect(entry).to_be_hidden()
    sampling.locator(":scope > summary").click()
    expect(entry).to_be_visible()
    nested = panel.locator('details[data-category="latent/inpaint"]')
    expect(nested).to_have_count(1)  # "latent/inpaint" is a branch inside "latent"
    inside = "details[data-category=latent] > details[data-category='latent/inpaint']"
    expect(panel.locator(inside)).to_have_count(1)

    # hovering shows what the node does and its sockets
    entry.hover()
    info = panel.get_by_label("Node details")
    schema = page.evaluate("nodeflow.editor.schemas.KSampler")
    expect(info).to_contain_text("KSampler")
    if schema["description"]:
        expect(info).to_contain_text(schema["description"].split("\n")[0][:40])
    for item in schema["inputs"] + schema["outputs"]:
        expect(info).to_contain_text(item["name"])
    expect(info).to_contain_text("LATENT")
    page.screenshot(path=str(_shot("library.png")))

    # the search ranks as fuzzy.js does; Enter adds the best match, arrows pick another
    search.click()
    page.keyboard.type("ksam")
    ranked = page.evaluate("""async () => (await import('/js/fuzzy.js'))
        .rankTypes('ksam', nodeflow.editor.schemas).slice(0, 60).map((r) => r.type)""")
    shown = panel.locator(".node-entry").evaluate_all("(els) => els.map((e) => e.dataset.type)")
    assert shown == ranked and shown[0] == "KSampler"
    expect(info).to_contain_text("KSampler")
    before = len(of_type(page, "KSampler"))
    page.keyboard.press("Enter")
    assert len(of_type(page, "KSampler")) == before + 1
    if len(ranked) > 1:
        page.keyboard.press("ArrowDown")
        expect(panel.locator(".node-entry.selected")).to_have_attribute("data-type", ranked[1])

    search.fill("zzqqxx")
    expect(panel).to_contain_text("No node matches.")
    # "n" typed in the search field is text, not the shortcut
    search.fill("")
    page.keyboard.type("n")
    expect(panel).to_be_visible()
    page.get_by_role("button", name="Nodes").click()
    expect(panel).to_be_hidden()
    # "n" opens it again; Escape clears the search, a second Escape closes it
    page.mouse.click(*canvas_point(page, 0.5, 0.9))
    page.keyboard.press("n")
    expect(search).to_be_focused()
    page.keyboard.type("vae")
    page.keyboard.press("Escape")
    expect(search).to_have_value("")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_library_click_adds_in_the_middle_and_drag_drops_where_released(editor):
    page = editor
    page.get_by_role("button", name="Clear", exact=True).click()
    page.get_by_role("button", name="Nodes").click()
    panel = page.get_by_role("complementary", name="Node library")
    page.get_by_role("searchbox", name="Search nodes").fill("empty latent")
    panel.locator('.node-entry[data-type="EmptyLatent"]').click()
    (latent,) = of_type(page, "EmptyLatent")
    box = page.locator("#canvas").bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    x, y = title_point(page, latent)
    assert abs(x - middle[0]) < 160 and abs(y - middle[1]) < 120, (x, y, middle)
    # a second one does not hide the first
    panel.locator('.node-entry[data-type="EmptyLatent"]').click()
    second = next(n for n in of_type(page, "EmptyLatent") if n != latent)
    x2, y2 = title_point(page, second)
    assert x2 > x + 10 and y2 > y + 10, ((x, y), (x2, y2))
    page.keyboard.press("Control+z")
    assert of_type(page, "EmptyLatent") == [latent]

    page.get_by_role("searchbox", name="Search nodes").fill("vae decode")
    source = panel.locator('.node-entry[data-type="VAEDecode"]').bounding_box()
    target = canvas_point(page, 0.2, 0.75)
    drag(page, (source["x"] + 20, source["y"] + source["height"] / 2), target)
    (decode,) = of_type(page, "VAEDecode")
    pos = workflow(page)["nodes"][decode]["ui"]["pos"]
    dropped = page.evaluate(f"nodeflow.editor.widgetPoint({decode!r})")  # pos + (40, -15)
    scale = page.evaluate("nodeflow.editor.readView().scale")
    assert abs(dropped["x"] - 40 * scale - target[0]) < 3, (dropped, target, pos)
    assert abs(dropped["y"] + 15 * scale - target[1]) < 3, (dropped, target, pos)
    # one undo step per added node
    page.keyboard.press("Control+z")
    assert sorted(node_types(page).values()) == ["EmptyLatent"]
    # a drag released outside the canvas adds nothing
    source = panel.locator('.node-entry[data-type="VAEDecode"]').bounding_box()
    drag(page, (source["x"] + 20, source["y"] + source["height"] / 2),
         (source["x"] + 60, source["y"] - 80))
    assert sorted(node_types(page).values()) == ["EmptyLatent"]


# -- settings -------------------------------------------------------------------------------


def open_settings(page):
    gear = page.get_by_role("button", name="Settings")
    expect(gear).to_be_in_viewport(ratio=1)  # however crowded the toolbar is
    gear.click()
    panel = page.get_by_role("region", name="Settings")
    expect(panel).to_be_visible()
    return panel


def test_settings_apply_at_once_and_persist(editor):
    page = editor
    panel = open_settings(page)
    minimap = page.get_by_label("Minimap: click or drag to move the view")
    expect(minimap).to_be_visible()
    assert page.evaluate("nodeflow.editor.canvas.links_render_mode") == 2  # spline
    canvas = page.locator("#canvas")
    spline = canvas.screenshot()

    panel.get_by_label("Link style").select_option("straight")
    assert page.evaluate("nodeflow.editor.canvas.links_render_mode") == 0
    page.wait_for_timeout(100)
    assert canvas.screenshot() != spline  # the links look different
    panel.get_by_label("Show the minimap").uncheck()
    expect(minimap).to_be_hidden()
    panel.get_by_label("Snap nodes to the grid").check()
    panel.get_by_label("seeds, after each run").select_option("randomize")
    page.screenshot(path=str(_shot("settings.png")))

    # snapping: a node dragged by its title lands on the 10-unit grid
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    (decode,) = of_type(page, "VAEDecode")
    start = title_point(page, decode)
    drag(page, start, (start[0] + 37, start[1] + 23))
    pos = workflow(page)["nodes"][decode]["ui"]["pos"]
    assert pos[0] % 10 == 0 and pos[1] % 10 == 0, pos
    # a new sampler's seed follows the chosen mode; the file's sampler keeps its own
    page.keyboard.press("n")
    page.keyboard.type("ksampler")
    page.keyboard.press("Enter")
    nodes = workflow(page)["nodes"]
    controls = {n: nodes[n].get("ui", {}).get("controls", {}).get("seed", "fixed")
                for n in of_type(page, "KSampler")}
    assert sorted(controls.values()) == ["fixed", "randomize"], controls

    # a reload keeps every setting
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(minimap).to_be_hidden()
    assert page.evaluate("nodeflow.editor.canvas.links_render_mode") == 0
    panel = open_settings(page)
    expect(panel.get_by_label("Link style")).to_have_value("straight")
    expect(panel.get_by_label("Snap nodes to the grid")).to_be_checked()
    expect(panel.get_by_label("Show the minimap")).not_to_be_checked()
    panel.get_by_label("Show the minimap").check()
    expect(minimap).to_be_visible()


def test_confirm_setting_guards_deleting_a_saved_workflow(editor):
    page = editor
    page.locator("#name").fill("to-delete")
    page.locator("#name").press("Tab")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="saved to-delete")).to_be_visible()
    page.locator("[data-panel=workflows]").click()
    delete = page.get_by_role("button", name="Delete to-delete.json")
    expect(delete).to_be_visible()
    delete.click()
    asked = page.get_by_role("dialog", name="Delete saved workflow")
    expect(asked).to_contain_text("to-delete")
    asked.get_by_role("button", name="Cancel").click()
    expect(asked).to_be_hidden()
    expect(delete).to_be_visible()  # cancelled: kept

    panel = open_settings(page)
    panel.get_by_label("Confirm before deleting").uncheck()
    page.get_by_role("button", name="Settings").click()
    delete.click()
    expect(delete).to_be_hidden()  # no question asked
    expect(asked).to_have_count(0)


# -- minimap --------------------------------------------------------------------------------


def count(locator, colour: tuple[int, int, int]) -> int:
    """How many pixels of a screenshot of ``locator`` have about this colour."""
    data = Image.open(BytesIO(locator.screenshot())).convert("RGB").tobytes()
    return sum(1 for i in range(0, len(data), 3)
               if all(abs(data[i + c] - colour[c]) < 14 for c in range(3)))


def test_minimap_shows_the_graph_and_moves_the_view(editor):
    page = editor
    minimap = page.get_by_label("Minimap: click or drag to move the view")
    box = minimap.bounding_box()
    # the nodes are drawn: some pixels are the node grey
    assert count(minimap, (0x8a, 0x8c, 0x94)) > 50

    assert count(minimap, (0xf0, 0xc0, 0x40)) == 0
    # the selected node stands out
    page.mouse.click(*title_point(page, of_type(page, "KSampler")[0]))
    page.wait_for_timeout(100)
    assert count(minimap, (0xf0, 0xc0, 0x40)) > 20

    view = page.evaluate("nodeflow.editor.visibleArea()")
    page.mouse.click(box["x"] + 12, box["y"] + box["height"] / 2)
    moved = page.evaluate("nodeflow.editor.visibleArea()")
    assert moved[0] < view[0] - 20, (view, moved)  # clicked left of the frame: the view went left
    drag(page, (box["x"] + 12, box["y"] + box["height"] / 2),
         (box["x"] + box["width"] - 12, box["y"] + box["height"] / 2))
    dragged = page.evaluate("nodeflow.editor.visibleArea()")
    assert dragged[0] > moved[0] + 50, (moved, dragged)


# -- overall progress -----------------------------------------------------------------------

NEEDED = """async ([prompt, outputs]) =>
  [...(await import('/js/progress.js')).neededNodes(prompt, outputs)].sort()"""


def test_progress_counts_the_nodes_that_run(editor):
    """The total of "3/7 nodes": outputs and what they need; muted and bypassed nodes do not run."""
    page = editor
    link = lambda node: {"node": node, "output": "out"}  # noqa: E731
    doc = {"nodeflow": 1, "nodes": {
        "a": {"type": "T", "inputs": {}}, "b": {"type": "T", "inputs": {"x": link("a")}},
        "lora": {"type": "T", "mode": "bypass", "inputs": {"x": link("b")}},
        "save": {"type": "T", "inputs": {"x": link("lora"), "v": 3}},
        "muted": {"type": "T", "mode": "mute", "inputs": {"x": link("lonely")}},
        "lonely": {"type": "T", "inputs": {}},
        "unused": {"type": "T", "inputs": {"x": link("a")}},
        "preview": {"type": "T", "inputs": {"x": link("muted")}}}}
    assert page.evaluate(NEEDED, [doc, ["save", "preview"]]) == ["a", "b", "preview", "save"]
    comfy = {"1": {"class_type": "A", "inputs": {}},
             "2": {"class_type": "B", "inputs": {"x": ["1", 0]}},
             "3": {"class_type": "C", "inputs": {}}}
    assert page.evaluate(NEEDED, [comfy, ["2"]]) == ["1", "2"]


WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const el = document.getElementById("run-progress");
  new MutationObserver(() => window.progressSeen.push(
    [el.hidden, el.querySelector(".text").textContent, document.title]))
    .observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_overall_progress_in_toolbar_and_title(editor):
    page = editor
    # a seed of its own: a run the server has cached shows no progress (and would leave the
    # default graph's result cached for other tests)
    type_value(page, of_type(page, "KSampler")[0], "seed", "4242")
    expect(page.locator("#unsaved")).to_be_visible()  # the title has its marker by now
    base_title = page.title()
    page.evaluate(WATCH_PROGRESS)  # only records what the page shows
    page.keyboard.press("Control+Enter")
    # shown, then hidden again when the run ends (recorded: a fast run is over in a moment)
    page.wait_for_function("window.progressSeen.some(([hidden]) => !hidden) && "
                           "document.getElementById('run-progress').hidden", timeout=120_000)
    page.screenshot(path=str(_shot("toolbar_progress.png")),
                    clip={"x": 0, "y": 0, "width": 1400, "height": 90})
    expect(page.get_by_role("progressbar", name="Run progress")).to_be_hidden()
    assert page.title() == base_title
    seen = [(text, title) for hidden, text, title in page.evaluate("window.progressSeen")
            if not hidden]
    counts = [(m, title) for text, title in seen
              if (m := re.match(r"(\d+)/(\d+) nodes · (\d+)%", text))]
    assert counts, seen
    totals = {int(m[2]) for m, _ in counts}
    assert totals == {len(workflow(page)["nodes"])}, seen  # every node of txt2img runs
    percents = [int(m[3]) for m, _ in counts]
    assert percents == sorted(percents) and percents[-1] >= 80, percents
    assert any(0 < p < 100 for p in percents), percents  # it moved during the sampler's steps
    assert all(title.startswith(f"[{m[3]}%] ") for m, title in counts), counts
