"""A ComfyUI user's first minutes: type a prompt and see it drawn; bypass, mute, pin and colour
nodes by keyboard and menu, and find all of it in the downloaded file."""
from __future__ import annotations

import io
from urllib.parse import urljoin

from PIL import Image
from playwright.sync_api import expect

from .helpers import (
    downloaded,
    menu_entry,
    of_type,
    right_click_node,
    run_and_wait,
    type_prompt,
    widget_point,
)

TYPED = "a yellow handwritten digit two on a black background"


def newest_result(page) -> Image.Image:
    src = page.locator("#queue .gallery img").first.get_attribute("src")
    body = page.request.get(urljoin(page.url, src)).body()
    return Image.open(io.BytesIO(body)).convert("RGB")


def border_colour(image: Image.Image) -> tuple[int, int, int]:
    """The median colour of the outermost pixels: the picture's background."""
    w, h = image.size
    pixels = [image.getpixel((x, y)) for x in range(w) for y in range(h)
              if x in (0, w - 1) or y in (0, h - 1)]
    return tuple(sorted(p[i] for p in pixels)[len(pixels) // 2] for i in range(3))


def test_type_a_prompt_download_it_and_run_it(editor):
    page = editor
    positive = of_type(page, "TextEncode")
    run_and_wait(page)
    red_on_blue = border_colour(newest_result(page))
    assert red_on_blue[2] > red_on_blue[0] + 40  # the default prompt: a blue background

    type_prompt(page, positive, TYPED)
    expect(page.locator("#unsaved")).to_be_visible()
    assert downloaded(page)["nodes"][positive]["inputs"]["text"] == TYPED

    run_and_wait(page)
    background = border_colour(newest_result(page))
    assert max(background) < 60, background  # now drawn on black, as typed


def test_escape_cancels_typing_and_ctrl_enter_commits_then_runs(editor):
    page = editor
    positive = of_type(page, "TextEncode")
    before = downloaded(page)["nodes"][positive]["inputs"]["text"]
    area = page.locator("textarea.prompt-editor")
    page.mouse.click(*widget_point(page, positive, "text"))
    expect(area).to_be_focused()
    page.keyboard.type(" and more")
    page.keyboard.press("Escape")
    expect(area).to_have_count(0)
    assert downloaded(page)["nodes"][positive]["inputs"]["text"] == before
    page.mouse.click(*widget_point(page, positive, "text"))
    expect(area).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("a white handwritten digit one on a green background")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".toast").filter(has_text="queued")).to_be_visible()
    text = downloaded(page)["nodes"][positive]["inputs"]["text"]
    assert text == "a white handwritten digit one on a green background"


def mode_of(page, node):
    return downloaded(page)["nodes"][node].get("mode")


def test_bypass_and_mute_by_keyboard_saved_and_undone(editor):
    page = editor
    decode = of_type(page, "VAEDecode")
    page.mouse.click(*widget_point(page, decode))
    page.keyboard.press("Control+b")
    assert mode_of(page, decode) == "bypass"
    # it looks bypassed: the node is drawn purple
    x, y = widget_point(page, decode)
    shot = Image.open(io.BytesIO(page.screenshot(clip={"x": x, "y": y + 30, "width": 20,
                                                       "height": 10}))).convert("RGB")
    r, g, b = shot.getpixel((10, 5))
    assert r > g + 20 and b > g + 20, (r, g, b)
    page.keyboard.press("Control+m")
    assert mode_of(page, decode) == "mute"
    page.keyboard.press("Control+m")
    assert mode_of(page, decode) is None
    page.keyboard.press("Control+z")
    assert mode_of(page, decode) == "mute"
    page.keyboard.press("Control+z")
    assert mode_of(page, decode) == "bypass"
    page.keyboard.press("Control+Shift+z")
    assert mode_of(page, decode) == "mute"


def test_a_muted_output_does_not_run(editor):
    page = editor
    save = of_type(page, "SaveImage")
    right_click_node(page, save)
    menu_entry(page, "Mode: always").click()
    menu_entry(page, "mute (Ctrl+M)").click()
    assert mode_of(page, save) == "mute"
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("alert").first).to_contain_text("no output node")


def test_pin_and_colour_from_the_menu_round_trip(editor):
    page = editor
    sample = of_type(page, "KSampler")
    right_click_node(page, sample)
    menu_entry(page, "Pin").click()
    right_click_node(page, sample)
    menu_entry(page, "Colors").click()
    menu_entry(page, "green").click()
    page.mouse.click(*widget_point(page, sample))
    ui = downloaded(page)["nodes"][sample]["ui"]
    assert ui["pinned"] is True and ui["color"] and ui["bgcolor"]
    # a pinned node stays where it is when dragged
    x, y = widget_point(page, sample)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 80, y + 60, steps=5)
    page.mouse.up()
    assert downloaded(page)["nodes"][sample]["ui"]["pos"] == ui["pos"]
    # the page keeps them over a reload (the stored workflow file)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert downloaded(page)["nodes"][sample]["ui"] == ui
    page.keyboard.press("Control+z")  # nothing to undo after a reload: no error either
