"""Issue 13, points 1 and 4, against a real server process: whatever a node raises and
whatever happens to the database, the worker keeps going or says why it cannot, and the
server process survives."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .live import error_of, one_node, quick, status_of

LOCK_SCRIPT = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt", "GeneratorExit"])
def test_a_node_raising_a_process_ending_exception_fails_only_its_prompt(live_server, kind):
    live = live_server()
    before = live.queue(quick())
    bad = live.queue(one_node("Raise", kind=kind))
    after = [live.queue(one_node("Wait", seconds=0.0, tag=i)) for i in range(3)]
    entry = live.wait_done(bad)
    assert status_of(entry) == "error"
    assert error_of(entry)["type"] == kind and error_of(entry)["node"] == "n"
    assert f"raised {kind}" in error_of(entry)["message"]
    for prompt_id in [before, *after]:
        assert status_of(live.wait_done(prompt_id)) == "success"
    assert live.process.poll() is None, "the server process died"
    status, ready = live.request("GET", "/ready")
    assert status == 200 and ready["worker"]["state"] in ("idle", "running"), ready


def test_a_lock_held_by_another_process_is_reported_and_healed(live_server):
    live = live_server()
    slow = live.queue(one_node("Wait", seconds=1.5))
    waiting = [live.queue(one_node("Wait", seconds=0.0, tag=i)) for i in range(3)]
    locker = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(live.base /
                              "queue.sqlite3")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        status, body = live.request("POST", "/prompt", {"prompt": quick()})
        assert status == 503, body
        assert body["error"]["type"] == "database_locked"
        assert "locked by another process" in body["error"]["message"]
        # the event loop never waits for the lock: other routes answer at once meanwhile
        for _ in range(5):
            t0 = time.monotonic()
            live.get("/system_stats")
            assert time.monotonic() - t0 < 0.5
        # the slow prompt ends while the lock is held: its outcome cannot be stored yet
        ready = live.wait_for(lambda: _not_ready(live), what="/ready to report the lock")
        assert any("locked by another process" in p for p in ready["problems"]), ready
        stats = live.get("/system_stats")["nodeflow"]
        assert stats["worker"]["alive"], stats
        assert time.monotonic() - started < 15
    finally:
        locker.communicate("\n", timeout=10)
    # released: the outcome is recorded, the rest of the queue runs, the server is ready
    assert status_of(live.wait_done(slow)) == "success"
    for prompt_id in waiting:
        assert status_of(live.wait_done(prompt_id)) == "success"
    live.wait_for(lambda: live.request("GET", "/ready")[0] == 200, what="ready again")
    assert status_of(live.wait_done(live.queue(quick()))) == "success"


def _not_ready(live):
    status, body = live.request("GET", "/ready")
    return body if status == 503 else None
