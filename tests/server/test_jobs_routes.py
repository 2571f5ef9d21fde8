"""ComfyUI's jobs API (routes_jobs.py, jobs.py) and global subgraphs (routes_blueprints.py),
which ComfyUI's frontend 1.30 and later use for its queue, its history and its node library."""
from __future__ import annotations

import asyncio
import json

import pytest

from nodeflow.registry import PackInfo

from .conftest import queue, txt2img, wait_done

pytestmark = pytest.mark.asyncio


async def jobs(client, query: str = "") -> dict:
    response = await client.get(f"/api/jobs{query}")
    body = await response.json()
    assert response.status == 200, body
    return body


async def wait_running(client, prompt_id: str) -> None:
    for _ in range(500):
        if (await jobs(client, "?status=in_progress"))["jobs"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} did not start")


async def test_jobs_list_every_state_newest_first_with_a_preview(aiohttp_client, make_app):
    client = await aiohttp_client(make_app())
    done = await queue(client, txt2img(seed=1), extra_data={
        "extra_pnginfo": {"workflow": {"id": "wf-1"}}})
    await wait_done(client, done)
    broken = txt2img(seed=2)
    broken["nodes"]["boom"] = {"type": "Boom", "inputs": {"latent": {"node": "sample",
                                                                     "output": "latent"}}}
    broken["nodes"]["decode"]["inputs"]["latent"] = {"node": "boom", "output": "latent"}
    failed = await queue(client, broken)
    await wait_done(client, failed)
    running = await queue(client, txt2img(steps=5000))
    await wait_running(client, running)
    waiting = await queue(client, txt2img(seed=3))

    body = await jobs(client)
    assert [j["id"] for j in body["jobs"]] == [waiting, running, failed, done]
    by_id = {j["id"]: j for j in body["jobs"]}
    assert {k: by_id[k]["status"] for k in by_id} == {
        waiting: "pending", running: "in_progress", failed: "failed", done: "completed"}
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 4, "has_more": False}
    finished = by_id[done]
    assert finished["outputs_count"] == finished["previewable_outputs_count"] == 1
    assert finished["preview_output"]["type"] == "output"
    assert finished["preview_output"]["mediaType"] == "images"
    assert finished["workflow_id"] == "wf-1"
    assert finished["execution_end_time"] >= finished["execution_start_time"] >= \
        finished["create_time"] > 0
    assert by_id[failed]["execution_error"]["node_id"] == "boom"
    assert "execution_error" not in finished

    history = await jobs(client, "?status=completed,failed,cancelled&limit=1&offset=1")
    assert [j["id"] for j in history["jobs"]] == [done]
    assert history["pagination"] == {"offset": 1, "limit": 1, "total": 2, "has_more": False}
    oldest = await jobs(client, "?sort_order=asc&limit=1")
    assert [j["id"] for j in oldest["jobs"]] == [done]
    assert oldest["pagination"]["has_more"] is True
    assert [j["id"] for j in (await jobs(client, "?workflow_id=wf-1"))["jobs"]] == [done]

    # cancelling: the waiting one leaves the queue, the running one is interrupted
    cancel = await client.post(f"/api/jobs/{waiting}/cancel")
    assert (await cancel.json()) == {"cancelled": True}
    cancel = await client.post("/api/jobs/cancel", json={"job_ids": [running, done, "nope"]})
    assert (await cancel.json()) == {"cancelled": True}
    await wait_done(client, running)
    statuses = {j["id"]: j["status"] for j in (await jobs(client))["jobs"]}
    assert statuses == {running: "cancelled", failed: "failed", done: "completed"}
    again = await client.post(f"/api/jobs/{done}/cancel")
    assert (await again.json()) == {"cancelled": False}


async def test_one_job_in_detail(client):
    prompt_id = await queue(client, txt2img(seed=5))
    await wait_done(client, prompt_id)
    response = await client.get(f"/api/jobs/{prompt_id}")
    job = await response.json()
    assert response.status == 200
    assert job["id"] == prompt_id and job["status"] == "completed"
    assert job["workflow"]["prompt"]["nodes"]["save"]["type"] == "SaveImage"
    (images,) = [out["images"] for out in job["outputs"].values()]
    assert images[0]["filename"] == job["preview_output"]["filename"]
    assert job["execution_status"]["status_str"] == "success"
    assert [m[0] for m in job["execution_status"]["messages"]][-1] == "execution_success"
    missing = await client.get("/api/jobs/no-such-job")
    assert missing.status == 404


@pytest.mark.parametrize("query, problem", [
    ("?status=done", "unknown status done"), ("?sort_by=name", "sort_by"),
    ("?sort_order=up", "sort_order"), ("?limit=0", "limit"), ("?offset=x", "offset")])
async def test_bad_job_queries_say_what_is_wrong(client, query, problem):
    response = await client.get(f"/api/jobs{query}")
    assert response.status == 400
    assert problem in (await response.json())["error"]["message"]


async def test_batch_cancel_needs_a_list_of_ids(client):
    response = await client.post("/api/jobs/cancel", json={"job_ids": "all"})
    assert response.status == 400
    response = await client.post("/api/jobs/cancel", json={"job_ids": ["ok"]},
                                 headers={"Origin": "http://evil.example"})
    assert response.status == 403


async def test_packs_subgraph_blueprints(aiohttp_client, settings, registry, tmp_path):
    from nodeflow.server import ServerConfig, create_app

    pack = tmp_path / "blueprint_pack"
    (pack / "subgraphs").mkdir(parents=True)
    blueprint = {"nodes": [], "links": [], "definitions": {"subgraphs": []}}
    (pack / "subgraphs" / "Upscale twice.json").write_text(json.dumps(blueprint))
    (pack / "subgraphs" / "notes.txt").write_text("not a blueprint")
    (tmp_path / "outside.json").write_text("{}")
    (pack / "subgraphs" / "link.json").symlink_to(tmp_path / "outside.json")
    registry.packs["blueprint_pack"] = PackInfo("blueprint_pack", "1.0", str(pack), "custom")
    client = await aiohttp_client(create_app(settings, registry=registry,
                                             config=ServerConfig()))
    listing = await (await client.get("/api/global_subgraphs")).json()
    assert len(listing) == 1
    ((key, entry),) = listing.items()
    assert entry == {"source": "custom_node", "name": "Upscale twice",
                     "info": {"node_pack": "custom_nodes.blueprint_pack"}}
    assert str(tmp_path) not in json.dumps(listing)  # no server paths
    one = await (await client.get(f"/api/global_subgraphs/{key}")).json()
    assert json.loads(one["data"]) == blueprint and one["name"] == "Upscale twice"
    assert (await client.get("/api/global_subgraphs/" + "0" * 64)).status == 404
