"""Soak: many small prompts through a real server while websocket clients listen, one stuck.

    python bench/soak.py [COUNT] [--clients 20] [--submitters 4] [--base-dir DIR]

Starts ``nodeflow serve`` on a fresh base folder, connects ``--clients`` websocket clients
(one of them never reads, through a socket with a tiny receive buffer), and queues COUNT
prompts (default 10,000; the history holds 10,000, so the end of the run works against a full
history) from ``--submitters`` concurrent HTTP clients. Each prompt is PrimitiveInt ->
ShowValue with its own value (built-in nodes, no torch, no cache hits).

Prints submissions/s and completions/s over the first and the last 10% of the run, the
server's RSS at the start and the end, whether every reading client heard every completion,
and whether the stuck client was dropped. Goals: end throughput within 20% of the start, RSS
growth well under 100 MB, every reader complete, the stuck client dropped.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def prompt(i: int) -> dict:
    return {"nodeflow": 1, "nodes": {
        "v": {"type": "PrimitiveInt", "inputs": {"value": i}},
        "show": {"type": "ShowValue", "inputs": {"value": {"node": "v", "output": "int"}}}}}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_buffer(addr_info) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def listen(ws, count: int, done_at: list[float]) -> int:
    """Count run completions (executing with node None) until ``count`` have been heard."""
    heard = 0
    while heard < count:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        data = msg.json()
        if data["type"] == "executing" and data["data"]["node"] is None:
            heard += 1
            if done_at is not None:
                done_at.append(time.perf_counter())
    return heard


async def drain(ws) -> tuple[int, int, bool]:
    """Read what a stuck client had buffered: (messages, bytes, whether the server cut it)."""
    messages = size = 0
    try:
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    return messages, size, True
                messages, size = messages + 1, size + len(msg.data)
    except TimeoutError:
        return messages, size, False


def rate(times: list[float], part: slice) -> float:
    chosen = sorted(times)[part]
    if len(chosen) < 2 or chosen[-1] == chosen[0]:
        return float("nan")
    return (len(chosen) - 1) / (chosen[-1] - chosen[0])


async def soak(url: str, pid: int, count: int, clients: int, submitters: int) -> None:
    stuck_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        socket_factory=tiny_buffer))
    async with aiohttp.ClientSession() as session, stuck_session:
        stuck = await stuck_session.ws_connect(f"{url}/ws?clientId=stuck", autoping=False)
        readers = [await session.ws_connect(f"{url}/ws?clientId=r{i}", max_msg_size=0)
                   for i in range(clients - 1)]
        done_at: list[float] = []
        listeners = [asyncio.create_task(listen(ws, count, done_at if i == 0 else None))
                     for i, ws in enumerate(readers)]
        rss_start = rss_mb(pid)
        submitted_at: list[float] = []
        numbers = iter(range(count))

        async def submit() -> None:
            for i in numbers:
                async with session.post(f"{url}/prompt", json={"prompt": prompt(i)}) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"prompt {i}: {answer.status} {await answer.text()}")
                submitted_at.append(time.perf_counter())

        started = time.perf_counter()
        await asyncio.gather(*(submit() for _ in range(submitters)))
        heard = await asyncio.gather(*listeners)
        elapsed = time.perf_counter() - started
        rss_end = rss_mb(pid)
        async with session.get(f"{url}/system_stats") as answer:
            health = (await answer.json())["nodeflow"]
        async with session.get(f"{url}/history?max_items=1") as answer:
            assert answer.status == 200
        tenth = max(count // 10, 2)
        print(f"prompts: {count} in {elapsed:.1f} s ({count / elapsed:.1f}/s overall), "
              f"{clients} websocket clients (1 stuck), {submitters} submitters")
        print(f"submitted/s  start {rate(submitted_at, slice(0, tenth)):.1f}   "
              f"end {rate(submitted_at, slice(-tenth, None)):.1f}")
        print(f"completed/s  start {rate(done_at, slice(0, tenth)):.1f}   "
              f"end {rate(done_at, slice(-tenth, None)):.1f}")
        print(f"server RSS   start {rss_start:.0f} MB   end {rss_end:.0f} MB   "
              f"growth {rss_end - rss_start:+.0f} MB")
        taken = await drain(stuck)
        print(f"readers that heard every completion: {sum(h == count for h in heard)}/"
              f"{len(heard)}; stuck clients dropped: {health['websocket']['dropped']} "
              f"(it had taken {taken[0]} messages, {taken[1] / 1e6:.1f} MB, when "
              f"{'cut' if taken[2] else 'it read again: never cut'}); ready: {health['ready']}")
        await stuck.close()
        for ws in readers:
            await ws.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--submitters", type=int, default=4)
    parser.add_argument("--base-dir", help="default: a new temporary folder")
    args = parser.parse_args()
    base = Path(args.base_dir or tempfile.mkdtemp(prefix="nodeflow-soak-")) / "home"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base.mkdir(parents=True, exist_ok=True)
    log = base.parent / "server.log"
    with open(log, "w") as out:  # a file, not a pipe nobody reads: the server never blocks
        server = subprocess.Popen([sys.executable, "-m", "nodeflow", "serve", "--base-dir",
                                   str(base), "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        while "serving the editor" not in log.read_text():
            if server.poll() is not None:
                print(f"the server did not start:\n{log.read_text()}", file=sys.stderr)
                return 1
            time.sleep(0.05)
        asyncio.run(soak(f"http://127.0.0.1:{port}", server.pid, args.count, args.clients,
                         args.submitters))
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
