"""Stable Diffusion on the CPU: the rows of issue 16, from an fp16 and an fp32 SD 1.5 file.

    python bench/sd.py [--work DIR] [--cases load,overhead,txt2img,roundtrip,vae,tiled]

Random weights built from the shipped SD 1.5 configs (nothing is downloaded), written once as
single-file checkpoints in --work: one stored in fp16 (2.1 GB, the layout of the common
*-pruned-emaonly-fp16 downloads) and one in fp32 (4.3 GB). Each case runs in its own process
so its peak RSS is its own. Printed as ratios to a baseline measured in the same run, never
asserted:
  load       each file to a ready model at fp32, bf16 and fp16, against reading its bytes from a
             warm page cache into a reused buffer and into fresh memory (bench/sd_load.py; goal
             <= 1.5x), best of --repeats fresh processes; bf16 as a run loads it (on a CPU
             without bf16 instructions: bf16 weights, or the fp16 file's, for fp32 sums)
  overhead   seconds per KSampler step vs a bare UNet call on the same model and latent (goal
             <= 1.05), 256x256 with CFG (batch 2), fp32
  txt2img    the fp16 file, 256x256, euler, 4 steps, cfg 7, at fp32 and at auto: first run (load,
             encode, sample, decode), seed-only re-run, s/step, peak RSS
  roundtrip  LoadImage, VAEEncode, VAEDecode, PreviewImage at 512x512 (first and second run)
  vae        VAE decode and encode of 512x512 through nodeflow vs the bare diffusers
             AutoencoderKL calls at the same precision (goal <= 1.0); bf16 only on CPUs with
             bf16 instructions (elsewhere both would time oneDNN's emulation)
  tiled      time and extra RSS of a whole tiled 2048x2048 decode (512 px tiles, 64 px overlap;
             goal <= 3 GB) with the images too large for RAM spilled to --work's spill/ folder,
             as VAEDecodeTiled does (vae_segments.py), against the same decode with them not
             kept (re-run for each GroupNorm: 20-30 minutes at 2048); --tiled-steps N stops after
             N tile steps (no statistics passes), --tiled-size 1024 --tiled-ram-gb 0.3125 is the
             2048 decode's plan at a quarter of its work
In-process, so ComfyUI is not a baseline here; diffusers' own calls are. bench/server_compare.py
runs ComfyUI beside nodeflow (bench/comfyui_install.py installs it from PyPI).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from memory import peak_rss_gb  # noqa: E402  (bench/ is not a package)


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


def workflow(seed: int, size: int = 256, steps: int = 4, stored: str = "fp16") -> dict:
    link = lambda n, o: {"node": n, "output": o}  # noqa: E731
    return {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": f"sd15-random-{stored}.safetensors"}},
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


def roundtrip_workflow(stored: str = "fp16") -> dict:
    link = lambda n, o: {"node": n, "output": o}  # noqa: E731
    return {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": f"sd15-random-{stored}.safetensors"}},
        "load": {"type": "LoadImage", "inputs": {"image": "bench-512.png"}},
        "encode": {"type": "VAEEncode", "inputs": {"image": link("load", "image"), "vae": link("ckpt", "vae")}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("encode", "latent"), "vae": link("ckpt", "vae")}},
        "save": {"type": "PreviewImage", "inputs": {"images": link("decode", "image")}},
    }}


def _executor(work: Path, precision: str):
    from nodeflow.engine.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    settings = Settings(base_dir=work, precision=precision)
    return Executor(load_registry(settings), settings)


def _timed_run(executor, data: dict) -> dict:
    from nodeflow.engine import events as ev
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


def case_roundtrip(work: Path, precision: str) -> dict:
    from PIL import Image

    (work / "input").mkdir(parents=True, exist_ok=True)
    Image.effect_noise((512, 512), 64).convert("RGB").save(work / "input" / "bench-512.png")
    executor = _executor(work, precision)
    first = _timed_run(executor, roundtrip_workflow())
    # a second image, so the encode and decode run again (the loader comes from the cache)
    Image.effect_noise((512, 512), 48).convert("RGB").save(work / "input" / "bench-512.png")
    again = _timed_run(executor, roundtrip_workflow())
    return {"first_s": first["total_s"], "again_s": again["total_s"], "peak_rss_gb": peak_rss_gb()}


def case_overhead(work: Path) -> dict:
    """KSampler step vs the same UNet called directly on the same latent and conditioning."""
    import torch

    from nodeflow.diffusion.refs import CheckpointSource, FileIdentity
    executor = _executor(work, "fp32")
    run = _timed_run(executor, workflow(seed=1))
    source = CheckpointSource(FileIdentity.of(work / "models/checkpoints/sd15-random-fp16.safetensors"))
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


def _child(args) -> None:
    import sd_load
    import sd_vae

    work = Path(args.work)
    file = work / "models" / "checkpoints" / f"sd15-random-{args.stored}.safetensors"
    if args.case == "txt2img":
        out = case_txt2img(work, args.precision)
    elif args.case == "overhead":
        out = case_overhead(work)
    elif args.case == "roundtrip":
        out = case_roundtrip(work, args.precision)
    elif args.case == "load":
        out = sd_load.case_load(file, args.precision)
    elif args.case == "vae":
        out = sd_vae.case_vae_vs_diffusers(file, args.size, args.precision)
    else:
        out = sd_vae.case_tiled_rss(file, args.size, args.precision, args.tiled_steps,
                                    work / "spill" if args.spill else None, args.tiled_ram_gb)
    out.setdefault("peak_rss_gb", peak_rss_gb())
    print("RESULT " + json.dumps(out))


def _spawn(work: Path, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--work", str(work), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": (proc.stderr.strip().splitlines() or ["killed"])[-1]}


def _report(label: str, r: dict, line) -> None:
    print(f"{label}: failed: {r['failed']}" if "failed" in r else f"{label}: {line(r)}", flush=True)


def _load_cases(spawn, repeats: int) -> None:
    """Each file at each precision, `repeats` times in fresh processes taken in turn (so the
    machine's load spreads over all cases); the best of each time is kept."""
    cases = [(stored, precision) for stored in ("fp16", "fp32") for precision in ("fp32", "bf16", "fp16")]
    runs: dict[tuple[str, str], list[dict]] = {case: [] for case in cases}
    for _ in range(repeats):
        for stored, precision in cases:
            runs[stored, precision].append(spawn("--case", "load", "--stored", stored, "--precision", precision))
    for (stored, precision), results in runs.items():
        ok = [r for r in results if "failed" not in r]
        if not ok:
            _report(f"load {stored} file -> {precision}", results[0], str)
            continue
        best = {k: min(r[k] for r in ok)
                for k in ("load_s", "load_cpu_s", "read_reused_s", "read_fresh_s", "fill_fresh_s")}
        every = ", ".join(f"{r['load_s']:.2f}" for r in ok)
        print(f"load {stored} file -> {precision}: {best['load_s']:.2f} s (cpu {best['load_cpu_s']:.2f} s; all "
              f"{every}); read from page cache "
              f"{best['read_reused_s']:.2f} s into a reused buffer / {best['read_fresh_s']:.2f} s into fresh "
              f"memory; ratio {best['load_s'] / best['read_reused_s']:.2f}x / "
              f"{best['load_s'] / best['read_fresh_s']:.2f}x (goal <= 1.5; best of {len(ok)}); "
              f"RSS of the model {ok[0]['model_rss_gb']:.2f} GB; filling that much fresh memory "
              f"{best['fill_fresh_s']:.2f} s (load {best['load_s'] / best['fill_fresh_s']:.2f}x that floor)",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "nodeflow-bench"))
    parser.add_argument("--cases", default="load,overhead,txt2img,roundtrip,vae,tiled")
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh processes per load case; the best of each time is reported")
    parser.add_argument("--tiled-steps", type=int, default=0,
                        help="tile steps of the 2048 tiled decode to run (0: all of them)")
    parser.add_argument("--tiled-size", type=int, default=2048, help="the tiled decode's image size")
    parser.add_argument("--tiled-ram-gb", type=float, default=None,
                        help="largest image between steps kept in RAM (default 1.25)")
    parser.add_argument("--spill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--stored", default="fp16", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    work = Path(args.work)
    started = time.perf_counter()
    files = {stored: make_checkpoint(work, stored) for stored in ("fp16", "fp32")}
    print(f"checkpoints: {', '.join(str(f) for f in files.values())} ({time.perf_counter() - started:.0f} s)")
    cases = args.cases.split(",")
    spawn = lambda *extra: _spawn(work, *extra)  # noqa: E731
    if "load" in cases:
        _load_cases(spawn, args.repeats)
    if "overhead" in cases:
        _report("overhead fp32", spawn("--case", "overhead"),
                lambda r: f"KSampler step {r['ksampler_step_s']:.2f} s, bare UNet call {r['direct_unet_s']:.2f} s, "
                          f"ratio {r['ratio']:.3f} (goal <= 1.05)")
    if "txt2img" in cases:
        for precision in ("fp32", "auto"):
            r = spawn("--case", "txt2img", "--precision", precision)
            if "failed" in r:
                print(f"txt2img {precision}: failed: {r['failed']}")
                continue
            for label in ("first", "seed_only"):
                run = r[label]
                steps = run["step_s"][1:] or run["step_s"]
                print(f"txt2img 256 {precision} {label:<9}: total {run['total_s']:6.1f} s, "
                      f"{sum(steps) / len(steps):5.2f} s/step, nodes "
                      f"{', '.join(f'{k} {v:.1f}s' for k, v in run['nodes_s'].items())}")
            print(f"txt2img 256 {precision} peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)
    if "roundtrip" in cases:
        for precision in ("fp32", "auto"):
            _report(f"VAE round trip 512 {precision}", spawn("--case", "roundtrip", "--precision", precision),
                    lambda r: f"first {r['first_s']:.1f} s, again {r['again_s']:.1f} s, "
                              f"peak RSS {r['peak_rss_gb']:.2f} GB")
    if "vae" in cases:
        from nodeflow.diffusion.runtime import cpu_has_native_bf16

        for precision in ("fp32", "bf16") if cpu_has_native_bf16() else ("fp32",):
            _report(f"VAE 512 {precision} vs diffusers", spawn("--case", "vae", "--precision", precision),
                    lambda r: f"decode {r['decode_s']:.2f} s vs {r['diffusers_decode_s']:.2f} s "
                              f"({r['decode_ratio']:.2f}x), encode {r['encode_s']:.2f} s vs "
                              f"{r['diffusers_encode_s']:.2f} s ({r['encode_ratio']:.2f}x) (goal <= 1.0)")
    if "tiled" in cases:
        tiled = ["--case", "tiled", "--size", str(args.tiled_size), "--tiled-steps", str(args.tiled_steps)]
        if args.tiled_ram_gb is not None:
            tiled += ["--tiled-ram-gb", str(args.tiled_ram_gb)]
        results = {}
        for label, extra in (("spilled to disk", ["--spill"]), ("not kept (baseline)", [])):
            results[label] = r = spawn(*tiled, *extra)
            _report(f"tiled decode {args.tiled_size} fp32, large images {label}", r,
                    lambda r: f"extra peak RSS {r['extra_peak_rss_gb']:.2f} GB (goal <= 3) over "
                              f"{r['rss_before_gb']:.2f} GB, {r['steps_done']} of {r['steps_total']} tile steps in "
                              f"{r['seconds']:.0f} s (the first tile step, after the whole-latent part, at "
                              f"{r['first_step_s']:.0f} s)" + ("" if r["finished"] else ", stopped early"))
        spilled, kept = results.values()
        if "failed" not in spilled and "failed" not in kept and spilled["finished"] and kept["finished"]:
            print(f"tiled decode {args.tiled_size}: spilled {spilled['seconds'] / kept['seconds']:.2f}x the time "
                  f"of the baseline, extra peak RSS {spilled['extra_peak_rss_gb']:.2f} against "
                  f"{kept['extra_peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
