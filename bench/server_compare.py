"""Side by side through each server's HTTP API: nodeflow, and ComfyUI when you have one.

    python bench/server_compare.py [--checkpoint FILE] [--precisions fp32,auto]
        [--comfyui-dir DIR (made by bench/comfyui_install.py)
         | --comfyui-cmd "python ~/ComfyUI/main.py --cpu --port {port} --base-directory {base}"
         | --comfyui-url http://127.0.0.1:8188 [--comfyui-pid PID]]
        [--nodeflow-python PYTHON]

One client, the same ComfyUI API-format prompts for every server, sent with POST /prompt; the
end of a run is read from the /ws websocket and its outcome from /history. Every server gets
the same temporary base folder (models/checkpoints/<the checkpoint>, input/ with two 512x512
images). For each server, in this order:
  start       seconds from starting the command to GET /system_stats answering 200
  idle        seconds from starting the command until its process tree stops using the CPU
              (under 0.1 s in a second): nodeflow answers ready first and then imports the
              model stack in the background; ComfyUI imports everything before it answers
  first run   txt2img 256x256, euler, 4 steps, cfg 7: load, encode, sample, decode, save,
              sent once the server is idle; "start to first picture" is idle + first run
  seed        the same prompt with only the seed changed, twice
  vae 512     LoadImage, VAEEncode, VAEDecode, SaveImage at 512x512, twice (another image
              each time, so nothing comes from a cache)
  peak RSS    the kernel's own high-water mark of resident memory (VmHWM, from the process's
              start) summed over the server's process tree when the server stops: exact for
              one process, an upper bound for several; a child that ended earlier is covered by
              polling the tree's VmRSS every 0.1 s, and the larger of the two is reported. Polling
              alone can miss short peaks (ComfyUI's were 6.39-6.47 GB polled in three runs, 6.62 GB by
              the marks in all three rounds of the next).
              GB here, as everywhere in bench/, are 1024**3 bytes. Not measured for a server
              attached with --comfyui-url and no pid
Every server's first run uses the same seed and also saves its latent (SaveLatent); latent and
picture are compared with the first server's (with --comfyui-url, ComfyUI's output folder must
be the base folder's).
With --rounds N the whole sequence runs N times (each server started fresh every round, the
servers taking turns), and every row reports the median over the rounds: on a noisy machine one
round can move a ratio by 0.2 (not with --comfyui-url, whose server would keep its model and
its cached outputs from one round to the next). Ratios are to the first server (ComfyUI when
given, else nodeflow at the first precision), medians to medians. Nothing is asserted. With
--comfyui-dir, nodeflow runs on that folder's Python too (the same torch as ComfyUI) unless
--nodeflow-python says otherwise. The default checkpoint is bench/sd.py's random-weight SD 1.5
file stored in fp16 (made in --work if missing; --stored fp32 for the fp32 one).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def txt2img_prompt(checkpoint: str, seed: int, prefix: str = "bench") -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 256, "height": 256, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": 4, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
            "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }


def roundtrip_prompt(checkpoint: str, image: str) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "10": {"class_type": "LoadImage", "inputs": {"image": image}},
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}},
        "13": {"class_type": "SaveImage", "inputs": {"filename_prefix": "bench-vae", "images": ["12", 0]}},
    }


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (field 3 on: state, ppid, ...), None once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = stat_fields(int(entry)) if entry.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _tree_status_bytes(pid: int, field: str) -> int:
    """A /proc/PID/status memory field (kB) summed over ``pid`` and its descendants, in bytes."""
    total = 0
    for current in tree_pids(pid):
        try:
            with open(f"/proc/{current}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
        except (OSError, StopIteration):
            pass
    return total


def tree_rss_bytes(pid: int) -> int:
    """VmRSS summed over ``pid`` and its descendants (0 once it is gone)."""
    return _tree_status_bytes(pid, "VmRSS")


def tree_hwm_bytes(pid: int) -> int:
    """VmHWM (the largest VmRSS each process has had, kept by the kernel) summed over ``pid`` and
    its descendants: no peak between two polls is missed."""
    return _tree_status_bytes(pid, "VmHWM")


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by ``pid`` and its descendants."""
    ticks = 0
    for current in tree_pids(pid):
        fields = stat_fields(current)
        if fields:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, limit: float = 120.0) -> None:
    """Until the process tree used under 0.1 s of CPU in the last second (what a server does
    after answering ready, such as importing in the background, is over)."""
    deadline = time.perf_counter() + limit
    before = tree_cpu_seconds(pid)
    while time.perf_counter() < deadline:
        time.sleep(1.0)
        now = tree_cpu_seconds(pid)
        if now - before < 0.1:
            return
        before = now


