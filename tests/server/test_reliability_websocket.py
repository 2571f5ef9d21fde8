"""Issue 13, points 3 and 14, against a real server process with real aiohttp websocket
clients: a client that stops reading is disconnected once its backlog is full and never
holds up the others; on shutdown, clients hear that their run was interrupted before their
sockets close."""
from __future__ import annotations

import asyncio
import signal
import socket

import aiohttp
import pytest

from .live import one_node

pytestmark = pytest.mark.asyncio

PROMPTS = 6


def small_buffer_socket(addr_info) -> socket.socket:
    """A client socket with a tiny receive buffer: once its reader stops, the server's
    writes back up after a few kilobytes, not megabytes."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def completions(ws, count: int) -> list[str]:
    """The prompt ids of the first ``count`` runs that end (executing with node None)."""
    done = []
    while len(done) < count:
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = msg.json()
            if data["type"] == "executing" and data["data"]["node"] is None:
                done.append(data["data"]["prompt_id"])
    return done


async def test_a_client_that_stops_reading_is_dropped_without_slowing_others(live_server):
    live = await asyncio.to_thread(live_server)
    stuck_connector = aiohttp.TCPConnector(socket_factory=small_buffer_socket)
    async with aiohttp.ClientSession(connector=stuck_connector) as stuck_session, \
            aiohttp.ClientSession() as session:
        stuck = await stuck_session.ws_connect(f"{live.url}/ws?clientId=stuck",
                                               autoping=False)
        clients = [await session.ws_connect(f"{live.url}/ws?clientId=reader{i}")
                   for i in range(3)]
        readers = [asyncio.create_task(completions(ws, PROMPTS)) for ws in clients]
        queued = []
        for i in range(PROMPTS):  # no client_id: every client hears about every run
            async with session.post(f"{live.url}/prompt", json={
                    "prompt": one_node("Flood", frames=40, size=256, tag=i)}) as response:
                assert response.status == 200, await response.text()
                queued.append((await response.json())["prompt_id"])
        heard = await asyncio.wait_for(asyncio.gather(*readers), 60)
        assert all(ids == queued for ids in heard), heard
        async with session.get(f"{live.url}/system_stats") as response:
            hub = (await response.json())["nodeflow"]["websocket"]
        assert hub["dropped"] >= 1 and hub["clients"] == 3, hub
        # the stuck client finds its connection cut once it reads again
        async with asyncio.timeout(20):
            while True:
                msg = await stuck.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE,
                                aiohttp.WSMsgType.ERROR):
                    break
        for ws in clients:
            await ws.close()


async def test_shutdown_tells_clients_the_run_was_interrupted_before_closing(live_server):
    live = await asyncio.to_thread(live_server)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{live.url}/ws?clientId=watcher")
        async with session.post(f"{live.url}/prompt", json={
                "prompt": one_node("Wait", seconds=60), "client_id": "watcher"}) as response:
            prompt_id = (await response.json())["prompt_id"]
        kinds = []
        async with asyncio.timeout(20):
            while "executing" not in kinds:
                msg = await ws.receive()
                kinds.append(msg.json()["type"])
            live.process.send_signal(signal.SIGTERM)
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = msg.json()
                kinds.append(data["type"])
                if data["type"] == "execution_interrupted":
                    assert data["data"]["prompt_id"] == prompt_id
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        assert "execution_interrupted" in kinds, kinds
    assert await asyncio.to_thread(live.process.wait, 15) in (0, -signal.SIGTERM)
