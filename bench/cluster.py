"""Prompts per minute through ``nodeflow serve --ray`` with 1 worker and with 2.

    python bench/cluster.py [--prompts 24] [--steps 20] [--size 32] [--gpu]

For each worker count, starts a server with a local Ray cluster (``--ray --ray-workers N``,
or with ``--gpu`` one worker per GPU, limited to N by CUDA_VISIBLE_DEVICES), warms every
worker up (one prompt each: the model loads), then queues ``--prompts`` txt2img prompts on the
built-in model, each with its own seed, and times them until the last is in the history.
Prints prompts/minute per worker count and the ratio against one worker, measured in the same
run. Nothing is asserted. On the 2-core CI machine two CPU workers share two cores with the
server and Ray, so the gain is small; on a machine with GPUs use ``--gpu``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TXT2IMG = json.loads((ROOT / "workflows" / "txt2img.json").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prompt(seed: int, steps: int, size: int) -> dict:
    workflow = copy.deepcopy(TXT2IMG)
    workflow["nodes"]["sample"]["inputs"].update(seed=seed, steps=steps)
    workflow["nodes"]["latent"]["inputs"].update(width=size, height=size)
    return workflow


class Server:
    def __init__(self, workers: int, gpu: bool):
        self.base = Path(tempfile.mkdtemp(prefix="nodeflow-bench-cluster-"))
        self.url = f"http://127.0.0.1:{free_port()}"
        args = ["--ray"] if gpu else ["--ray", "--ray-workers", str(workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if gpu:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(workers))
        self.log = open(self.base / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nodeflow", "serve", "--base-dir", str(self.base / "home"),
             "--port", self.url.rsplit(":", 1)[1], *args], env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        self.workers = workers

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def queue(self, workflow: dict) -> str:
        body = json.dumps({"prompt": workflow}).encode()
        request = urllib.request.Request(self.url + "/prompt", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["prompt_id"]

    def ready_workers(self) -> int:
        try:
            workers = self.get("/system_stats")["nodeflow"]["worker"].get("workers", [])
        except OSError:
            return 0
        return sum(w["state"] in ("idle", "running") for w in workers)

    def wait(self, ids: list[str], timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get("/history?max_items=100000")
            if all(i in history for i in ids):
                failed = [i for i in ids if history[i]["nodeflow"]["status"] != "success"]
                if failed:
                    raise SystemExit(f"{len(failed)} prompts failed: "
                                     f"{history[failed[0]]['nodeflow']['error']}")
                return
            time.sleep(0.2)
        raise SystemExit("timed out")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def measure(workers: int, args: argparse.Namespace) -> float:
    server = Server(workers, args.gpu)
    try:
        start = time.monotonic()
        while server.ready_workers() < workers:
            if server.process.poll() is not None or time.monotonic() - start > 300:
                raise SystemExit(f"the server did not get {workers} workers ready; see "
                                 f"{server.base / 'server.log'}")
            time.sleep(0.5)
        print(f"  {workers} worker(s) ready after {time.monotonic() - start:.1f} s", flush=True)
        server.wait([server.queue(prompt(10_000 + i, args.steps, args.size))
                     for i in range(workers * 2)])  # every worker loads the model
        began = time.monotonic()
        server.wait([server.queue(prompt(i, args.steps, args.size))
                     for i in range(args.prompts)])
        return args.prompts / ((time.monotonic() - began) / 60)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--gpu", action="store_true", help="GPU workers (one per GPU)")
    args = parser.parse_args()
    print(f"{args.prompts} txt2img prompts, {args.steps} steps, {args.size}x{args.size}, "
          f"{'GPU' if args.gpu else 'CPU'} workers, {os.cpu_count()} CPU cores")
    rates = {n: measure(n, args) for n in (1, 2)}
    for n, rate in rates.items():
        print(f"{n} worker(s): {rate:7.1f} prompts/min  ({rate / rates[1]:.2f}x one worker)")


if __name__ == "__main__":
    main()
