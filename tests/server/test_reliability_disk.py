"""Issue 13, points 1 and 10: a full disk, made real with a small tmpfs holding the base
folder (mounting needs root, as in CI's container; elsewhere the test cannot make a disk
full honestly and says so). The server says the disk is full, queues nothing it cannot
store, and carries on by itself once there is room."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from .conftest import png_bytes
from .live import one_node, quick, status_of

SIZE_MB = 24


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder) -> "os.PathLike":
    """Fill the file system to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_reported_plainly_and_heals(live_server, small_disk):
    live = live_server(base=small_disk / "home")
    assert status_of(live.wait_done(live.queue(quick()))) == "success"
    pending_before = live.queue(one_node("Wait", seconds=1.0))
    filler = fill(small_disk)

    status, ready = live.request("GET", "/ready")
    assert status == 503, ready
    assert any("disk" in p and "is full" in p for p in ready["problems"]), ready

    # queueing more says so too (507), unless SQLite still had room in its own files
    statuses = set()
    for i in range(50):
        status, body = live.request("POST", "/prompt", {"prompt": one_node(
            "Wait", seconds=0.0, tag=i), "extra_data": {"pad": "x" * 20000}})
        statuses.add(status)
        if status != 200:
            assert status == 507, body
            assert body["error"]["type"] == "disk_full"
            assert "is full" in body["error"]["message"]
            break
    assert 507 in statuses
    # files the API writes (an upload, a saved workflow) say so too
    boundary = "nfboundary"
    image = png_bytes(size=(256, 256))
    upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
              f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + image \
        + f"\r\n--{boundary}--\r\n".encode()
    status, body = live.request("POST", "/upload/image", raw=upload, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 507 and body["error"]["type"] == "disk_full", (status, body)
    saved = {**quick(), "description": "x" * 200_000}
    status, body = live.request("PUT", "/workflows/saved", saved)
    assert status == 507 and "is full" in body["error"]["message"], (status, body)
    stats = live.get("/system_stats")["nodeflow"]
    assert stats["worker"]["alive"]
    assert not stats["disk"]["ok"]

    os.remove(filler)
    live.wait_for(lambda: live.request("GET", "/ready")[0] == 200, what="ready again")
    assert status_of(live.wait_done(pending_before)) == "success"
    after = live.queue(one_node("WriteFile", name=f"{uuid.uuid4().hex}.bin", kib=4))
    assert status_of(live.wait_done(after)) == "success"


def test_a_node_writing_to_a_full_disk_fails_with_a_sentence(live_server, small_disk,
                                                              tmp_path):
    base = tmp_path / "home"
    base.mkdir()
    (base / "output").symlink_to(small_disk)  # output/ on the small disk, the queue is not
    live = live_server(base=base)
    filler = fill(small_disk)
    try:
        entry = live.wait_done(live.queue(one_node("WriteFile", kib=1024)))
        assert status_of(entry) == "error"
        message = entry["nodeflow"]["error"]["message"]
        assert message.startswith("the disk is full") and "No space left" in message
        assert entry["status"]["messages"][-1][1]["exception_message"] == message
        assert status_of(live.wait_done(live.queue(quick()))) == "success"
    finally:
        os.remove(filler)
