"""`nodeflow serve --dev`: a changed custom node file is reloaded without a restart, and
editors are told to refresh their node definitions."""
from __future__ import annotations

import asyncio
import os

import pytest

from nodeflow.plugins import load_registry
from nodeflow.server import ServerConfig, create_app

pytestmark = pytest.mark.asyncio

PACK = '''from nodeflow import Field, node


@node(category="hot")
def HotNode(x: int = Field({default}, ge=0, le=100)) -> int:
    """A node whose default the test edits."""
    return x
'''


def write_pack(path, default: int, bump: int) -> None:
    path.write_text(PACK.format(default=default))
    stamp = path.stat().st_mtime + bump  # a new mtime even within one clock tick
    os.utime(path, (stamp, stamp))


async def default_of(client) -> int:
    response = await client.get("/object_info/HotNode")
    assert response.status == 200
    info = await response.json()
    return info["HotNode"]["input"]["required"]["x"][1]["default"]


async def test_changed_default_is_picked_up(aiohttp_client, settings):
    pack = settings.custom_nodes_dir / "hot.py"
    pack.parent.mkdir(parents=True)
    write_pack(pack, default=1, bump=0)
    app = create_app(settings, registry=load_registry(settings),
                     config=ServerConfig(dev=True, reload_interval_s=0.05))
    client = await aiohttp_client(app)
    assert await default_of(client) == 1
    ws = await client.ws_connect("/ws?clientId=editor")
    write_pack(pack, default=5, bump=2)
    async with asyncio.timeout(10):
        while True:
            message = await ws.receive_json()
            if message["type"] == "nodeflow.nodes_changed":
                break
    assert message["data"]["failures"] == []
    assert await default_of(client) == 5
    pack.write_text("def broken(:\n")
    os.utime(pack, (pack.stat().st_mtime + 4,) * 2)
    async with asyncio.timeout(10):
        while (message := await ws.receive_json())["type"] != "nodeflow.nodes_changed":
            pass
    assert message["data"]["failures"][0]["pack"] == "hot"
    assert await (await client.get("/object_info/HotNode")).json() == {}  # gone, as ComfyUI says
    await ws.close()


async def test_without_dev_nothing_is_watched(aiohttp_client, settings):
    pack = settings.custom_nodes_dir / "hot.py"
    pack.parent.mkdir(parents=True)
    write_pack(pack, default=1, bump=0)
    app = create_app(settings, registry=load_registry(settings),
                     config=ServerConfig(reload_interval_s=0.05))
    client = await aiohttp_client(app)
    write_pack(pack, default=5, bump=2)
    await asyncio.sleep(0.3)
    assert await default_of(client) == 1
