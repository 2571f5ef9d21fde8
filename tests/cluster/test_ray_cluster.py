"""`nodeflow serve --ray ADDRESS` against a local Ray cluster of two nodes, each declaring one
logical GPU, driven from outside as a user would: HTTP, a websocket, `ray.kill` of a
worker, a node removed. One cluster and one server for the whole module (Ray takes 5-20 s to
start); the tests run in order and the last one removes a node.
"""
from __future__ import annotations

import collections
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.server.live import Live, one_node, status_of

from .ws_recorder import WsRecorder

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]
TXT2IMG = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
TOKEN = "nodeflow-test-token-0123456789abcdef"


def txt2img(seed: int, checkpoint: str = "nodeflow-tiny", steps: int = 4) -> dict:
    workflow = copy.deepcopy(TXT2IMG)
    workflow["nodes"]["ckpt"]["inputs"]["checkpoint"] = checkpoint
    workflow["nodes"]["sample"]["inputs"].update(seed=seed, steps=steps)
    return workflow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes with one logical GPU each (the head node runs no worker), token auth on."""
    folder = tmp_path_factory.mktemp("ray")
    (folder / "token").write_text(TOKEN)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH",
                                            "PYTHONPATH")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(folder / "token"),
                      PYTHONPATH=str(ROOT))  # before ray is imported: it reads them once
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 80 * 1024**2})
    nodes = [made.add_node(num_cpus=1, num_gpus=1, object_store_memory=80 * 1024**2)
             for _ in range(2)]
    made.wait_for_nodes()
    made.connect(namespace="nodeflow")
    made.gpu_nodes = nodes
    yield made
    ray.shutdown()
    made.shutdown()
    from nodeflow.cluster.actor import sweep_stale_scratch

    sweep_stale_scratch()  # the worker of the removed node had no chance to clean up
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("head") / "home"
    checkpoints = base / "models" / "checkpoints"
    # copies of the built-in model, not links (the cache keys): tiny-a and tiny-b for
    # affinity, tiny-c and tiny-d for two prompts that no worker has a reason to wait for
    for name in ("tiny-a", "tiny-b", "tiny-c", "tiny-d"):
        shutil.copytree(ROOT / "models" / "nodeflow-tiny", checkpoints / name)
    live = Live(base, "--ray", cluster.address)
    shutil.copy(Path(__file__).with_name("probe_pack.py"), base / "custom_nodes")
    live.start()
    live.wait_for(lambda: len(up(live)) == 2, timeout=90, what="two workers ready")
    yield live
    live.stop()


def workers(live: Live) -> list[dict]:
    return live.get("/system_stats")["nodeflow"]["worker"]["workers"]


def up(live: Live) -> list[dict]:
    return [w for w in workers(live) if w["state"] in ("idle", "running")]


def running_on(live: Live, prompt_id: str) -> dict:
    return live.wait_for(lambda: next((w for w in workers(live) if w["running"] == prompt_id),
                                      None), what=f"{prompt_id} running")


def test_prompts_run_on_both_workers_with_the_usual_messages_and_pngs_on_the_head(server):
    ws = WsRecorder(server.url, "e2e")
    try:
        # two models nobody holds yet: the second prompt goes to the idle worker at once (with
        # one model it may wait for the worker loading it, and both can run on one worker)
        ids = [server.queue(txt2img(seed, model), client_id="e2e")
               for seed, model in ((1, "tiny-c"), (2, "tiny-d"))]
        entries = [server.wait_done(i, timeout=90) for i in ids]
        for prompt_id in ids:
            ws.wait_for(prompt_id, "execution_success")
            ws.wait_for(prompt_id, "executing", timeout=5)
    finally:
        ws.close()
    assert [status_of(e) for e in entries] == ["success", "success"]
    assert {e["nodeflow"]["worker"] for e in entries} == {"gpu-0", "gpu-1"}
    names = sorted(e["outputs"]["save"]["images"][0]["filename"] for e in entries)
    assert names == ["txt2img_00001.png", "txt2img_00002.png"]  # as one process names them
    for prompt_id, entry in zip(ids, entries):
        kinds = ws.kinds(prompt_id)
        assert kinds[0] == "execution_start" and kinds[-2:] == ["execution_success",
                                                                "executing"]
        assert {"execution_cached", "executing", "progress", "executed"} <= set(kinds)
        [executed] = [m["data"] for m in ws.of(prompt_id) if m["type"] == "executed"]
        assert executed["output"] == entry["outputs"]["save"]
        image = entry["outputs"]["save"]["images"][0]
        with urllib.request.urlopen(f"{server.url}/view?filename={image['filename']}"
                                    "&type=output", timeout=10) as response:
            served = response.read()
        assert served[:8] == b"\x89PNG\r\n\x1a\n"
        assert (server.base / "output" / image["filename"]).read_bytes() == served
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "libtorch" not in maps and "_raylet" in maps  # the head needs no torch


def test_prompts_go_to_the_worker_that_holds_their_model(server):
    before = {w["name"]: w["loads"] for w in workers(server)}
    ids = {name: [] for name in ("tiny-a", "tiny-b")}
    for round_ in range(3):
        for name in ids:
            ids[name].append(server.queue(txt2img(round_, name)))
    ran_on = {name: {server.wait_done(i, timeout=90)["nodeflow"]["worker"] for i in found}
              for name, found in ids.items()}
    assert all(len(w) == 1 for w in ran_on.values()) and ran_on["tiny-a"] != ran_on["tiny-b"]
    after = {w["name"]: w["loads"] for w in workers(server)}
    loaded = {name: after[name] - before[name] for name in after}
    assert len(set(loaded.values())) == 1 and min(loaded.values()) > 0, loaded  # once each


def test_interrupt_reaches_a_remote_run(server):
    prompt_id = server.queue(one_node("Wait", seconds=60.0))
    running_on(server, prompt_id)
    asked = time.monotonic()
    status, answer = server.request("POST", "/interrupt", {"prompt_id": prompt_id})
    assert status == 200 and answer == {"interrupted": True}
    entry = server.wait_done(prompt_id, timeout=20)
    assert status_of(entry) == "interrupted" and time.monotonic() - asked < 10
    deleted = server.queue(one_node("Wait", seconds=60.0))
    running_on(server, deleted)
    status, answer = server.request("POST", "/queue", {"delete": [deleted]})
    assert status == 200 and answer == {"removed": 1}
    assert status_of(server.wait_done(deleted, timeout=20)) == "interrupted"


def test_a_node_error_is_a_result_never_retried(server):
    entry = server.wait_done(server.queue(one_node("Raise", kind="ValueError")), timeout=30)
    assert status_of(entry) == "error" and entry["nodeflow"]["attempts"] == 1
    assert "boom" in entry["nodeflow"]["error"]["message"]


def test_an_input_image_reaches_a_worker_on_another_node_by_content(server):
    from PIL import Image

    (server.base / "input").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 60)).save(server.base / "input" / "red.png")
    assert not any(w["shares_head_files"] for w in workers(server))  # so the file must travel
    entry = server.wait_done(server.queue({"nodeflow": 1, "nodes": {
        "load": {"type": "LoadImage", "inputs": {"image": "red.png"}},
        "save": {"type": "SaveImage", "inputs": {"images": {"node": "load", "output": "image"},
                                                 "prefix": "shipped"}}}}), timeout=60)
    assert status_of(entry) == "success", entry["nodeflow"]
    saved = entry["outputs"]["save"]["images"][0]["filename"]
    assert saved == "shipped_00001.png"
    with Image.open(server.base / "output" / saved) as picture:
        assert picture.convert("RGB").getpixel((4, 4)) == (200, 30, 60)


def test_a_killed_worker_loses_nothing_its_prompt_finishes_on_the_other(server, cluster):
    import ray

    ws = WsRecorder(server.url, "kill")
    try:
        slow = server.queue(one_node("Wait", seconds=3.0, tag=1), client_id="kill")
        quick = [server.queue(one_node("Wait", seconds=0.0, tag=i), client_id="kill")
                 for i in range(2, 6)]
        victim = running_on(server, slow)
        ws.wait_for(slow, "execution_start")
        ray.kill(ray.get_actor(f"nodeflow-worker-{victim['name']}"), no_restart=False)
        entry = server.wait_done(slow, timeout=60)
        others = [server.wait_done(i, timeout=60) for i in quick]
    finally:
        ws.close()
    assert status_of(entry) == "success"
    assert entry["nodeflow"]["worker"] != victim["name"] and entry["nodeflow"]["attempts"] == 2
    assert ws.kinds(slow).count("execution_start") == 2  # the clients saw it start again
    assert [status_of(e) for e in others] == ["success"] * 4
    server.wait_for(lambda: len(up(server)) == 2, timeout=90, what="the worker restarted")
    restarted = next(w for w in workers(server) if w["name"] == victim["name"])
    assert restarted["restarts"] == 1 and restarted["pid"] != victim["pid"]
    leftovers = Path(tempfile.gettempdir()).glob(f"nodeflow-worker-{victim['pid']}-*")
    assert not list(leftovers)  # the killed worker's scratch folder was swept


def test_the_custom_nodes_folder_reaches_the_workers_through_runtime_env(server):
    entry = server.wait_done(server.queue(one_node("WhereAmI")), timeout=60)
    path, pid = entry["outputs"]["n"]["text"]
    assert "runtime_resources" in path and not path.startswith(str(server.base))
    assert int(pid) in {w["pid"] for w in workers(server)}


def test_a_fan_out_of_four_seeds_is_one_history_entry(server):
    ws = WsRecorder(server.url, "fan")
    try:
        prompt_id = server.queue(txt2img(10), client_id="fan", extra_data={
            "fan_out": {"node": "sample", "input": "seed", "values": [10, 11, 12, 13]}})
        entry = server.wait_done(prompt_id, timeout=90)
        ws.wait_for(prompt_id, "execution_success")
    finally:
        ws.close()
    assert status_of(entry) == "success", entry["nodeflow"]
    images = entry["outputs"]["save"]["images"]
    assert len(images) == 4 and len({i["filename"] for i in images}) == 4
    pictures = {(server.base / "output" / i["filename"]).read_bytes() for i in images}
    assert len(pictures) == 4  # four seeds, four different images
    kinds = ws.kinds(prompt_id)
    assert kinds.count("execution_start") == 1 and kinds.count("execution_success") == 1
    assert kinds.count("executed") == 4 and kinds[-1] == "executing"


def test_two_hundred_prompts_all_complete_exactly_once(server, tmp_path):
    tally = tmp_path / "tally.txt"
    ids = [server.queue(one_node("Tally", path=str(tally), tag=i)) for i in range(200)]
    server.wait_for(lambda: set(ids) <= set(server.get("/history?max_items=1000")),
                    timeout=120, what="200 prompts done")
    history = server.get("/history?max_items=1000")
    assert all(status_of(history[i]) == "success" for i in ids)
    counts = collections.Counter(tally.read_text().split())
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert {history[i]["nodeflow"]["worker"] for i in ids} == {"gpu-0", "gpu-1"}


def test_a_wrong_cluster_token_is_one_clear_sentence(cluster, tmp_path):
    env = {**os.environ, "RAY_AUTH_TOKEN": "not-the-token-" + "0" * 20,
           "RAY_gcs_server_port_wait_time_s": "2"}  # Ray's retries: ~20 s by default
    env.pop("RAY_AUTH_TOKEN_PATH")
    done = subprocess.run([sys.executable, "-m", "nodeflow", "serve", "--base-dir",
                           str(tmp_path), "--port", "0", "--ray", cluster.address], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "refused this process's token" in done.stderr and "Traceback" not in done.stderr


def test_a_removed_node_requeues_its_prompt_on_the_other(server, cluster):
    slow = server.queue(one_node("Wait", seconds=3.0, tag=99))
    victim = running_on(server, slow)
    node = next(n for n in cluster.gpu_nodes if n.node_id == victim["node_id"])
    cluster.remove_node(node)
    entry = server.wait_done(slow, timeout=60)
    assert status_of(entry) == "success" and entry["nodeflow"]["worker"] != victim["name"]
    after = server.wait_done(server.queue(one_node("Wait", seconds=0.0, tag=100)), timeout=30)
    assert status_of(after) == "success"
