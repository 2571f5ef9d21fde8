"""Odd type names, lists and lazy inputs through the API: /object_info, POST /prompt, history."""
from __future__ import annotations

from urllib.parse import quote

import pytest
import pytest_asyncio

from nodeflow.registry import PackInfo, Registry
from nodeflow.server import ServerConfig, create_app

from tests.engine import toy_flow, toy_nodes
from .conftest import queue, wait_done

pytestmark = pytest.mark.asyncio

NAME = "Mask Morphology+ | x"


@pytest_asyncio.fixture
async def client(aiohttp_client, settings):
    registry = Registry()
    registry.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    registry.add_module(toy_flow, PackInfo("toyflow", "1.0.0", "tests", "custom"))
    return await aiohttp_client(create_app(settings, registry=registry, config=ServerConfig()))


async def test_object_info_has_odd_names_and_list_flags(client):
    info = await (await client.get("/object_info")).json()
    assert info[NAME]["name"] == NAME
    assert info["Numbers"]["output_is_list"] == [True]
    assert info["Total"]["input_is_list"] is True
    assert info["Choose"]["input"]["required"]["yes"][1]["lazy"] is True
    one = await (await client.get("/object_info/" + quote(NAME, safe=""))).json()
    assert list(one) == [NAME]


async def test_prompt_with_an_odd_type_name_and_a_list_runs(client):
    prompt_id = await queue(client, {"nodeflow": 1, "nodes": {
        "odd": {"type": NAME, "inputs": {"x": 2}},
        "nums": {"type": "Numbers", "inputs": {"start": 1, "count": 2}},
        "inc": {"type": "Inc", "inputs": {"x": {"node": "nums", "output": "int"},
                                          "by": {"node": "odd", "output": "int"}}},
        "out": {"type": "Collect", "inputs": {"value": {"node": "inc", "output": "int"}}}}})
    entry = await wait_done(client, prompt_id)
    assert entry["status"]["status_str"] == "success", entry
    assert entry["outputs"]["out"] == {"values": [21, 22]}


async def test_an_unknown_odd_type_is_a_400_naming_it(client):
    response = await client.post("/prompt", json={"prompt": {"nodeflow": 1, "nodes": {
        "n": {"type": "ImageResize+"}}}})
    body = await response.json()
    assert response.status == 400
    assert "ImageResize+" in str(body)


async def test_nodes_inside_a_subgraph_report_the_node_the_user_sees(client):
    from .conftest import finished, receive_until

    ws = await client.ws_connect("/ws?clientId=me")
    prompt_id = await queue(client, {"nodeflow": 1, "nodes": {
        "sub": {"type": "Twice", "inputs": {"x": 4}},
        "out": {"type": "Collect", "inputs": {"value": {"node": "sub", "output": "y"}}}},
        "subgraphs": {"Twice": {
            "inputs": {"x": {"type": "INT"}},
            "outputs": {"y": {"node": "b", "output": "int"}},
            "nodes": {"a": {"type": "Inc", "inputs": {"x": {"node": "@inputs", "output": "x"}}},
                      "b": {"type": "Inc", "inputs": {"x": {"node": "a", "output": "int"}}}}}}},
        client_id="me")
    messages = await receive_until(ws, finished(prompt_id))
    executing = [m["data"] for m in messages if isinstance(m, dict) and m["type"] == "executing"
                 and m["data"].get("node")]
    assert {"node": "sub/a", "display_node": "sub", "prompt_id": prompt_id} in executing
    entry = await wait_done(client, prompt_id)
    assert entry["outputs"]["out"] == {"values": [6]}
    await ws.close()
