"""Websocket message sequences in ComfyUI's shapes: a run, a cached re-run, an error, an
interrupt; binary preview frames; who receives what."""
from __future__ import annotations

import asyncio
import contextlib
import json
import struct

import pytest

from .comfy_prompts import comfy_txt2img
from .conftest import finished, kinds, queue, receive_until, txt2img, wait_done

pytestmark = pytest.mark.asyncio


async def connect(client, client_id: str):
    ws = await client.ws_connect(f"/ws?clientId={client_id}")
    hello = await ws.receive_json()
    assert hello == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}},
                                                "sid": client_id}}
    return ws


async def test_run_sequence_and_payloads(client):
    ws = await connect(client, "alice")
    prompt_id = await queue(client, txt2img(steps=2), client_id="alice")
    messages = await receive_until(ws, finished(prompt_id))
    assert kinds(messages) == [
        "execution_start", "execution_cached",
        "executing", "executing", "executing", "executing",  # ckpt, pos, neg, latent
        "executing", "progress", "<preview>", "progress",    # sample: 2 steps, 1 preview
        "executing", "executing", "executed",                 # decode, save
        "execution_success", "executing"]
    by_kind = {}
    for m in messages:
        if isinstance(m, dict):
            by_kind.setdefault(m["type"], []).append(m["data"])
    assert by_kind["execution_start"][0]["prompt_id"] == prompt_id
    assert isinstance(by_kind["execution_start"][0]["timestamp"], int)
    assert by_kind["execution_cached"][0]["nodes"] == []
    assert by_kind["executing"][0] == {"node": "ckpt", "display_node": "ckpt",
                                       "prompt_id": prompt_id}
    assert by_kind["progress"] == [{"value": 1, "max": 2, "node": "sample", "prompt_id": prompt_id},
                                   {"value": 2, "max": 2, "node": "sample", "prompt_id": prompt_id}]
    assert by_kind["executed"] == [{"node": "save", "display_node": "save", "prompt_id": prompt_id,
                                    "output": {"images": [{"filename": "test_00000.png",
                                                           "subfolder": "", "type": "output"}]}}]
    assert by_kind["executing"][-1] == {"node": None, "display_node": None,
                                        "prompt_id": prompt_id}
    statuses = [m["data"]["status"]["exec_info"]["queue_remaining"] for m in messages
                if isinstance(m, dict) and m["type"] == "status"]
    assert statuses and statuses[0] == 1
    await ws.close()


async def test_preview_frame_is_comfyui_binary_jpeg(client):
    ws = await connect(client, "bob")
    prompt_id = await queue(client, txt2img(steps=1), client_id="bob")
    messages = await receive_until(ws, finished(prompt_id))
    frames = [m for m in messages if isinstance(m, bytes)]
    assert len(frames) == 1
    event, image_type = struct.unpack(">II", frames[0][:8])
    assert (event, image_type) == (1, 1)
    assert frames[0][8:11] == b"\xff\xd8\xff"  # a JPEG
    await ws.close()


async def test_cached_rerun_sends_cached_nodes_and_results(client):
    ws = await connect(client, "carol")
    first = await queue(client, txt2img(), client_id="carol")
    await receive_until(ws, finished(first))
    again = await queue(client, txt2img(), client_id="carol")
    messages = await receive_until(ws, finished(again))
    assert kinds(messages, again) == ["execution_start", "execution_cached", "executed",
                                      "execution_success", "executing"]
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert cached == ["save"]  # the output node hit the cache, so nothing upstream was needed
    executed = next(m for m in messages if m["type"] == "executed")["data"]
    assert executed["node"] == "save" and executed["output"]["images"]
    # only the seed changed: the sampler and what follows run, loaders come from the cache
    third = await queue(client, txt2img(seed=2), client_id="carol")
    messages = await receive_until(ws, finished(third))
    cached = next(m for m in messages if isinstance(m, dict)
                  and m["type"] == "execution_cached")["data"]["nodes"]
    assert cached == ["ckpt", "pos", "neg", "latent"]
    ran = [m["data"]["node"] for m in messages
           if isinstance(m, dict) and m["type"] == "executing"]
    assert ran == ["sample", "decode", "save", None]
    await ws.close()


