"""Build the default graph from an empty canvas by search and by menu, run it, see the image;
queue from the keyboard alone; a validation error shown on the node."""
from __future__ import annotations

from playwright.sync_api import expect

from .conftest import TINY_CHECKPOINT
from .helpers import (
    add_by_menu,
    add_by_search,
    canvas_point,
    choose,
    connect,
    inputs,
    links,
    node_types,
    type_value,
    workflow,
)

DEFAULT_LINKS = {
    ("CheckpointLoader", "clip", "TextEncode", "clip"),
    ("CheckpointLoader", "model", "KSampler", "model"),
    ("TextEncode", "conditioning", "KSampler", "positive"),
    ("TextEncode", "conditioning", "KSampler", "negative"),
    ("EmptyLatent", "latent", "KSampler", "latent"),
    ("KSampler", "latent", "VAEDecode", "latent"),
    ("CheckpointLoader", "vae", "VAEDecode", "vae"),
    ("VAEDecode", "image", "SaveImage", "images"),
}

RECORD_RUN = """() => {
  const e = nodeflow.editor, seen = window.seen = {progress: [], previews: 0, running: []};
  const setProgress = e.setProgress.bind(e), setImages = e.setImages.bind(e),
        setRunning = e.setRunning.bind(e);
  e.setProgress = (id, v, m) => { seen.progress.push([id, v, m]); setProgress(id, v, m); };
  e.setRunning = (id, p) => { seen.running.push(id); setRunning(id, p); };
  e.setImages = (id, urls) => { if (urls.some((u) => u.startsWith("blob:"))) seen.previews++;
                                setImages(id, urls); };
}"""


def test_build_default_graph_by_search_and_menu_then_run(editor):
    page = editor
    page.get_by_role("button", name="Clear", exact=True).click()
    assert workflow(page)["nodes"] == {}

    ckpt = add_by_menu(page, "loaders", "Load Checkpoint", canvas_point(page, 0.03, 0.35))
    pos = add_by_search(page, "text enc", "TextEncode", canvas_point(page, 0.25, 0.03))
    neg = add_by_search(page, "textencode", "TextEncode", canvas_point(page, 0.25, 0.33))
    latent = add_by_menu(page, "latent", "Empty Latent", canvas_point(page, 0.25, 0.62))
    sample = add_by_search(page, "ksampler", "KSampler", canvas_point(page, 0.5, 0.05))
    decode = add_by_menu(page, "latent", "VAE Decode", canvas_point(page, 0.76, 0.05))
    save = add_by_search(page, "save image", "SaveImage", canvas_point(page, 0.76, 0.3))
    assert sorted(node_types(page).values()) == sorted(
        ["CheckpointLoader", "TextEncode", "TextEncode", "EmptyLatent", "KSampler",
         "VAEDecode", "SaveImage"])

    connect(page, ckpt, "clip", pos, "clip")
    connect(page, ckpt, "clip", neg, "clip")
    connect(page, ckpt, "model", sample, "model")
    connect(page, pos, "conditioning", sample, "positive")
    connect(page, neg, "conditioning", sample, "negative")
    connect(page, latent, "latent", sample, "latent")
    connect(page, sample, "latent", decode, "latent")
    connect(page, ckpt, "vae", decode, "vae")
    connect(page, decode, "image", save, "images")
    # a link between sockets of different types is refused
    connect(page, ckpt, "vae", sample, "latent")
    assert links(page) == DEFAULT_LINKS

    choose(page, ckpt, "checkpoint", TINY_CHECKPOINT)
    type_value(page, latent, "width", "32")
    type_value(page, latent, "height", "32")
    type_value(page, sample, "steps", "3")
    assert inputs(page, latent)["width"] == 32
    assert inputs(page, sample)["steps"] == 3
    assert inputs(page, ckpt)["checkpoint"] == TINY_CHECKPOINT

    page.evaluate(RECORD_RUN)
    page.get_by_role("button", name="Queue", exact=False).first.click()
    page.wait_for_function(f"nodeflow.editor.imageUrls({save!r}).length > 0", timeout=120_000)
    gallery_image = page.locator("#queue .gallery img").first
    expect(gallery_image).to_be_visible(timeout=10_000)
    page.wait_for_function("document.querySelector('#queue .gallery img').naturalWidth > 0")
    urls = page.evaluate(f"nodeflow.editor.imageUrls({save!r})")
    assert urls and urls[0].startswith("/view?")
    seen = page.evaluate("window.seen")
    assert sample in seen["running"]
    assert any(node == sample and value == 3 and top == 3 for node, value, top in seen["progress"])
    assert seen["previews"] >= 1
    page.screenshot(path=str(_shot("after_run.png")))


def test_queue_with_keyboard_only(editor):
    page = editor
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status").filter(has_text="queued #")).to_be_visible()
    # canvas shortcuts work without a click first: select all, delete, undo
    count = len(workflow(page)["nodes"])
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    assert workflow(page)["nodes"] == {}
    page.keyboard.press("Control+z")
    expect(page.locator("body")).to_be_visible()
    assert len(workflow(page)["nodes"]) == count


def test_validation_error_shown_on_the_node(editor):
    page = editor
    sample = next(n for n, t in node_types(page).items() if t == "KSampler")
    latent = next(n for n, t in node_types(page).items() if t == "EmptyLatent")
    ckpt = next(n for n, t in node_types(page).items() if t == "CheckpointLoader")
    choose(page, ckpt, "checkpoint", TINY_CHECKPOINT)
    type_value(page, latent, "width", "36")  # not a multiple of 8
    page.keyboard.press("Control+Enter")
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("width")
    expect(alert).to_contain_text("multiple of 8")
    errors = page.evaluate(f"nodeflow.editor.errorsOf({latent!r})")
    assert any(e["input"] == "width" for e in errors), errors
    assert page.evaluate(f"nodeflow.editor.errorsOf({sample!r})") == []
    page.screenshot(path=str(_shot("validation_error.png")))


def _shot(name):
    import os
    from pathlib import Path

    folder = Path(os.environ.get("NODEFLOW_SCREENSHOTS", "/tmp/nodeflow-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