class PeakRss:
    """Polls a process tree's RSS on a thread; ``stop`` gives the larger of the largest sum seen
    and the tree's high-water marks (``tree_hwm_bytes``), read before the server stops."""

    def __init__(self, pid: int | None):
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        if pid:
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, tree_rss_bytes(self.pid))

    def stop(self) -> int | None:
        if not self.pid:
            return None
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_hwm_bytes(self.pid))
        return self.peak


@dataclass
class Server:
    label: str
    url: str
    process: subprocess.Popen | None = None
    pid: int | None = None
    start_s: float | None = None
    log: Path | None = None
    started_at: float = 0.0  # perf_counter when the command was started
    idle_s: float | None = None  # start to the end of what it did after answering ready
    times: dict[str, list[float]] = field(default_factory=dict)
    peak_rss: int | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen | None, timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log else []
            raise SystemExit(f"the server exited ({process.returncode}) before it was ready:\n" + "\n".join(tail))
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")


def start(label: str, command: list[str], port: int, work: Path, timeout: float) -> Server:
    log = work / f"{label.replace(' ', '-')}.log"
    started = time.perf_counter()
    env = dict(os.environ)
    if label.startswith("nodeflow"):  # this checkout's nodeflow, whatever the Python has installed
        env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, timeout, log)
    return Server(label, url, process, process.pid, time.perf_counter() - started, log, started_at=started)


def stop(server: Server) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


async def run_prompt(server: Server, prompt: dict, timeout: float) -> float:
    """Seconds from POST /prompt to the end of the run seen on /ws; raises if it failed."""
    import aiohttp

    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.url}/ws?clientId={client_id}", max_msg_size=0) as ws:
            started = time.perf_counter()
            async with session.post(f"{server.url}/prompt",
                                    json={"prompt": prompt, "client_id": client_id}) as response:
                body = await response.json()
                if response.status != 200 or "prompt_id" not in body:
                    raise RuntimeError(f"{server.label}: POST /prompt refused: {json.dumps(body)[:500]}")
            prompt_id = body["prompt_id"]
            took = await asyncio.wait_for(_until_done(ws, prompt_id), timeout)
        for _ in range(300):  # the history entry may be written just after the last message
            async with session.get(f"{server.url}/history/{prompt_id}") as response:
                entry = (await response.json()).get(prompt_id, {})
            if entry.get("status", {}).get("status_str"):
                break
            await asyncio.sleep(0.1)
    status = entry.get("status", {})
    if status.get("status_str") != "success":
        messages = [m for m in status.get("messages", []) if m[0] == "execution_error"]
        raise RuntimeError(f"{server.label}: the prompt did not succeed: status {json.dumps(status)[:300]}, "
                           f"errors {json.dumps(messages)[:800]}")
    return took - started


async def _until_done(ws, prompt_id: str) -> float:
    import aiohttp

    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            continue  # binary previews
        data = json.loads(message.data)
        payload = data.get("data") or {}
        if payload.get("prompt_id", prompt_id) != prompt_id:
            continue
        if data.get("type") == "executing" and payload.get("node") is None:
            return time.perf_counter()
        if data.get("type") == "execution_error":
            return time.perf_counter()  # /history says what failed
    raise RuntimeError("the websocket closed before the run ended")


def torch_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() or "not importable"


def make_inputs(base: Path, checkpoint: Path) -> str:
    """The base folder every server uses; returns the checkpoint's name there."""
    from PIL import Image

    folder = base / "models" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checkpoint.name
    if not target.exists():
        try:
            os.link(checkpoint.resolve(), target)  # no copy, and no link to follow out of the folder
        except OSError:
            shutil.copyfile(checkpoint, target)
    for name in ("input", "output", "custom_nodes"):  # ComfyUI's --base-directory expects all three
        (base / name).mkdir(exist_ok=True)
    for i, sigma in enumerate((64, 48)):
        Image.effect_noise((512, 512), sigma).convert("RGB").save(base / "input" / f"bench-{i}.png")
    return checkpoint.name


def measure(server: Server, checkpoint: str, seed: int, rss: PeakRss, timeout: float) -> None:
    def timed(label: str, prompt: dict) -> None:
        took = asyncio.run(run_prompt(server, prompt, timeout))
        server.times.setdefault(label, []).append(took)
        print(f"  {server.label}: {label} {took:.1f} s", flush=True)

    if server.pid and server.start_s is not None:
        wait_idle(server.pid)
        server.idle_s = time.perf_counter() - server.started_at
    first = txt2img_prompt(checkpoint, seed, first_picture_prefix(server))
    first["20"] = {"class_type": "SaveLatent",  # the sampled latent too, to compare before the VAE
                   "inputs": {"samples": ["3", 0], "filename_prefix": first_picture_prefix(server)}}
    timed("first run", first)
    for n in (1, 2):
        timed("seed-only re-run", txt2img_prompt(checkpoint, seed + n))
    for n in (0, 1):
        timed("VAE round trip 512", roundtrip_prompt(checkpoint, f"bench-{n}.png"))
    server.peak_rss = rss.stop()


