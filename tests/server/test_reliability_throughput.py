"""Issue 13, point 6, against real server processes: with the history full (10,000 entries,
the cap) prompts go through as fast as with an empty one, and the event loop never waits
for SQLite. Before, trimming the history cost 18 ms per finished prompt at that size and
throughput fell to a seventh with this test's small prompts."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from nodeflow.server.queue_store import QueueStore

from .live import one_node

pytestmark = pytest.mark.asyncio

PROMPTS = 200


def full_history(base, entries: int = 10_000) -> None:
    store = QueueStore(base / "queue.sqlite3")
    store.close()
    now = time.time()
    rows = [(f"old{i}", i, json.dumps(one_node("Wait")), json.dumps(one_node("Wait")),
             json.dumps({"pad": "x" * 500}), '["n"]', json.dumps({"n": {"text": ["ok"]}}),
             "[]", now - entries + i, now - entries + i, now - entries + i)
            for i in range(entries)]
    import sqlite3

    db = sqlite3.connect(base / "queue.sqlite3")
    with db:
        db.executemany(
            "INSERT INTO prompts (prompt_id, number, state, status, prompt, workflow, "
            "extra_data, outputs_to_execute, outputs, messages, queued_at, started_at, "
            "finished_at) VALUES (?, ?, 'done', 'success', ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


async def prompts_per_second(url: str, count: int = PROMPTS) -> float:
    """Queue ``count`` quick prompts from 4 clients; completions per second."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId=counter")
        numbers = iter(range(count))

        async def submit() -> None:
            for i in numbers:
                async with session.post(f"{url}/prompt", json={
                        "prompt": one_node("Wait", tag=i), "client_id": "counter"}) as answer:
                    assert answer.status == 200, await answer.text()

        started = time.perf_counter()
        await asyncio.gather(*(submit() for _ in range(4)))
        done = 0
        async with asyncio.timeout(120):
            while done < count:
                data = (await ws.receive()).json()
                done += data["type"] == "executing" and data["data"]["node"] is None
        return count / (time.perf_counter() - started)


async def test_throughput_is_flat_as_the_history_fills(live_server, tmp_path):
    empty = await asyncio.to_thread(live_server, base=tmp_path / "empty")
    full_base = tmp_path / "full"
    full_base.mkdir()
    await asyncio.to_thread(full_history, full_base)
    full = await asyncio.to_thread(live_server, base=full_base)
    assert len(await asyncio.to_thread(full.get, "/history?max_items=10000")) == 10_000
    await prompts_per_second(empty.url, 40)  # warm both up (imports, first connections)
    await prompts_per_second(full.url, 40)
    rates = {"empty": [], "full": []}
    for _ in range(3):  # interleaved, so a busy neighbour slows both alike
        rates["empty"].append(await prompts_per_second(empty.url))
        rates["full"].append(await prompts_per_second(full.url))
    best = {k: max(v) for k, v in rates.items()}
    # before the fix the ratio was 0.14 (37 vs 260 prompts/s); on a quiet machine it is ~0.9,
    # and a busy shared CPU moves single measurements by 2x: the bound separates the two
    assert best["full"] >= 0.4 * best["empty"], rates
    history = await asyncio.to_thread(full.get, "/history?max_items=10")
    assert len(history) == 10
    stats = await asyncio.to_thread(full.get, "/system_stats")
    assert stats["nodeflow"]["ready"]
