"""The Packs panel: each loaded pack with what it printed while it was imported (kept off the
server's stdout). By mouse only."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import running_server
from .helpers import click_on

CHATTY = '''from nodeflow import node

print("chatty pack: 1 node loaded")
print("tip: set CHATTY_MODE=loud")


@node(category="chatty")
def Chatty(x: int = 1) -> int:
    """Says nothing at run time."""
    return x
'''


@pytest.fixture
def chatty_server(tmp_path):
    (tmp_path / "custom_nodes").mkdir()
    (tmp_path / "custom_nodes" / "chatty.py").write_text(CHATTY)
    with running_server(tmp_path) as url:
        yield url


def test_the_packs_panel_shows_import_output(browser, chatty_server):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.goto(chatty_server + "/")
    page.wait_for_selector("body[data-ready=true]")
    click_on(page, page.get_by_role("button", name="Packs", exact=True))
    pack = page.locator('#packs li[data-pack="chatty"]')
    expect(pack).to_contain_text("custom_nodes")
    expect(pack).to_contain_text("1 node type")
    output = pack.locator(".import-output pre")
    expect(output).to_be_hidden()
    click_on(page, pack.get_by_text("printed at import"))
    expect(output).to_have_text("chatty pack: 1 node loaded\ntip: set CHATTY_MODE=loud")
    expect(page.locator('#packs li[data-pack="core"] .import-output')).to_have_count(0)
    context.close()
