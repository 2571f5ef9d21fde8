"""Fixtures for the server tests: a base folder in tmp, a registry of stub SD nodes, the app
on aiohttp's test server (127.0.0.1 only), and helpers for waiting on runs.

Modules of async tests set ``pytestmark = pytest.mark.asyncio`` (pytest-asyncio's strict
mode); sync tests live in their own modules."""
from __future__ import annotations

import asyncio
import io

import pytest
import pytest_asyncio
from PIL import Image as PILImage

from nodeflow.registry import PackFailure, PackInfo, Registry
from nodeflow.server import ServerConfig, create_app
from nodeflow.settings import Settings

from . import stub_nodes


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(base_dir=tmp_path / "home")
    settings.model_dir("checkpoints").mkdir(parents=True)
    (settings.model_dir("checkpoints") / "tiny.safetensors").write_bytes(b"stub")
    return settings


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(stub_nodes, PackInfo("stubs", "1.0.0", "tests/server", "builtin"))
    reg.failures.append(PackFailure("broken_pack", "custom_nodes/broken_pack.py",
                                    "ImportError: No module named 'nope' (at broken_pack.py:1)"))
    return reg


@pytest.fixture
def make_app(settings, registry):
    def make(**config):
        return create_app(settings, registry=registry, config=ServerConfig(**config))
    return make


@pytest_asyncio.fixture
async def client(aiohttp_client, make_app):
    return await aiohttp_client(make_app())


def png_bytes(size=(8, 8), color=(10, 20, 30), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def txt2img(seed: int = 1, steps: int = 2, sampler_type: str = "KSampler") -> dict:
    """A nodeflow workflow with every stage of text-to-image."""
    link = lambda node, output: {"node": node, "output": output}
    return {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "tiny.safetensors"}},
        "pos": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"),
                                                 "text": "a lighthouse"}},
        "neg": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": ""}},
        "latent": {"type": "EmptyLatent", "inputs": {"width": 64, "height": 64}},
        "sample": {"type": sampler_type, "inputs": {
            "model": link("ckpt", "model"), "positive": link("pos", "conditioning"),
            "negative": link("neg", "conditioning"), "latent": link("latent", "latent"),
            "seed": seed, "steps": steps}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("sample", "latent"),
                                                   "vae": link("ckpt", "vae")}},
        "save": {"type": "SaveImage", "inputs": {"images": link("decode", "image"),
                                                 "prefix": "test"}},
    }}


async def queue(client, prompt, client_id=None, **extra) -> str:
    body = {"prompt": prompt, **extra}
    if client_id is not None:
        body["client_id"] = client_id
    response = await client.post("/prompt", json=body)
    data = await response.json()
    assert response.status == 200, data
    return data["prompt_id"]


async def wait_done(client, prompt_id: str, timeout: float = 10.0) -> dict:
    """The history entry of ``prompt_id`` once it has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        response = await client.get(f"/history/{prompt_id}")
        data = await response.json()
        if prompt_id in data:
            return data[prompt_id]
        await asyncio.sleep(0.02)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")


async def receive_until(ws, done, timeout: float = 10.0) -> list:
    """Messages (dicts for JSON, bytes for binary frames) up to and including the first for
    which ``done(message)`` is true."""
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type.name == "TEXT":
                messages.append(msg.json())
            elif msg.type.name == "BINARY":
                messages.append(msg.data)
            else:
                raise AssertionError(f"websocket closed: {msg.type.name}")
            if done(messages[-1]):
                return messages


def finished(prompt_id: str):
    """True for the message that ends a run: executing with node None."""
    return lambda m: (isinstance(m, dict) and m["type"] == "executing"
                      and m["data"]["node"] is None and m["data"]["prompt_id"] == prompt_id)


def kinds(messages, prompt_id: str | None = None) -> list[str]:
    """The JSON message types, without status messages, optionally for one prompt."""
    out = []
    for m in messages:
        if isinstance(m, bytes):
            out.append("<preview>")
        elif m["type"] != "status" and (prompt_id is None
                                        or m["data"].get("prompt_id") == prompt_id):
            out.append(m["type"])
    return out


@pytest.fixture
def live_server(tmp_path):
    """Start real ``nodeflow serve`` processes (see live.py); all are stopped at the end."""
    from .live import Live

    started = []

    def start(*args: str, base=None, wait: bool = True) -> Live:
        live = Live(base or tmp_path / "home", *args)
        started.append(live)
        return live.start(wait=wait)

    yield start
    for live in started:
        live.stop()
