"""A ComfyUI pack in ComfyUI's own frontend (`nodeflow serve --frontend comfyui`): the
frontend registers the pack's node under its ComfyUI name and display name, and the pack's
WEB_DIRECTORY extension loads and hooks that node type, as in ComfyUI. page.evaluate only
reads."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import running_server

frontend = pytest.importorskip("comfyui_frontend_package") if os.environ.get(
    "CI", "").lower() != "true" else __import__("comfyui_frontend_package")

PACKS = Path(__file__).resolve().parents[1] / "comfy" / "packs"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy-packs-ui")
    shutil.copytree(PACKS, base / "custom_nodes")
    user = base / "user" / "default"
    user.mkdir(parents=True)
    (user / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    with running_server(base, frontend="comfyui") as url:
        yield url
    from nodeflow.comfy_compat.shims import uninstall
    uninstall()


def test_pack_node_and_extension_in_comfyui_frontend(browser, server):
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    page.wait_for_function("window.app?.graph?.nodes?.length > 0", timeout=60_000)
    page.wait_for_function("window.app.extensions?.some((e) => e.name === 'testpack.invert')",
                           timeout=30_000)
    # the frontend registered the pack's node from /object_info, and the extension's
    # beforeRegisterNodeDef wrapped its onNodeCreated (read, not called)
    registered = page.evaluate("""(() => {
        const t = window.LiteGraph?.registered_node_types?.['Invert Image (Test)'];
        return t && {title: t.title,
                     patched: String(t.prototype.onNodeCreated).includes('Inverted by extension')};
    })()""")
    assert registered == {"title": "🧪 Invert Image", "patched": True}, registered
    assert errors == []
    context.close()
