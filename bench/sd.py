"""Stable Diffusion on the CPU: nodeflow's overhead and the full-size SD 1.5 architecture.

    python bench/sd.py [--work DIR] [--cases overhead,txt2img,vae]

Random weights built from the shipped SD 1.5 configs (nothing is downloaded), written once as
a single-file checkpoint in --work. Each case runs in its own process so its peak RSS is its own.
Printed, never asserted:
  overhead  seconds per KSampler step vs a direct UNet call on the same model and latent (ratio,
            goal <= 1.05), at 256x256 with CFG (batch 2)
  txt2img   256x256, euler, 4 steps, fp32 and bf16: s/step, total, peak RSS; then the same graph
            with only the seed changed (loaders and text encoders come from the cache)
  vae       VAE decode, full vs tiled (512 px tiles), at 1024 and 2048: time and peak RSS
For scale, ComfyUI 0.3.64 on this kind of machine: 3.2-3.7 s per step at 256x256, 24 s first
run, 16 s seed-only re-run, 6.4 GB peak RSS; a bare diffusers UNet call 2.1 s per step.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def make_checkpoint(work: Path, dtype: str = "fp32") -> Path:
    """A full-size SD 1.5 single file with random weights, stored in fp32 (about 4 GB) or fp16
    (about 2 GB, the layout of the common *-pruned-emaonly-fp16 downloads), made once."""
    path = work / "models" / "checkpoints" / f"sd15-random-{dtype}.safetensors"
    if path.exists():
        return path
    import torch
    from safetensors.torch import save_file

    from nodeflow.diffusion.checkpoint_build import (build_text_encoder, build_unet, build_vae,
                                                     read_config)
    from nodeflow.diffusion.checkpoint_keys import to_original_state_dict
    from nodeflow.diffusion.checkpoints import CONFIG_ROOT

    torch.manual_seed(0)
    parts = []
    for build, name in ((build_unet, "unet"), (build_vae, "vae"),
                        (build_text_encoder, "text_encoder")):
        module = build(read_config(CONFIG_ROOT / "sd1" / name)).to_empty(device="cpu")
        with torch.no_grad():
            for p in module.parameters():
                p.normal_(0, 0.02)
            for name, b in module.named_buffers():
                if name.endswith("position_ids"):
                    b.copy_(torch.arange(b.shape[-1]).expand_as(b))
                elif b.is_floating_point():
                    b.zero_()
        parts.append(module.eval())
    state = to_original_state_dict("sd1", parts[0], parts[1], (parts[2],))
    path.parent.mkdir(parents=True, exist_ok=True)
    store = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    save_file({k: v.to(store if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state.items()}, path)
    return path


def workflow(seed: int, size: int = 256, steps: int = 4) -> dict:
    link = lambda n, o: {"node": n, "output": o}  # noqa: E731
    return {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "sd15-random.safetensors"}},
        "pos": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"),
                                                 "text": "a lighthouse at dusk"}},
        "neg": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": ""}},
        "latent": {"type": "EmptyLatent", "inputs": {"width": size, "height": size}},
        "sample": {"type": "KSampler", "inputs": {
            "model": link("ckpt", "model"), "positive": link("pos", "conditioning"),
            "negative": link("neg", "conditioning"), "latent": link("latent", "latent"),
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler": "euler", "scheduler": "normal"}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("sample", "latent"),
                                                   "vae": link("ckpt", "vae")}},
        "save": {"type": "PreviewImage", "inputs": {"images": link("decode", "image")}},
    }}


def _executor(work: Path, precision: str):
    from nodeflow.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    settings = Settings(base_dir=work, precision=precision)
    return Executor(load_registry(settings), settings)


def _timed_run(executor, data: dict) -> dict:
    from nodeflow import events as ev
    from nodeflow.workflow import parse_workflow

    stamps: list[float] = []
    node_times: dict[str, float] = {}
    started: dict[str, float] = {}

    def listener(event) -> None:
        now = time.perf_counter()
        if event.kind == ev.NODE_STARTED:
            started[event.node] = now
            if event.node == "sample":
                stamps.append(now)
        elif event.kind == ev.NODE_FINISHED:
            node_times[event.node] = now - started[event.node]
        elif event.kind == ev.PROGRESS and event.node == "sample":
            stamps.append(now)

    start = time.perf_counter()
    result = executor.run(parse_workflow(data), listener=listener)
    assert result.status == "success", result.error
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"total_s": time.perf_counter() - start, "step_s": steps, "nodes_s": node_times}


def case_txt2img(work: Path, precision: str) -> dict:
    executor = _executor(work, precision)
    first = _timed_run(executor, workflow(seed=1))
    again = _timed_run(executor, workflow(seed=2))
    return {"first": first, "seed_only": again, "peak_rss_gb": peak_rss_gb()}


def case_overhead(work: Path) -> dict:
    """KSampler step vs the same UNet called directly on the same latent and conditioning."""
    import torch

    from nodeflow.diffusion.refs import CheckpointSource, FileIdentity
    from nodeflow.diffusion.runtime import Runtime

    executor = _executor(work, "fp32")
    run = _timed_run(executor, workflow(seed=1))
    source = CheckpointSource(FileIdentity.of(work / "models/checkpoints/sd15-random.safetensors"))
    checkpoint = executor.models.get(("checkpoint", source.file, "cpu", str(torch.float32)),
                                     lambda: None)
    unet = checkpoint.unet
    x = torch.randn(2, 4, 32, 32)
    cond = torch.randn(2, 77, 768)
    t = torch.tensor([500.0, 500.0])
    times = []
    with torch.no_grad():
        for _ in range(4):
            start = time.perf_counter()
            unet(x, t, cond)
            times.append(time.perf_counter() - start)
    direct = sorted(times)[len(times) // 2]
    step = sorted(run["step_s"][1:])[len(run["step_s"][1:]) // 2]  # first step warms up
    return {"ksampler_step_s": step, "direct_unet_s": direct, "ratio": step / direct}


def case_vae(work: Path, size: int, tiled: bool) -> dict:
    import torch

    from nodeflow.diffusion import vae_ops
    from nodeflow.diffusion.checkpoints import load_vae

    vae = load_vae(work / "models/checkpoints/sd15-random.safetensors")  # the VAE part only
    latent = torch.randn(1, 4, size // 8, size // 8)
    start = time.perf_counter()
    if tiled:
        image = vae_ops.decode_tiled(vae, latent, tile_size=512, overlap=64)
    else:
        image = vae_ops.decode(vae, latent)
    assert image.shape == (1, size, size, 3)
    return {"seconds": time.perf_counter() - start, "peak_rss_gb": peak_rss_gb()}


def _child(args) -> None:
    work = Path(args.work)
    if args.case == "txt2img":
        out = case_txt2img(work, args.precision)
    elif args.case == "overhead":
        out = case_overhead(work)
    else:
        out = case_vae(work, args.size, args.tiled)
    print("RESULT " + json.dumps(out))


def _spawn(work: Path, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--work", str(work), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                                                                    "PYTHONPATH": str(ROOT)})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": (proc.stderr.strip().splitlines() or ["killed"])[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "nodeflow-bench"))
    parser.add_argument("--cases", default="overhead,txt2img,vae")
    parser.add_argument("--sizes", default="1024,2048", help="VAE decode sizes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1024, help=argparse.SUPPRESS)
    parser.add_argument("--tiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    work = Path(args.work)
    started = time.perf_counter()
    print(f"checkpoint: {make_checkpoint(work)} ({time.perf_counter() - started:.0f} s)")
    cases = args.cases.split(",")
    if "overhead" in cases:
        r = _spawn(work, "--case", "overhead")
        if "failed" in r:
            print(f"overhead: failed: {r['failed']}")
        else:
            print(f"overhead: KSampler step {r['ksampler_step_s']:.2f} s, direct UNet call "
                  f"{r['direct_unet_s']:.2f} s, ratio {r['ratio']:.3f} (goal <= 1.05)")
    if "txt2img" in cases:
        for precision in ("fp32", "bf16"):
            r = _spawn(work, "--case", "txt2img", "--precision", precision)
            if "failed" in r:
                print(f"txt2img {precision}: failed: {r['failed']}")
                continue
            for label in ("first", "seed_only"):
                run = r[label]
                steps = run["step_s"][1:] or run["step_s"]
                print(f"txt2img 256 {precision} {label:<9}: total {run['total_s']:6.1f} s, "
                      f"{sum(steps) / len(steps):5.2f} s/step, nodes run "
                      f"{', '.join(f'{k} {v:.1f}s' for k, v in run['nodes_s'].items())}")
            print(f"txt2img 256 {precision} peak RSS {r['peak_rss_gb']:.1f} GB")
    if "vae" in cases:
        for size in (int(v) for v in args.sizes.split(",")):
            for tiled in (False, True):
                extra = ["--case", "vae", "--size", str(size)] + (["--tiled"] if tiled else [])
                r = _spawn(work, *extra)
                label = f"VAE decode {size} {'tiled' if tiled else 'full '}"
                if "failed" in r:
                    print(f"{label}: failed: {r['failed']}")
                else:
                    print(f"{label}: {r['seconds']:6.1f} s, peak RSS {r['peak_rss_gb']:.1f} GB")


if __name__ == "__main__":
    main()
