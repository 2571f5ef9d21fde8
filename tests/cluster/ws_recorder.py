"""A websocket client on a thread of its own, recording every JSON message a server sends."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import aiohttp


class WsRecorder:
    def __init__(self, url: str, client_id: str):
        self.messages: list[dict] = []
        self._url = f"{url.replace('http', 'ws', 1)}/ws?clientId={client_id}"
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._listen(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the websocket did not connect"

    async def _listen(self) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self._url) as ws:
                self._ws = ws
                self._ready.set()
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        self.messages.append(json.loads(message.data))

    def of(self, prompt_id: str) -> list[dict]:
        return [m for m in list(self.messages)
                if isinstance(m.get("data"), dict) and m["data"].get("prompt_id") == prompt_id]

    def kinds(self, prompt_id: str) -> list[str]:
        return [m["type"] for m in self.of(prompt_id)]

    def wait_for(self, prompt_id: str, kind: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.of(prompt_id) if m["type"] == kind]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {kind} for {prompt_id}: {self.kinds(prompt_id)}")

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop).result(5)
        self._thread.join(5)
