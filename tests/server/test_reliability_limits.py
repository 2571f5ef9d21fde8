"""Issue 13, points 5 and 8, against a real server process: oversized prompts are refused
before anything is allocated, with a 400 that names the node and input; /system_stats
answers 200 while the first run imports torch."""
from __future__ import annotations

import threading
import time

from .live import one_node, status_of


def with_show(nodes: dict, source: str, output: str) -> dict:
    """``nodes`` plus a ShowValue of one of their outputs, so the prompt has an output."""
    return {"nodeflow": 1, "nodes": {**nodes, "show": {"type": "ShowValue", "inputs": {
        "value": {"node": source, "output": output}}}}}


def refused_input(response) -> tuple[str, str, dict]:
    status, body = response
    assert status == 400, (status, str(body)[:500])
    assert body["error"]["type"] == "prompt_too_large", body["error"]
    ((node, entry),) = body["node_errors"].items()
    (error,) = entry["errors"]
    return node, error["extra_info"]["input_name"], error


def test_oversized_prompts_are_refused_up_front(live_server):
    live = live_server()
    huge = with_show({"latent": {"type": "EmptyLatent", "inputs": {
        "width": 8192, "height": 8192, "batch_size": 64}}}, "latent", "latent")
    started = time.monotonic()
    node, name, error = refused_input(live.request("POST", "/prompt", {"prompt": huge}))
    assert (node, name) == ("latent", "width")
    assert "8192x8192 pixels x batch 64" in error["message"] and "max_pixels" in error["message"]
    assert time.monotonic() - started < 5

    linked = with_show({"size": {"type": "PrimitiveInt", "inputs": {"value": 8192}},
                        "latent": {"type": "EmptyLatent", "inputs": {
                            "width": {"node": "size", "output": "int"},
                            "height": {"node": "size", "output": "int"}}}},
                       "latent", "latent")
    assert refused_input(live.request("POST", "/prompt", {"prompt": linked}))[:2] == (
        "latent", "width")

    text = with_show({"text": {"type": "PrimitiveString", "inputs": {
        "value": "a lighthouse " * 80_000}}}, "text", "string")
    node, name, error = refused_input(live.request("POST", "/prompt", {"prompt": text}))
    assert (node, name) == ("text", "value") and "max_text_chars" in error["message"]

    comfy = {"5": {"class_type": "EmptyLatentImage", "inputs": {
        "width": 8192, "height": 8192, "batch_size": 64}}}
    assert refused_input(live.request("POST", "/prompt", {"prompt": comfy}))[:2] == (
        "5", "width")

    fits = {"nodeflow": 1, "nodes": {"latent": {"type": "EmptyLatent", "inputs": {
        "width": 512, "height": 512, "batch_size": 1}}}}
    status, body = live.request("POST", "/prompt", {"prompt": fits})
    assert status == 400 and body["error"]["type"] != "prompt_too_large"  # no output node
    assert live.process.poll() is None


def test_system_stats_answers_while_the_first_run_imports_torch(live_server):
    live = live_server()
    assert live.get("/system_stats")["system"]["pytorch_loaded"] is False
    statuses: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            statuses.append(live.request("GET", "/system_stats")[0])

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for thread in pollers:
        thread.start()
    try:
        entry = live.wait_done(live.queue(one_node("ImportTorch")), timeout=120)
    finally:
        stop.set()
        for thread in pollers:
            thread.join()
    assert status_of(entry) == "success"
    assert len(statuses) > 20 and set(statuses) == {200}, sorted(set(statuses))
    assert live.get("/system_stats")["system"]["pytorch_loaded"] is True


def test_serve_takes_the_limits_from_its_command_line(live_server):
    live = live_server("--max-pixels", "4096", "--max-text-chars", "5")
    small = with_show({"latent": {"type": "EmptyLatent", "inputs": {
        "width": 128, "height": 64}}}, "latent", "latent")
    node, name, error = refused_input(live.request("POST", "/prompt", {"prompt": small}))
    assert (node, name) == ("latent", "width") and "limit is 4096" in error["message"]
    text = with_show({"t": {"type": "PrimitiveString", "inputs": {"value": "123456"}}},
                     "t", "string")
    assert refused_input(live.request("POST", "/prompt", {"prompt": text}))[:2] == (
        "t", "value")
