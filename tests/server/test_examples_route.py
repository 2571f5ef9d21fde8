"""GET /examples: the shipped example workflows, read-only and confined to their folder."""
from __future__ import annotations

import json

import pytest

from nodeflow.paths import shipped_dir

pytestmark = pytest.mark.asyncio


async def test_lists_and_serves_the_shipped_examples(client):
    response = await client.get("/examples")
    assert response.status == 200
    names = (await response.json())["examples"]
    shipped = sorted(p.name for p in shipped_dir("workflows").glob("*.json"))
    assert names == shipped
    for name in names:
        served = await client.get(f"/api/examples/{name}")
        assert served.status == 200 and served.content_type == "application/json"
        assert json.loads(await served.text()) == json.loads(
            (shipped_dir("workflows") / name).read_text())


@pytest.mark.parametrize("name", ["../pyproject.toml", "a/..%2F..%2Fx.json", "README.md",
                                  "nope.json"])
async def test_other_names_are_refused(client, name):
    response = await client.get(f"/examples/{name}")
    assert response.status in (400, 404)
    assert "error" in await response.json()


async def test_image_inputs_are_marked_for_upload(client):
    from nodeflow import Field, node
    from nodeflow.server.object_info import node_info

    @node(category="test")
    def PickImage(image: str = Field("a.png", choices=["a.png"], upload="image")) -> str:
        """An image picker."""
        return image

    info = node_info(PickImage.schema(), "test")
    assert info["input"]["required"]["image"][1]["image_upload"] is True
    assert info["nodeflow"]["inputs"][0]["upload"] == "image"
