"""The queue and history survive a restart; a prompt that was running when the process died
becomes a failed history entry with a reason."""
from __future__ import annotations

import asyncio

import pytest

from nodeflow.server.queue_store import STOPPED_REASON, QueueItem, QueueStore

from .conftest import queue, txt2img, wait_done

pytestmark = pytest.mark.asyncio


async def test_restart_keeps_queue_and_history(aiohttp_client, make_app):
    first = await aiohttp_client(make_app())
    done = await queue(first, txt2img(seed=1))
    await wait_done(first, done)
    await first.close()

    paused = await aiohttp_client(make_app(paused=True))
    waiting = [await queue(paused, txt2img(seed=s)) for s in (2, 3)]
    assert done in await (await paused.get("/history")).json()
    await paused.close()

    restarted = await aiohttp_client(make_app())
    pending = (await (await restarted.get("/queue")).json())["queue_pending"]
    running = (await (await restarted.get("/queue")).json())["queue_running"]
    assert [e[1] for e in running + pending] in (waiting, waiting[1:])
    for prompt_id in waiting:
        assert (await wait_done(restarted, prompt_id))["status"]["status_str"] == "success"
    history = await (await restarted.get("/history")).json()
    assert list(history) == [done, *waiting]
    numbers = [history[p]["prompt"][0] for p in history]
    assert numbers == sorted(set(numbers))  # numbering carries on across restarts


async def test_prompt_running_when_the_process_died_is_marked_failed(aiohttp_client, make_app,
                                                                      settings):
    store = QueueStore(settings.queue_db)  # a process that takes a prompt and dies
    store.add(QueueItem("lost", 0, txt2img(), txt2img(), {}, ["save"], None))
    store.add(QueueItem("next", 1, txt2img(), txt2img(), {}, ["save"], None))
    assert store.take_next().prompt_id == "lost"
    store.close()

    client = await aiohttp_client(make_app())
    entry = (await (await client.get("/history/lost")).json())["lost"]
    assert entry["status"]["status_str"] == "error" and not entry["status"]["completed"]
    kind, data = entry["status"]["messages"][-1]
    assert kind == "execution_error" and data["exception_message"] == STOPPED_REASON
    assert entry["nodeflow"]["error"] == {"type": "ServerStopped", "message": STOPPED_REASON}
    # the prompt queued behind it still runs
    assert (await wait_done(client, "next"))["status"]["status_str"] == "success"


async def test_shutdown_interrupts_and_records_the_running_prompt(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    prompt_id = await queue(client, txt2img(steps=5000))
    for _ in range(500):
        if (await (await client.get("/queue")).json())["queue_running"]:
            break
        await asyncio.sleep(0.01)
    await client.close()
    again = await aiohttp_client(make_app(paused=True))
    entry = (await (await again.get(f"/history/{prompt_id}")).json())[prompt_id]
    assert entry["nodeflow"]["status"] == "interrupted"
