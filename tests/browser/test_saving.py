"""Saving as a user expects: a marker while there are unsaved changes, Save as, and never
replacing another saved workflow without asking."""
from __future__ import annotations

import json
import urllib.request
from urllib.parse import quote

from playwright.sync_api import expect

from .helpers import of_type, type_value


def saved_steps(server, name):
    with urllib.request.urlopen(f"{server}/workflows/{quote(name)}.json") as response:
        doc = json.load(response)
    return next(n["inputs"]["steps"] for n in doc["nodes"].values() if n["type"] == "KSampler")


def rename(page, name):
    page.locator("#name").click()
    page.keyboard.press("Control+a")
    page.keyboard.type(name)
    page.keyboard.press("Tab")


def test_unsaved_marker_save_as_and_replace_only_when_confirmed(editor, server):
    page = editor
    sample = of_type(page, "KSampler")
    marker = page.locator("#unsaved")
    expect(marker).to_be_hidden()
    type_value(page, sample, "steps", "6")
    expect(marker).to_be_visible()
    assert page.title().startswith("●")

    page.keyboard.press("Control+Shift+s")  # Save as: asks for the name
    dialog = page.get_by_role("dialog", name="Save as")
    expect(dialog.get_by_role("textbox")).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type("kept safe")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="saved kept safe")).to_be_visible()
    expect(page.locator("#name")).to_have_value("kept safe")
    expect(marker).to_be_hidden()
    assert not page.title().startswith("●")
    assert saved_steps(server, "kept safe") == 6

    # another graph under that name: Save asks first, and Cancel keeps the saved file
    page.get_by_role("button", name="New").click()
    rename(page, "kept safe")
    type_value(page, of_type(page, "KSampler"), "steps", "11")
    page.get_by_role("button", name="Save", exact=True).click()
    ask = page.get_by_role("dialog", name="Replace saved workflow?")
    expect(ask).to_contain_text('"kept safe" is already saved')
    ask.get_by_role("button", name="Cancel").click()
    expect(ask).to_have_count(0)
    assert saved_steps(server, "kept safe") == 6
    expect(marker).to_be_visible()
    page.keyboard.press("Control+s")
    ask.get_by_role("button", name="Replace").click()
    expect(page.get_by_role("status").filter(has_text="saved kept safe").last).to_be_visible()
    assert saved_steps(server, "kept safe") == 11
    # saving again the workflow that this graph now is asks nothing
    type_value(page, of_type(page, "KSampler"), "steps", "12")
    page.keyboard.press("Control+s")
    page.wait_for_function("!document.body.classList.contains('unsaved')")
    assert saved_steps(server, "kept safe") == 12
