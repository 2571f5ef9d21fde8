"""The image viewer over the gallery (fit, zoom, pan, 1:1, stepping, the raw file), the A/B
compare of two results with its split, and clearing the queue and the history."""
from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageChops
from playwright.sync_api import expect

from .helpers import node_types, type_value
from .test_build_and_run import _shot


def of_type(page, node_type: str) -> str:
    return next(n for n, t in node_types(page).items() if t == node_type)


def two_results(page):
    """At least two images in the gallery: one run of the default graph, batch of 2, 4 steps."""
    gallery = page.locator("#queue .gallery img")
    page.wait_for_timeout(300)  # the gallery loads once the websocket is open
    if gallery.count() < 2:
        type_value(page, of_type(page, "EmptyLatent"), "batch_size", "2")
        type_value(page, of_type(page, "KSampler"), "steps", "4")
        page.keyboard.press("Control+Enter")
        expect(gallery.nth(1)).to_be_visible(timeout=120_000)
    page.wait_for_function("[...document.querySelectorAll('#queue .gallery img')]"
                           ".slice(0, 2).every((i) => i.complete && i.naturalWidth > 0)")
    return page.locator("#queue .gallery button.thumb")


def rect(locator) -> dict:
    return locator.bounding_box()


def shot(locator) -> Image.Image:
    return Image.open(BytesIO(locator.screenshot())).convert("RGB")


def same(x: Image.Image, y: Image.Image) -> bool:
    """Equal but for the anti-aliased edge of an image (a clipped layer is composited apart)."""
    diff = ImageChops.difference(x, y).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255] <= 0.003 * x.width * x.height


def test_viewer_fits_zooms_pans_steps_and_closes(editor):
    page = editor
    thumbs = two_results(page)
    count = thumbs.count()
    thumbs.first.click()
    viewer = page.get_by_role("dialog", name="Image viewer")
    expect(viewer).to_be_visible()
    stage = viewer.locator(".viewer-stage")
    image = viewer.locator("img.viewer-a")
    page.wait_for_function("document.querySelector('#viewer img.viewer-a').naturalWidth > 0")

    # fitted: as large as the stage allows, centred, crisp pixels
    s, fitted = rect(stage), rect(image)
    assert abs(fitted["height"] - s["height"]) < 1.5 or abs(fitted["width"] - s["width"]) < 1.5
    assert abs(fitted["x"] + fitted["width"] / 2 - (s["x"] + s["width"] / 2)) < 1.5
    assert image.evaluate("(i) => getComputedStyle(i).imageRendering") == "pixelated"

    # the wheel zooms about the pointer; "-" zooms out
    zoom = viewer.get_by_label("Zoom level")
    fit_zoom = zoom.inner_text()
    page.mouse.move(s["x"] + s["width"] / 2, s["y"] + s["height"] / 2)
    page.mouse.wheel(0, -200)
    expect(zoom).not_to_have_text(fit_zoom)
    zoomed = rect(image)
    assert zoomed["width"] > fitted["width"] * 1.2
    page.keyboard.press("-")
    assert rect(image)["width"] < zoomed["width"]

    # a drag pans by as much as the pointer moved
    before = rect(image)
    start = (s["x"] + 100, s["y"] + 100)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 60, start[1] + 40, steps=5)
    page.mouse.up()
    after = rect(image)
    assert abs(after["x"] - before["x"] - 60) < 1.5 and abs(after["y"] - before["y"] - 40) < 1.5

    # 1:1 shows the real pixels, Fit brings the whole image back
    viewer.get_by_role("button", name="Actual size").click()
    natural = image.evaluate("(i) => i.naturalWidth")
    assert abs(rect(image)["width"] - natural) < 1
    expect(zoom).to_have_text("100%")
    viewer.get_by_role("button", name="Fit to window").click()
    assert abs(rect(image)["width"] - fitted["width"]) < 1

    # the raw file, to open or download
    src = image.get_attribute("src")
    assert viewer.get_by_role("link", name="Open file").get_attribute("href") == src
    with page.expect_download() as download:
        viewer.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename.endswith(".png")

    # arrows step through the gallery (and wrap)
    expect(viewer.locator(".viewer-title")).to_contain_text(f"(1/{count})")
    page.keyboard.press("ArrowRight")
    expect(viewer.locator(".viewer-title")).to_contain_text(f"(2/{count})")
    assert image.get_attribute("src") != src
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(viewer.locator(".viewer-title")).to_contain_text(f"({count}/{count})")

    # Tab stays inside the viewer
    for _ in range(20):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('viewer').contains(document.activeElement)")
    # keys do not reach the canvas while the viewer is open: Delete deletes no node
    nodes = len(node_types(page))
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    assert len(node_types(page)) == nodes
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    page.get_by_role("button", name="View", exact=False).first.click()
    expect(viewer).to_be_visible()
    viewer.get_by_role("button", name="Close viewer").click()
    expect(viewer).to_be_hidden()


