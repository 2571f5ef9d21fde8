"""Issue 13, point 7: a queue database that is garbage, someone else's, emptied, read-only or
has a damaged page. The server says so in one sentence that names the recovery command
(never a traceback), and ``nodeflow db-recover`` keeps what can be read and moves the bad
file aside."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from nodeflow.server.queue_store import QueueItem, QueueStore, Outcome

from .live import ROOT, free_port, quick, status_of


def serve_once(base) -> subprocess.CompletedProcess:
    """Start ``nodeflow serve`` on ``base`` and expect it to refuse at once."""
    return subprocess.run([sys.executable, "-m", "nodeflow", "serve", "--base-dir", str(base),
                           "--port", str(free_port())], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def db_recover(base) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nodeflow", "db-recover", "--base-dir",
                           str(base)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)


def assert_refused_plainly(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("nodeflow serve:")]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def history_db(base, entries: int = 400) -> None:
    """A queue database with ``entries`` finished prompts of about 1 KB each, and one
    pending prompt, written by the store as a server would."""
    store = QueueStore(base / "queue.sqlite3")
    for i in range(entries + 1):
        item = QueueItem(f"p{i:04d}", i, quick(), quick(), {"pad": "x" * 1000}, ["n"], None)
        store.add(item)
        if i < entries:
            store.take_next()
            store.finish(item.prompt_id, Outcome("success", outputs={"n": {"i": [i]}}))
    store.close()


def test_garbage_and_foreign_files_are_refused_with_the_recovery_command(tmp_path):
    base = tmp_path / "home"
    base.mkdir()
    (base / "queue.sqlite3").write_bytes(os.urandom(8192))
    assert_refused_plainly(serve_once(base), "is damaged", "nodeflow db-recover")

    (base / "queue.sqlite3").unlink()
    other = sqlite3.connect(base / "queue.sqlite3")
    other.execute("CREATE TABLE notes (body TEXT)")
    other.commit()
    other.close()
    assert_refused_plainly(serve_once(base), "not a nodeflow queue database")


def test_an_emptied_file_is_not_silently_taken_for_a_new_queue(tmp_path, live_server):
    base = tmp_path / "home"
    base.mkdir()
    history_db(base, entries=3)
    os.truncate(base / "queue.sqlite3", 0)
    for leftover in ("queue.sqlite3-wal", "queue.sqlite3-shm"):
        (base / leftover).unlink(missing_ok=True)
    assert_refused_plainly(serve_once(base), "is empty", "history", "nodeflow db-recover")
    assert "kept 0" in db_recover(base).stdout
    assert [p.name for p in base.glob("queue.sqlite3.damaged-*")]
    live = live_server(base=base)
    assert status_of(live.wait_done(live.queue(quick()))) == "success"


def test_a_damaged_page_is_refused_and_db_recover_keeps_the_rest(tmp_path, live_server):
    base = tmp_path / "home"
    base.mkdir()
    history_db(base)
    path = base / "queue.sqlite3"
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    pages = path.stat().st_size // page
    with open(path, "r+b") as db:  # one page in the middle of the table, overwritten
        db.seek(page * (pages // 2))
        db.write(os.urandom(page))
    assert_refused_plainly(serve_once(base), "is damaged", "nodeflow db-recover")

    report = db_recover(base).stdout
    assert "kept" in report and "damaged file is now" in report
    kept = int(report.split("kept ")[1].split()[0])
    assert 300 <= kept <= 401, report
    assert len(list(base.glob("queue.sqlite3.damaged-????????-??????"))) == 1

    live = live_server(base=base)
    history = live.get("/history")
    recovered = {p: e for p, e in history.items() if "i" in e["outputs"]["n"]}
    assert len(recovered) >= kept - 1
    assert all(e["outputs"]["n"]["i"] == [int(p[1:])] for p, e in recovered.items())
    assert status_of(live.wait_done(live.queue(quick()))) == "success"


def test_a_read_only_database_is_refused_plainly(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to make read-only (needs root): {done.stderr}")
    try:
        base = mount / "home"
        base.mkdir()
        history_db(base, entries=2)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        assert_refused_plainly(serve_once(base), str(base / "queue.sqlite3"))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_damage_found_while_running_gives_503s_that_name_the_recovery(tmp_path, live_server):
    base = tmp_path / "home"
    base.mkdir()
    history_db(base, entries=7000)  # larger than SQLite's page cache: reads go to the file
    live = live_server(base=base)
    path = base / "queue.sqlite3"
    with open(path, "r+b") as db:
        for page in range(3, 300):
            db.seek(4096 * page)
            db.write(os.urandom(4096))
    status, body = live.request("GET", "/history")
    assert status == 503, (status, str(body)[:300])
    assert body["error"]["type"] == "database_damaged"
    assert "nodeflow db-recover" in body["error"]["message"]
    live.request("GET", "/history?max_items=1")  # a read that still works does not hide it
    status, ready = live.request("GET", "/ready")
    assert status == 503 and ready["database"]["fault"] == "database_damaged", ready
    assert live.get("/system_stats")["nodeflow"]["ready"] is False
