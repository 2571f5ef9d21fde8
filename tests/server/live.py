"""A real ``nodeflow serve`` process for the reliability tests: its own base folder, port and
SQLite file, the fault nodes installed as a custom pack, and helpers to talk to it.

Faults are injected from outside the process (kill -9, another process holding the database
lock, a full file system, bytes overwritten in the database file), as a user would meet them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAULT_NODES = Path(__file__).with_name("fault_nodes.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Live:
    """One server process on ``base``; :meth:`start` again after a kill restarts it there."""

    def __init__(self, base: Path, *args: str, python: str = sys.executable):
        self.base = base
        self.args = args
        self.python = python
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = base.parent / f"server-{self.port}.log"
        (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
        shutil.copy(FAULT_NODES, base / "custom_nodes" / "fault_nodes.py")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "Live":
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [self.python, "-m", "nodeflow", "serve", "--base-dir", str(self.base),
                 "--port", str(self.port), *self.args], cwd=self.base.parent, env=env,
                stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n"
                                     f"{self.output()}")
            try:
                self.get("/system_stats", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"the server did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def request(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 10.0) -> tuple[int, object]:
        """(status, parsed JSON or text). Never raises for an HTTP error status."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        head = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={**head, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path: str, timeout: float = 10.0) -> object:
        status, data = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {data}")
        return data

    def queue(self, prompt: dict, **extra) -> str:
        status, data = self.request("POST", "/prompt", {"prompt": prompt, **extra})
        assert status == 200, data
        return data["prompt_id"]

    def wait_done(self, prompt_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry is not None:
                return entry
            time.sleep(0.05)
        raise AssertionError(f"{prompt_id} did not finish in {timeout} s:\n{self.output()}")

    def wait_for(self, check, timeout: float = 20.0, what: str = "a condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output()[-3000:]}")


def one_node(type_name: str, **inputs) -> dict:
    return {"nodeflow": 1, "nodes": {"n": {"type": type_name, "inputs": inputs}}}


def quick() -> dict:
    """The quickest real prompt: wait zero seconds."""
    return one_node("Wait", seconds=0.0)


def status_of(entry: dict) -> str:
    return entry["nodeflow"]["status"]


def error_of(entry: dict) -> dict:
    return entry["nodeflow"]["error"]


def kill9(live: Live) -> None:
    live.process.send_signal(signal.SIGKILL)
    live.process.wait()