def test_compare_two_results_with_a_split(editor):
    page = editor
    thumbs = two_results(page)
    thumbs.first.click()
    viewer = page.get_by_role("dialog", name="Image viewer")
    stage = viewer.locator(".viewer-stage")
    page.wait_for_function("document.querySelector('#viewer img.viewer-a').naturalWidth > 0")
    page.wait_for_timeout(100)
    only_a = shot(stage)
    viewer.get_by_role("button", name="Next image").click()
    page.wait_for_function("document.querySelector('#viewer img.viewer-a').complete")
    page.wait_for_timeout(100)
    only_b = shot(stage)
    viewer.get_by_role("button", name="Previous image").click()
    assert ImageChops.difference(only_a, only_b).getbbox(), "the two results look the same"

    viewer.get_by_role("button", name="Compare with…").click()
    picker = viewer.get_by_role("group", name="Choose the image to compare with")
    expect(picker).to_be_visible()
    picker.get_by_role("button").first.click()  # the next result: B
    expect(picker).to_be_hidden()
    split = viewer.get_by_role("slider", name="Compare split")
    expect(split).to_be_visible()
    expect(split).to_have_attribute("aria-valuenow", "50")
    expect(viewer.locator(".viewer-tag.a")).to_contain_text("A: ")
    expect(viewer.locator(".viewer-tag.b")).to_contain_text("B: ")
    page.wait_for_function("document.querySelector('#viewer img.viewer-b').naturalWidth > 0")

    def check(fraction: float, a: Image.Image, b: Image.Image) -> None:
        page.wait_for_timeout(100)
        both = shot(stage)
        w, h = both.size
        cut = int(w * fraction)
        top = int(h * 0.15)  # below the A/B labels
        left = (4, top, cut - 6, h - 4)
        right = (cut + 6, top, w - 4, h - 4)
        assert same(both.crop(left), a.crop(left)), "left of the split is not A"
        assert same(both.crop(right), b.crop(right)), "right of the split is not B"

    check(0.5, only_a, only_b)
    # drag the split to a quarter of the width
    s = stage.bounding_box()
    handle = split.bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, s["y"] + s["height"] / 2)
    page.mouse.down()
    page.mouse.move(s["x"] + s["width"] * 0.25, s["y"] + s["height"] / 2, steps=6)
    page.mouse.up()
    expect(split).to_have_attribute("aria-valuenow", "25")
    check(0.25, only_a, only_b)
    page.screenshot(path=str(_shot("viewer_compare.png")))
    # the arrow keys move the split once it was grabbed
    handle = split.bounding_box()
    page.mouse.click(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    expect(split).to_be_focused()
    expect(split).to_have_attribute("aria-valuenow", "25")
    page.keyboard.press("ArrowRight")
    expect(split).to_have_attribute("aria-valuenow", "30")

    # swap: B on the left now
    a_label = viewer.locator(".viewer-tag.a").inner_text()[3:]
    viewer.get_by_role("button", name="Swap A and B").click()
    expect(viewer.locator(".viewer-tag.b")).to_have_text("B: " + a_label)
    check(0.3, only_b, only_a)
    # a swap keeps the zoom: the same part of both stays in view
    zoom = viewer.get_by_label("Zoom level")
    fitted = zoom.inner_text()
    page.mouse.move(s["x"] + s["width"] * 0.6, s["y"] + s["height"] * 0.5)
    page.mouse.wheel(0, -300)
    expect(zoom).not_to_have_text(fitted)
    zoomed = zoom.inner_text()
    image_box = viewer.locator("img.viewer-a").bounding_box()
    viewer.get_by_role("button", name="Swap A and B").click()
    expect(viewer.locator(".viewer-tag.a")).to_have_text("A: " + a_label)
    page.wait_for_timeout(200)
    expect(zoom).to_have_text(zoomed)
    assert viewer.locator("img.viewer-a").bounding_box() == image_box
    viewer.get_by_role("button", name="End compare").click()
    expect(split).to_be_hidden()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_clear_queue_and_history_ask_first(editor):
    page = editor
    two_results(page)
    # three prompts: one runs, two wait
    # long enough to clear the rest meanwhile
    type_value(page, of_type(page, "KSampler"), "steps", "1000")
    for _ in range(3):
        page.keyboard.press("Control+Enter")
    queue = page.get_by_role("complementary", name="Queue and history")
    expect(queue.locator("li.pending")).to_have_count(2, timeout=10_000)
    clear = queue.get_by_role("button", name="Clear queue")
    asked = page.get_by_role("dialog", name="Clear queue")
    clear.click()
    asked.get_by_role("button", name="Cancel").click()
    expect(asked).to_be_hidden()
    expect(queue.locator("li.pending")).to_have_count(2)  # cancelled: nothing removed
    clear.click()
    asked.get_by_role("button", name="Clear queue").click()
    expect(queue.locator("li.pending")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="removed 2 queued prompts")).to_be_visible()
    # the running one goes on (stop it: the test need not wait for it)
    expect(queue.locator("li.running")).to_have_count(1)
    page.get_by_role("button", name="Interrupt").first.click()
    expect(queue.locator("li.running")).to_have_count(0, timeout=60_000)

    gallery = queue.locator(".gallery img")
    assert gallery.count() >= 2
    asked = page.get_by_role("dialog", name="Clear history")
    queue.get_by_role("button", name="Clear history").click()
    page.keyboard.press("Escape")  # cancels too
    expect(asked).to_be_hidden()
    assert gallery.count() >= 2
    queue.get_by_role("button", name="Clear history").click()
    page.keyboard.press("Enter")  # the dialog's OK has the focus
    expect(gallery).to_have_count(0)
    expect(queue).to_contain_text("Results appear here.")
    expect(queue.get_by_role("button", name="Clear history")).to_have_count(0)
