"""A real ``nodeflow serve --dev`` process reloading packs wherever they live: a pip pack
installed editable (as docs/custom-nodes.md says to make one), a nodeflow pack and a ComfyUI
pack in custom_nodes; Python files, routes and editor files."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .editable import editable_pack, make_venv
from .live import ROOT, Live

NODEFLOW_PACK = '''from aiohttp import web

from nodeflow import node

ROUTES = web.RouteTableDef()


@ROUTES.get("/{route}")
async def answer(request):
    return web.json_response({{"answer": {answer}}})


@node(category="hot")
def HotNode(x: int = {answer}) -> int:
    """A node whose default the test edits."""
    return x
'''

COMFY_PACK = '''from aiohttp import web
from server import PromptServer


@PromptServer.instance.routes.get("/comfy_hot/{route}")
async def answer(request):
    return web.json_response({{"answer": {answer}}})


class ComfyHot:
    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{"x": ("INT", {{"default": {answer}}})}}}}
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "hot"

    def run(self, x):
        return (x,)


NODE_CLASS_MAPPINGS = {{"ComfyHot": ComfyHot}}
'''

ADDED_NODE = '''

@node(category="probe")
def ProbeAdded(x: int = 7) -> int:
    """Added while the server runs."""
    return x
'''


def write(path, text: str) -> None:
    """Write and move the mtime on, so even a coarse clock sees a change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat().st_mtime if path.exists() else time.time()
    path.write_text(text)
    os.utime(path, (old + 2, old + 2))


@pytest.fixture(scope="module")
def venv_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("editable")
    python = make_venv(root / "venv")
    return python, editable_pack("nf-dev-probe", root, python)


@pytest.fixture
def live(tmp_path, venv_pack):
    python, _ = venv_pack
    base = tmp_path / "base"
    write(base / "custom_nodes" / "hot.py", NODEFLOW_PACK.format(route="one", answer=1))
    write(base / "custom_nodes" / "comfy_hot" / "__init__.py",
          COMFY_PACK.format(route="one", answer=1))
    server = Live(base, "--dev", python=str(python))
    server.start()
    yield server
    server.stop()


def default_of(live: Live, type_name: str):
    info = live.get(f"/object_info/{type_name}").get(type_name)
    return info and info["input"]["required"]["x"][1]["default"]


def test_dev_reloads_editable_custom_and_comfy_packs(live, venv_pack):
    _, pack = venv_pack
    init = pack / "nf_dev_probe" / "__init__.py"
    original = init.read_text()
    assert "NfDevProbeRepeat" in live.get("/object_info")
    # a pip pack's ROUTES are served too
    assert live.get("/packs/nf_dev_probe/info") == {"pack": "nf-dev-probe", "version": "0.1.0"}
    try:
        # the editable pip pack: its source tree is watched, its module imported again
        write(init, original + ADDED_NODE)
        live.wait_for(lambda: default_of(live, "ProbeAdded") == 7, what="the editable pack")
        # an editor file alone, in a web/ folder the pack did not have at start
        script = pack / "nf_dev_probe" / "web" / "probe_added.js"
        write(script, "export function setup(nodeflow) {}\n")
        live.wait_for(lambda: "/extensions/nf_dev_probe/probe_added.js" in live.get(
            "/nodeflow/extensions")["extensions"], what="the new web folder")
        assert live.get("/extensions/nf_dev_probe/probe_added.js").startswith("export")
    finally:
        write(init, original)
        (pack / "nf_dev_probe" / "web" / "probe_added.js").unlink(missing_ok=True)

    # a nodeflow pack in custom_nodes: new definitions and its ROUTES mounted again
    assert live.get("/packs/hot/one") == {"answer": 1}
    write(live.base / "custom_nodes" / "hot.py", NODEFLOW_PACK.format(route="two", answer=2))
    live.wait_for(lambda: default_of(live, "HotNode") == 2, what="the custom_nodes pack")
    assert live.get("/packs/hot/two") == {"answer": 2}
    assert live.request("GET", "/packs/hot/one")[0] == 404

    # a ComfyUI pack: its PromptServer routes are mounted again at their own paths
    assert live.get("/comfy_hot/one") == {"answer": 1}
    write(live.base / "custom_nodes" / "comfy_hot" / "__init__.py",
          COMFY_PACK.format(route="two", answer=2))
    live.wait_for(lambda: default_of(live, "ComfyHot") == 2, what="the ComfyUI pack")
    assert live.get("/comfy_hot/two") == {"answer": 2}
    assert live.request("GET", "/comfy_hot/one")[0] == 404
    # the pack routes keep the server's rules: a foreign Origin is refused
    status, _ = live.request("POST", "/packs/hot/two", {},
                             headers={"Origin": "http://evil.example"})
    assert status == 403


def test_a_pack_installed_twice_names_both_places(tmp_path, venv_pack):
    """pip install -e, then also linked into custom_nodes: one message, both locations."""
    python, pack = venv_pack
    base = tmp_path / "base"
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "nf_dev_probe_link").symlink_to(pack / "nf_dev_probe")
    listing = subprocess.run([str(python), "-m", "nodeflow", "nodes", "--json",
                              "--base-dir", str(base)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert listing.returncode == 0, listing.stderr
    [failure] = [f for f in json.loads(listing.stdout)["failures"]
                 if f["pack"] == "nf_dev_probe_link"]
    assert "defined by pack 'nf_dev_probe' at " in failure["reason"]
    assert str(pack / "nf_dev_probe") in failure["reason"]
    assert str(base / "custom_nodes" / "nf_dev_probe_link") in failure["reason"]
    assert "the same code loaded twice" in failure["reason"]
