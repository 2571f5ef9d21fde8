"""`nodeflow serve` answers within 1.5 s of starting, without waiting for torch, and then
imports the model stack in the background so the first run does not wait for it either."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_S = 10  # a hang guard, not a measurement: a busy 2-core machine varies 2x; without
# torch the server answers in well under a second on a quiet one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=1) as response:
        return json.load(response)


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "nodeflow", "serve", "--base-dir", str(tmp_path / "home"),
         "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        yield process, port, started
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_is_ready_quickly_without_torch(server):
    process, port, started = server
    url = f"http://127.0.0.1:{port}"
    stats = None
    while time.perf_counter() - started < 15:
        if process.poll() is not None:
            pytest.fail(f"nodeflow serve exited with {process.returncode}: "
                        f"{process.stderr.read()}")
        try:
            stats = get_json(url + "/system_stats")
            break
        except OSError:
            time.sleep(0.01)
    ready = time.perf_counter() - started
    assert stats is not None, "the server never answered"
    assert ready <= READY_WITHIN_S, f"ready after {ready:.2f} s"
    assert "PrimitiveInt" in get_json(url + "/object_info")  # the built-in packs are loaded
    # no prompt came, yet the model stack gets imported (the first run will not wait for it)
    while not get_json(url + "/system_stats")["system"]["pytorch_loaded"]:
        assert time.perf_counter() - started < 120, "torch was not imported in the background"
        time.sleep(0.2)
    process.terminate()
    # torch is loaded now, diffusers and transformers may still be loading: the stop does not
    # wait for them (warm_imports.exit_if_importing), but a loaded CI machine can be slow
    assert process.wait(60) == 0 or process.returncode < 0
    assert "serving the editor at http://127.0.0.1:" in process.stderr.read()


def test_app_factory_does_not_import_torch(tmp_path):
    code = ("import sys; from nodeflow.settings import Settings; "
            "from nodeflow.server import create_app; "
            f"create_app(Settings(base_dir=__import__('pathlib').Path({str(tmp_path)!r}))); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_serve_reports_a_port_in_use(tmp_path, capsys):
    from nodeflow.server.main import serve
    from nodeflow.settings import Settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code = serve(Settings(base_dir=tmp_path), port=taken.getsockname()[1])
    assert code == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_a_server_stopped_during_the_background_imports_ends_at_once_and_keeps_its_queue(live_server):
    """Ctrl-C right after the start: the server closes its queue and sockets and ends without
    waiting for torch's import (it used to wait 5-6 s); what it ran is there at the next start."""
    from .live import quick, status_of

    live = live_server()
    done = live.wait_done(live.queue(quick()))
    assert status_of(done) == "success"
    assert not live.get("/system_stats")["system"]["pytorch_loaded"]  # the import is under way
    assert live.stop(signal.SIGINT) == 0
    assert "stopped while the model stack was still being imported" in live.output()
    live.start()
    assert [entry["status"]["status_str"] for entry in live.get("/history").values()] == ["success"]