def first_picture_prefix(server: Server) -> str:
    return "first-" + server.label.replace(" ", "-")


def compare_pictures(servers: list[Server], output: Path) -> None:
    """Each server's first run (same prompt, same seed) against the first server's: the sampled
    latent (SaveLatent) and the picture. The latent is the stronger check: a random-weight VAE
    gives nearly flat pictures (8-bit values within about a dozen of mid-grey) whatever the
    latent. In the picture ComfyUI's SaveImage truncates 255 * x where nodeflow rounds it, so
    pictures whose floats agree differ by 0 or +1 in every value."""
    import numpy as np
    from PIL import Image
    from safetensors.numpy import load_file

    def newest(server: Server, pattern: str) -> Path | None:
        found = sorted(output.glob(first_picture_prefix(server) + pattern))
        return found[-1] if found else None

    def latent(server: Server):
        found = newest(server, "*.latent")
        return None if found is None else load_file(str(found))["latent_tensor"].astype(np.float64)

    def picture(server: Server):
        found = newest(server, "*.png")
        return None if found is None else np.asarray(Image.open(found).convert("RGB"), dtype=np.int16)

    base_latent, base_picture = latent(servers[0]), picture(servers[0])
    for server in servers[1:]:
        name = f"{server.label} against {servers[0].label}, first run"
        other = latent(server)
        if base_latent is None or other is None or other.shape != base_latent.shape:
            print(f"{name}: no latents to compare")
        else:
            diff = np.abs(other - base_latent)
            print(f"{name}: latent mean |difference| {diff.mean() / np.abs(base_latent).mean():.1e} of its "
                  f"mean |value|, largest {diff.max():.1e} (values up to {np.abs(base_latent).max():.1f})")
        other = picture(server)
        if base_picture is None or other is None or other.shape != base_picture.shape:
            print(f"{name}: no pictures to compare")
            continue
        diff = other - base_picture
        counts = {int(v): int(n) for v, n in zip(*np.unique(diff, return_counts=True))}
        print(f"{name}: picture, 8-bit values minus {servers[0].label}'s "
              + ", ".join(f"{v:+d}: {n / diff.size:.1%}" for v, n in sorted(counts.items()))
              + f" (values {base_picture.min()}-{base_picture.max()})")


def median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(rounds: dict[str, list[Server]]) -> None:
    """One table: a column per server, each cell the median over its rounds (every value listed
    when there are few), with its ratio to the first server's median."""
    labels = list(rounds)
    base = labels[0]
    width = max(24, *(len(label) + 2 for label in labels))
    print("\n" + "| " + " | ".join(["ratios to " + base.ljust(width - 10)] + [label.ljust(width) for label in labels]) + " |")
    print("|" + "|".join(["-" * (width + 2)] * (len(labels) + 1)) + "|")

    def line(label: str, values: list[str]) -> None:
        print("| " + " | ".join([label.ljust(width)] + [v.ljust(width) for v in values]) + " |")

    def row(name: str, values_of, unit: str = "s", digits: int = 1) -> None:
        """values_of(server) -> the values one round gave for this row (possibly none)."""
        reference = median([v for s in rounds[base] for v in values_of(s)])
        cells = []
        for label in labels:
            values = [v for s in rounds[label] for v in values_of(s)]
            middle = median(values)
            if middle is None:
                cells.append("-")
                continue
            listed = " / ".join(f"{v:.{digits}f}" for v in values) if len(values) <= 3 else \
                f"{min(values):.{digits}f}-{max(values):.{digits}f}"
            if len(values) > 2:
                listed += f", median {middle:.{digits}f}"
            ratio = f" ({middle / reference:.2f}x)" if label != base and reference else ""
            cells.append(f"{listed} {unit}{ratio}")
        line(name, cells)

    row("server start to ready", lambda s: [s.start_s] if s.start_s is not None else [], digits=2)
    row("start to idle", lambda s: [s.idle_s] if s.idle_s is not None else [], digits=2)
    for name in ("first run", "seed-only re-run", "VAE round trip 512"):
        row(name, lambda s, name=name: s.times.get(name, []))
        if name == "first run":  # what a user waits from starting the server to a picture
            row("start to first picture", lambda s: [s.idle_s + s.times["first run"][0]]
                if s.idle_s is not None and s.times.get("first run") else [])
    row("peak RSS (process tree)", lambda s: [s.peak_rss / 1024**3] if s.peak_rss else [], unit="GB", digits=2)
    print("(ratios compare medians: of one value per round, two for the re-run rows)")


