"""The queue button's "N seeds across workers" on a `nodeflow serve --ray` server: typed in and
queued with the keyboard, three seeds come back as one history entry with three images."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.server.live import Live

from .helpers import click_on, image_bytes, run_and_wait

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory):
    pytest.importorskip("ray")
    folder = tmp_path_factory.mktemp("fan-out")
    (folder / "token").write_text("nodeflow-browser-test-token-0123456789")
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(folder / "token"))
    live = Live(folder / "home", "--ray", "--ray-workers", "2")
    try:
        live.start()
        live.wait_for(lambda: sum(w["state"] in ("idle", "running") for w in live.get(
            "/system_stats")["nodeflow"]["worker"]["workers"]) == 2, timeout=120,
            what="two workers ready")
        yield live
    finally:
        live.stop()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})


def test_three_seeds_across_the_workers_are_one_entry_with_three_images(browser,
                                                                        cluster_server):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(cluster_server.url + "/")
        page.wait_for_selector("body[data-ready=true]")
        box = page.get_by_label("Seeds across workers")
        expect(box).to_be_visible()
        click_on(page, box)
        page.keyboard.press("Control+A")
        page.keyboard.type("3")
        images = run_and_wait(page, timeout=180)
        assert len(images) == 3 and len({i["filename"] for i in images}) == 3
        assert len({image_bytes(page, i) for i in images}) == 3  # three seeds, three pictures
        history = page.request.get(cluster_server.url + "/history").json()
        [entry] = [e for e in history.values()
                   if any(i["filename"] == images[0]["filename"]
                          for i in e["outputs"].get("save", {}).get("images", []))]
        assert entry["prompt"][3]["fan_out"] == {"node": "sample", "input": "seed", "count": 3}
        assert errors == []
    finally:
        context.close()
