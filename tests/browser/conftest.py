"""Browser tests: the real server (in a thread, on 127.0.0.1 and a free port, with a tmp base
folder holding a tiny checkpoint) and Debian's Chromium driven by playwright.

Chromium comes from the system (`apt-get install chromium`), never from `playwright install`.
In CI (CI=true) the tests must run; elsewhere they skip when Chromium or playwright is missing.
One browser and one page serve the whole folder: the machines are small.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("NODEFLOW_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
TINY_CHECKPOINT = "tiny-sd1.safetensors"

try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False


def pytest_collection_modifyitems(config, items):
    # The browser tests run last: playwright's sync API keeps an event loop running in the main
    # thread for the rest of the session, which the asyncio tests (tests/server) cannot share.
    here = Path(__file__).parent
    browser = [item for item in items if Path(item.fspath).is_relative_to(here)]
    items[:] = [item for item in items if item not in browser] + browser
    missing = None
    if not HAVE_PLAYWRIGHT:
        missing = "playwright is not installed (pip install playwright pytest-playwright)"
    elif not shutil.which(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing is None or IN_CI:  # in CI they run, and fail loudly when something is missing
        return
    for item in browser:
        item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]}


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    from tests.sd.conftest import install_tiny

    base = tmp_path_factory.mktemp("browser-home")
    install_tiny(base, "sd1", "single_file", name=TINY_CHECKPOINT)
    shutil.rmtree(base / "build", ignore_errors=True)
    return base


@contextlib.contextmanager
def running_server(base_dir: Path, **config):
    """The nodeflow server for ``base_dir`` on a free loopback port, in a thread; yields its
    URL. ``config`` goes to ServerConfig (e.g. dev=True)."""
    from aiohttp import web

    from nodeflow.server import ServerConfig, create_app
    from nodeflow.settings import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loop = asyncio.new_event_loop()
    app = create_app(Settings(base_dir=base_dir), config=ServerConfig(**config))
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="nodeflow-test-server", daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextlib.contextmanager
def comfy_pack_server(tmp_path_factory, *packs: Path):
    """A server of its own whose custom_nodes holds the ComfyUI ``packs`` (folders); yields
    its URL, and takes the ComfyUI shim modules out of this process afterwards."""
    base = tmp_path_factory.mktemp("comfy-home")
    for pack in packs:
        shutil.copytree(pack, base / "custom_nodes" / pack.name)
    try:
        with running_server(base) as url:
            yield url
    finally:
        from nodeflow.comfy_compat.shims import uninstall
        uninstall()


@pytest.fixture(scope="session")
def server(base_dir):
    """The nodeflow server on a free loopback port; yields its URL."""
    with running_server(base_dir) as url:
        yield url


@pytest.fixture(scope="session")
def shared_page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # a console error is a failure too (a missing file such as favicon.ico shows as one);
    # the 400 that answers a workflow with problems is the server's reply, shown on the nodes
    page.on("console", lambda message: page.errors.append(f"console: {message.text}")
            if message.type == "error" and "status of 400" not in message.text else None)
    yield page
    context.close()


@pytest.fixture
def editor(shared_page, server):
    """The editor, freshly loaded with nothing stored from an earlier test."""
    page = shared_page
    _wait_for_an_idle_queue(page, server)  # an earlier test's run must not reach this page
    page.goto(server + "/")
    page.evaluate("localStorage.clear(); sessionStorage.clear()")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.errors.clear()
    yield page
    assert page.errors == [], page.errors


def _wait_for_an_idle_queue(page, server: str, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = page.request.get(server + "/queue").json()
        if not queue["queue_running"] and not queue["queue_pending"]:
            return
        time.sleep(0.2)
    raise AssertionError("the server's queue did not empty")
