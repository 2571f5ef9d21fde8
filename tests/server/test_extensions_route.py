"""Editor extensions of node packs: listed, served as JavaScript, confined to their folder."""
from __future__ import annotations

import pytest
import pytest_asyncio

from nodeflow.registry import PackInfo, Registry
from nodeflow.server import ServerConfig, create_app



@pytest_asyncio.fixture
async def ext_client(aiohttp_client, settings, tmp_path):
    web = tmp_path / "pack" / "web"
    web.mkdir(parents=True)
    (web / "widget.js").write_text("export function setup(nodeflow) {}\n")
    (web / "notes.txt").write_text("not a module")
    (tmp_path / "pack" / "secret.py").write_text("TOKEN = 1")
    registry = Registry()
    registry.packs["mypack"] = PackInfo("mypack", "1.0.0", str(tmp_path / "pack"), "custom",
                                        web_dir=str(web))
    registry.packs["plain"] = PackInfo("plain", "1.0.0", "x", "custom")
    return await aiohttp_client(create_app(settings, registry=registry, config=ServerConfig()))


@pytest.mark.asyncio
async def test_lists_and_serves_modules(ext_client):
    listed = await (await ext_client.get("/nodeflow/extensions")).json()
    assert listed == {"extensions": ["/extensions/mypack/widget.js"], "comfyui": []}
    module = await ext_client.get("/extensions/mypack/widget.js")
    assert module.status == 200 and module.headers["Content-Type"].startswith("text/javascript")


@pytest.mark.parametrize("path", ["/extensions/mypack/..%2Fsecret.py", "/extensions/plain/x.js",
                                  "/extensions/nope/widget.js", "/extensions/mypack/none.js"])
@pytest.mark.asyncio
async def test_other_paths_are_refused(ext_client, path):
    response = await ext_client.get(path)
    assert response.status in (400, 404)


def test_pack_web_folders_are_found(tmp_path):
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    pack = tmp_path / "custom_nodes" / "withweb"
    (pack / "web").mkdir(parents=True)
    (pack / "__init__.py").write_text("")
    named = tmp_path / "custom_nodes" / "named"
    (named / "frontend").mkdir(parents=True)
    (named / "__init__.py").write_text("WEB_DIRECTORY = 'frontend'\n")
    registry = load_registry(Settings(base_dir=tmp_path), builtin=False, entry_points=False)
    assert registry.packs["withweb"].web_dir == str(pack / "web")
    assert registry.packs["named"].web_dir == str(named / "frontend")
