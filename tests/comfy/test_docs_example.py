"""The pack of docs/custom-nodes.md section 18, run as written: its validate hook, its route
under /packs/<pack>/ behind the server's rules, ctx.send over the websocket, ctx.extra in the
PNG, and its import output kept off stdout."""
from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest

from .helpers import ROOT, live_server_class


def docs_pack() -> str:
    text = (ROOT / "docs" / "custom-nodes.md").read_text()
    block = re.search(r"```python\n(# custom_nodes/announce\.py\n.*?)```", text, re.S)
    assert block, "the example pack is gone from docs/custom-nodes.md"
    return block.group(1)


WORKFLOW = {"nodeflow": 1, "name": "announcing", "nodes": {
    "a": {"type": "Announce", "inputs": {"n": 4}},
    "img": {"type": "DigitImage", "inputs": {"digit": 4}},
    "save": {"type": "SaveImage", "inputs": {"images": {"node": "img", "output": "image"}}}}}


def test_docs_example_pack(tmp_path):
    base = tmp_path / "home"
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "announce.py").write_text(
        docs_pack() + '\nprint("announce pack loaded")\n')
    live = live_server_class()(base).start()
    try:
        messages, result = asyncio.run(_run(live.url))
        assert {"n": 4, "node": "a"} in messages
        with urllib.request.urlopen(f"{live.url}/packs/announce/count") as res:
            assert json.loads(res.read()) == {"announced": 1}
        bad = urllib.request.Request(f"{live.url}/packs/announce/count",
                                     headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad)
        assert err.value.code == 403
        assert result["invalid"]["node_errors"]["a"]["errors"][0]["message"] == \
            "n must be even, got 3"
        from PIL import Image
        png = next((base / "output").glob("*.png"))
        texts = Image.open(png).text
        assert texts["announced"] == "4" and json.loads(texts["client"]) == {"by": "test"}
        assert "announce pack loaded" in live.output()  # in the log, not lost
    finally:
        live.stop()


async def _run(url: str):
    import aiohttp

    got, result = [], {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/ws?clientId=d1") as ws:
            body = {"prompt": WORKFLOW, "client_id": "d1",
                    "extra_data": {"extra_pnginfo": {"client": {"by": "test"}}}}
            async with session.post(f"{url}/prompt", json=body) as res:
                assert res.status == 200, await res.text()
            done = False
            while not done:
                msg = await asyncio.wait_for(ws.receive(), 30)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data["type"] == "announce.number":
                    got.append(data["data"])
                assert data["type"] != "execution_error", data
                done = data["type"] == "execution_success"
        bad = json.loads(json.dumps(WORKFLOW))
        bad["nodes"]["a"]["inputs"]["n"] = 3
        async with session.post(f"{url}/prompt", json={"prompt": bad}) as res:
            assert res.status == 400
            result["invalid"] = await res.json()
    return got, result
