"""POST/GET /prompt, /queue, /interrupt, /history: happy paths and the main errors."""
from __future__ import annotations

import asyncio

import pytest

from .comfy_prompts import comfy_everything, comfy_txt2img
from .conftest import queue, txt2img, wait_done

pytestmark = pytest.mark.asyncio


async def test_nodeflow_workflow_runs_and_lands_in_history(client, settings):
    response = await client.post("/prompt", json={"prompt": txt2img(), "client_id": "me"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"prompt_id", "number", "node_errors"} and body["node_errors"] == {}
    entry = await wait_done(client, body["prompt_id"])
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"]
    image = entry["outputs"]["save"]["images"][0]
    assert image == {"filename": "test_00000.png", "subfolder": "", "type": "output"}
    assert (settings.output_dir / image["filename"]).is_file()
    _number, prompt_id, prompt, extra, outputs = entry["prompt"]
    assert prompt_id == body["prompt_id"] and prompt == txt2img()
    assert extra == {"client_id": "me"} and outputs == ["save"]
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start", "execution_cached", "execution_success"]


async def test_comfyui_api_prompt_is_translated_and_run(client, settings):
    prompt_id = await queue(client, comfy_txt2img(seed=3))
    entry = await wait_done(client, prompt_id)
    assert entry["status"]["status_str"] == "success"
    # ComfyUI's own node ids come back in the outputs
    assert entry["outputs"]["9"]["images"][0]["filename"].startswith("ComfyUI_")
    assert entry["prompt"][2] == comfy_txt2img(seed=3)


async def test_every_mapped_comfyui_node_passes_validation(client, settings):
    response = await client.post("/prompt", json={"prompt": comfy_everything()})
    assert response.status == 200, await response.json()


async def test_untranslatable_comfyui_node_is_a_400_naming_it(client):
    prompt = comfy_txt2img()
    prompt["10"] = {"class_type": "PhotoMakerLoader", "inputs": {"photomaker_model_name": "x.bin"}}
    response = await client.post("/prompt", json={"prompt": prompt})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "prompt_translation_failed"
    assert "10 (PhotoMakerLoader)" in body["error"]["message"]
    assert body["node_errors"]["10"]["class_type"] == "PhotoMakerLoader"
    assert body["node_errors"]["10"]["errors"][0]["type"] == "untranslatable_node"


async def test_invalid_workflow_is_a_400_with_node_errors(client):
    prompt = txt2img()
    prompt["nodes"]["sample"]["inputs"]["sampler"] = "not_a_sampler"
    prompt["nodes"]["sample"]["inputs"]["steps"] = 0
    del prompt["nodes"]["decode"]["inputs"]["vae"]
    response = await client.post("/prompt", json={"prompt": prompt})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    sample = body["node_errors"]["sample"]
    assert sample["class_type"] == "KSampler"
    assert {e["extra_info"]["input_name"] for e in sample["errors"]} == {"sampler", "steps"}
    decode = body["node_errors"]["decode"]["errors"]
    assert decode[0]["type"] == "required_input_missing"
    assert len(body["error"]["problems"]) == 3


async def test_comfy_prompt_with_invalid_value_reports_comfy_ids_and_types(client):
    prompt = comfy_txt2img()
    prompt["3"]["inputs"]["scheduler"] = "bogus"
    body = await (await client.post("/prompt", json={"prompt": prompt})).json()
    assert body["node_errors"]["3"]["class_type"] == "KSampler"
    assert body["node_errors"]["3"]["errors"][0]["extra_info"] == {"input_name": "scheduler"}


async def test_prompt_request_errors(client):
    response = await client.post("/prompt", json={"client_id": "x"})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "no_prompt"
    response = await client.post("/prompt", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_json"
    response = await client.post("/prompt", json={"prompt": [1, 2]})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_prompt"


async def test_client_chosen_prompt_id_is_used_once(client):
    prompt_id = await queue(client, txt2img(), prompt_id="my-own-id")
    assert prompt_id == "my-own-id"
    response = await client.post("/prompt", json={"prompt": txt2img(), "prompt_id": "my-own-id"})
    assert response.status == 400


async def test_queue_lists_deletes_and_clears(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(paused=True))
    ids = [await queue(client, txt2img(seed=i)) for i in range(3)]
    front = await queue(client, txt2img(seed=9), front=True)
    body = await (await client.get("/queue")).json()
    assert body["queue_running"] == []
    assert [entry[1] for entry in body["queue_pending"]] == [front, *ids]
    assert (await (await client.get("/prompt")).json()) == {"exec_info": {"queue_remaining": 4}}
    response = await client.post("/queue", json={"delete": [ids[1]]})
    assert (await response.json()) == {"removed": 1}
    body = await (await client.get("/queue")).json()
    assert [entry[1] for entry in body["queue_pending"]] == [front, ids[0], ids[2]]
    await client.post("/queue", json={"clear": True})
    assert (await (await client.get("/queue")).json())["queue_pending"] == []
    response = await client.post("/queue", json={"delete": "everything"})
    assert response.status == 400


async def test_interrupt_stops_the_running_prompt(client):
    prompt_id = await queue(client, txt2img(steps=5000))
    for _ in range(200):
        if (await (await client.get("/queue")).json())["queue_running"]:
            break
        await asyncio.sleep(0.01)
    assert (await (await client.post("/interrupt", json={"prompt_id": "other"})).json()) == {
        "interrupted": False}
    response = await client.post("/interrupt")
    assert (await response.json()) == {"interrupted": True}
    entry = await wait_done(client, prompt_id)
    assert entry["nodeflow"]["status"] == "interrupted"
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


async def test_history_paging_item_delete_and_clear(client):
    ids = [await queue(client, txt2img(seed=i)) for i in range(3)]
    for prompt_id in ids:
        await wait_done(client, prompt_id)
    assert list(await (await client.get("/history")).json()) == ids
    assert list(await (await client.get("/history?max_items=2")).json()) == ids[1:]
    assert list(await (await client.get("/history?max_items=1&offset=1")).json()) == [ids[1]]
    assert (await client.get("/history?max_items=many")).status == 400
    assert (await (await client.get("/history/unknown")).json()) == {}
    await client.post("/history", json={"delete": [ids[0]]})
    assert list(await (await client.get("/history")).json()) == ids[1:]
    await client.post("/history", json={"clear": True})
    assert (await (await client.get("/history")).json()) == {}


async def test_node_failure_is_recorded_without_traceback(client):
    prompt = txt2img()
    prompt["nodes"]["boom"] = {"type": "Boom", "inputs": {"latent": {"node": "sample",
                                                                     "output": "latent"}}}
    prompt["nodes"]["decode"]["inputs"]["latent"] = {"node": "boom", "output": "latent"}
    entry = await wait_done(client, await queue(client, prompt))
    assert entry["status"]["status_str"] == "error"
    kind, data = entry["status"]["messages"][-1]
    assert kind == "execution_error"
    assert data["node_id"] == "boom" and data["exception_type"] == "RuntimeError"
    assert data["traceback"] == []
    assert "Traceback" not in str(entry)


async def test_routes_are_also_served_under_api(client):
    prompt_id = await queue(client, txt2img())
    await wait_done(client, prompt_id)
    body = await (await client.get(f"/api/history/{prompt_id}")).json()
    assert prompt_id in body
    assert (await client.get("/api/queue")).status == 200