def run_server(label: str, how: str, args: argparse.Namespace, work: Path, name: str, seed: int) -> Server:
    """Starts one server (or attaches to --comfyui-url), measures it and stops it."""
    port = free_port()
    if label == "ComfyUI" and args.comfyui_url:
        wait_ready(how, None, 30, None)
        server = Server(label, how, pid=args.comfyui_pid)
    elif label == "ComfyUI":
        command = shlex.split(how.format(port=port, base=work / "base"))
        server = start(label, command, port, work, args.timeout)
    else:
        command = [args.nodeflow_python, "-m", "nodeflow", "serve", "--base-dir", str(work / "base"),
                   "--port", str(port), "--precision", how]
        server = start(label, command, port, work, args.timeout)
    print(f"{label}: ready" + (f" in {server.start_s:.2f} s" if server.start_s else ""), flush=True)
    rss = PeakRss(server.pid)
    rss.peak = tree_rss_bytes(server.pid) if server.pid else 0
    try:
        measure(server, name, seed, rss, args.timeout)
    finally:
        rss.stop()
        stop(server)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", help="an SD 1.5 single-file checkpoint (default: bench/sd.py's "
                                             "random-weight one, made in --work if missing)")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "nodeflow-bench"),
                        help="bench/sd.py's folder for its checkpoints (default %(default)s)")
    parser.add_argument("--stored", choices=["fp16", "fp32"], default="fp16",
                        help="which of bench/sd.py's files to use without --checkpoint")
    parser.add_argument("--precisions", default="fp32,auto",
                        help="nodeflow servers to measure, one per --precision (default %(default)s)")
    parser.add_argument("--comfyui-dir", help="a folder made by bench/comfyui_install.py: its ComfyUI, "
                                              "and its Python for both servers")
    parser.add_argument("--nodeflow-python", help="the Python that runs nodeflow (default: this one, "
                                                  "or --comfyui-dir's)")
    parser.add_argument("--comfyui-cmd", help="command that starts ComfyUI; {port} and {base} are "
                                              "replaced by a free port and the shared base folder")
    parser.add_argument("--comfyui-url", help="a running ComfyUI to use instead (its models must "
                                              "include the checkpoint and its input the images)")
    parser.add_argument("--comfyui-pid", type=int, help="with --comfyui-url: its pid, for the RSS")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary base folder and logs")
    parser.add_argument("--rounds", type=int, default=1, help="run the whole sequence this many times, the "
                        "servers taking turns; rows report medians (default %(default)s)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.rounds > 1 and args.comfyui_url:
        parser.error("--rounds needs servers this script starts: a ComfyUI given by --comfyui-url would "
                     "keep its model and cached outputs between rounds (use --comfyui-dir or --comfyui-cmd)")
    nodeflow_python = args.nodeflow_python or sys.executable
    if args.comfyui_dir:
        folder = Path(args.comfyui_dir).expanduser().resolve()
        python = folder / "venv" / "bin" / "python"
        if not (folder / "ComfyUI" / "main.py").is_file() or not python.is_file():
            parser.error(f"{folder} has no ComfyUI/main.py and venv/bin/python; "
                         "make it with bench/comfyui_install.py")
        args.comfyui_cmd = (f"{shlex.quote(str(python))} {shlex.quote(str(folder / 'ComfyUI' / 'main.py'))} "
                            "--cpu --port {port} --base-directory {base}")
        nodeflow_python = args.nodeflow_python or str(python)

    if args.checkpoint:
        checkpoint = Path(args.checkpoint)
    else:
        from sd import make_checkpoint

        checkpoint = make_checkpoint(Path(args.work), args.stored)
    args.nodeflow_python = nodeflow_python
    work = Path(tempfile.mkdtemp(prefix="nodeflow-compare-"))
    name = make_inputs(work / "base", checkpoint)
    print(f"checkpoint {checkpoint} ({checkpoint.stat().st_size / 1024**3:.2f} GB); base folder {work / 'base'}")
    print(f"nodeflow runs on {nodeflow_python} (torch {torch_version(nodeflow_python)})")
    plans: list[tuple[str, object]] = []
    if args.comfyui_url:
        plans.append(("ComfyUI", args.comfyui_url.rstrip("/")))
    elif args.comfyui_cmd:
        plans.append(("ComfyUI", args.comfyui_cmd))
    for precision in args.precisions.split(","):
        plans.append((f"nodeflow {precision}", precision))
    rounds: dict[str, list[Server]] = {label: [] for label, _ in plans}
    seed = random.randrange(1 << 32)  # the same first picture from every server, every round
    try:
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}", flush=True)
            for label, how in plans:
                rounds[label].append(run_server(label, how, args, work, name, seed))  # stopped when it returns
        report(rounds)
        compare_pictures([found[0] for found in rounds.values()], work / "base" / "output")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