async def test_error_sequence_names_the_node_and_hides_the_traceback(client):
    ws = await connect(client, "dave")
    prompt = txt2img()
    prompt["nodes"]["boom"] = {"type": "Boom", "inputs": {"latent": {"node": "sample",
                                                                     "output": "latent"}}}
    prompt["nodes"]["decode"]["inputs"]["latent"] = {"node": "boom", "output": "latent"}
    prompt_id = await queue(client, prompt, client_id="dave")
    messages = await receive_until(ws, finished(prompt_id))
    sequence = kinds(messages)
    assert sequence[-2:] == ["execution_error", "executing"]
    assert "execution_success" not in sequence
    error = next(m for m in messages if isinstance(m, dict) and m["type"] == "execution_error")
    data = error["data"]
    assert data["prompt_id"] == prompt_id and data["node_id"] == "boom"
    assert data["node_type"] == "Boom" and data["exception_type"] == "RuntimeError"
    assert data["exception_message"] == "kaboom in /very/secret/path.py"
    assert data["traceback"] == [] and set(data["executed"]) >= {"ckpt", "sample"}
    assert {"current_inputs", "current_outputs", "timestamp"} <= set(data)
    await ws.close()


async def test_node_error_in_a_comfyui_prompt_reports_comfy_class_type(client):
    ws = await connect(client, "erin")
    prompt = comfy_txt2img()
    prompt["20"] = {"class_type": "LoadImage", "inputs": {"image": "missing.png"}}
    prompt["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}}
    prompt_id = await queue(client, prompt, client_id="erin")
    messages = await receive_until(ws, finished(prompt_id))
    error = next(m for m in messages if isinstance(m, dict) and m["type"] == "execution_error")
    assert error["data"]["node_id"] == "20" and error["data"]["node_type"] == "LoadImage"
    assert "missing.png" in error["data"]["exception_message"]
    await ws.close()


async def test_interrupt_sequence(client):
    ws = await connect(client, "frank")
    prompt_id = await queue(client, txt2img(steps=5000), client_id="frank")
    await receive_until(ws, lambda m: isinstance(m, dict) and m["type"] == "progress")
    assert (await (await client.post("/interrupt")).json()) == {"interrupted": True}
    messages = await receive_until(ws, finished(prompt_id))
    assert kinds(messages)[-2:] == ["execution_interrupted", "executing"]
    data = next(m for m in messages if isinstance(m, dict)
                and m["type"] == "execution_interrupted")["data"]
    assert data["prompt_id"] == prompt_id and data["node_id"] == "sample"
    assert data["node_type"] == "KSampler" and "ckpt" in data["executed"]
    await ws.close()


async def test_prompt_messages_go_to_their_client_and_status_to_all(client):
    alice = await connect(client, "alice")
    bob = await connect(client, "bob")
    prompt_id = await queue(client, txt2img(), client_id="alice")
    await receive_until(alice, finished(prompt_id))
    await wait_done(client, prompt_id)
    seen = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            while True:
                seen.append(await bob.receive_json())
    assert seen and {m["type"] for m in seen} == {"status"}
    assert seen[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0
    await alice.close()
    await bob.close()


async def test_websocket_is_closed_on_shutdown(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    ws = await connect(client, "gina")
    await client.close()
    message = await ws.receive()
    assert message.type.name in ("CLOSE", "CLOSING", "CLOSED")


async def test_ws_route_needs_an_upgrade(client):
    response = await client.get("/ws")
    assert response.status == 400


class RecordingSocket:
    """Stands in for a client's socket: keeps what the hub sends it."""
    closed = False

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, payload: str) -> None:
        self.sent.append(payload)

    async def close(self, **_) -> None:
        self.closed = True


async def test_first_message_comes_before_broadcasts_queued_before_connecting():
    # CI once saw execution_start ahead of status: a prompt's broadcast was still in the outbox
    # when the client connected, and the publisher handed it to the new client first
    from nodeflow.server.websocket import Hub

    hub = Hub()
    hub.post("execution_start", {"prompt_id": "p"})  # queued; the publisher has not run yet
    socket = RecordingSocket()
    hub.add("late", socket, first=("status", {"sid": "late"}))
    publisher = asyncio.create_task(hub.publish_forever())
    for _ in range(50):
        await asyncio.sleep(0)
    publisher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await publisher
    assert [json.loads(m)["type"] for m in socket.sent] == ["status", "execution_start"]
    await hub.close_all(flush_s=0)
