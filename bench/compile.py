"""Does `--compile` pay for itself? The UNet with and without torch.compile, per precision.

    python bench/compile.py [--work DIR] [--model sd15|tiny] [--precisions fp32,bf16] [--size 256]

For each precision, in a fresh process: the compile and first call of torch.compile(unet,
dynamic=False) (nodeflow's --compile), then --calls eager and compiled calls taken in turn (so a
busy machine slows both alike) and the best of each; with --other-size also a call at another
latent size (one recompile) and the first size again (no recompile). Also the RSS that compiling
adds (on the CPU, freezing keeps a second copy of the weights laid out for oneDNN). The model is the fp16 SD 1.5 file of bench/sd.py (random weights; made there
if missing) or the built-in nodeflow-tiny; the latent is a CFG batch of 2 at --size pixels.
Printed: the break-even number of runs (--steps UNet calls each) after which the compile time
is won back, or "never" where the compiled call is not faster. Inductor keeps compiled kernels
on disk (/tmp/torchinductor_$USER); --fresh-cache points it at an empty folder so the compile
time is a first compile's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from memory import rss_gb  # noqa: E402  (bench/ is not a package)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def case(model: str, work: Path, precision: str, size: int, calls: int, other_size: bool) -> dict:
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.compiled import compiled_unet
    from torch._dynamo.utils import counters

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    if model == "tiny":
        from nodeflow.diffusion.checkpoint_paths import builtin_checkpoint
        checkpoint = load_checkpoint(builtin_checkpoint(), dtype=dtype)
    else:
        from sd import make_checkpoint
        checkpoint = load_checkpoint(make_checkpoint(work, "fp16"), dtype=dtype)
    factor = 8  # pixels per latent cell
    unet = checkpoint.unet
    if dtype == torch.bfloat16:
        unet.to(memory_format=torch.channels_last)  # as Runtime.prepare_checkpoint does
    width = checkpoint.text_encoders[0].config.hidden_size

    def inputs(pixels: int):
        x = torch.randn(2, checkpoint.latent_channels, pixels // factor, pixels // factor, dtype=dtype)
        return x, torch.tensor([500.0, 500.0]), torch.randn(2, 77, width, dtype=dtype)

    def timed(fn, args, n: int) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            fn(*args)
            out.append(time.perf_counter() - start)
        return out

    args = inputs(size)
    with torch.no_grad():
        timed(unet, args, 1)  # warm-up (oneDNN primitives, allocator)
        before = rss_gb()
        compiled = compiled_unet(unet, "cpu", dtype)
        first = timed(compiled, args, 1)[0]
        extra_rss = rss_gb() - before
        graphs = counters["stats"]["unique_graphs"]
        eager, step = [], []
        for _ in range(calls):
            eager += timed(unet, args, 1)
            step += timed(compiled, args, 1)
        out = {"eager_s": min(eager), "compile_and_first_s": first, "compiled_s": min(step),
               "graphs": graphs, "eager_all": eager, "compiled_all": step, "extra_rss_gb": extra_rss}
        if other_size:
            out["other_size_first_s"] = timed(compiled, inputs(size + 8 * factor), 1)[0]
            out["graphs_after_other_size"] = counters["stats"]["unique_graphs"]
            out["back_to_first_size_s"] = timed(compiled, args, 1)[0]
            out["graphs_after_back"] = counters["stats"]["unique_graphs"]
        expected, got = unet(*args).sample.float(), compiled(*args).sample.float()
    out.update(max_abs_diff=(expected - got).abs().max().item(), max_abs=expected.abs().max().item())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "nodeflow-bench"))
    parser.add_argument("--model", choices=["sd15", "tiny"], default="sd15")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--calls", type=int, default=3, help="timed calls of each, the best kept")
    parser.add_argument("--other-size", action="store_true", help="also time a recompile for another size")
    parser.add_argument("--steps", type=int, default=20, help="UNet calls per run, for break-even")
    parser.add_argument("--fresh-cache", action="store_true", help="compile into an empty inductor cache")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(case(args.model, Path(args.work), args.child, args.size, args.calls,
                                               args.other_size)))
        return
    for precision in args.precisions.split(","):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with tempfile.TemporaryDirectory() as cache:
            if args.fresh_cache:
                env["TORCHINDUCTOR_CACHE_DIR"] = cache
            proc = subprocess.run([sys.executable, __file__, "--child", precision, "--model", args.model,
                                   "--work", args.work, "--size", str(args.size), "--calls", str(args.calls),
                                   *(["--other-size"] if args.other_size else [])],
                                  capture_output=True, text=True, env=env)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            print(f"{precision}: failed: {(proc.stderr.strip().splitlines() or ['killed'])[-1]}")
            continue
        r = json.loads(lines[0][7:])
        saved = r["eager_s"] - r["compiled_s"]
        overhead = r["compile_and_first_s"] - r["eager_s"]
        even = f"{overhead / (saved * args.steps):.1f} runs of {args.steps} steps" if saved > 0 else "never"
        others = (f"; another size {r['other_size_first_s']:.1f} s (graphs {r['graphs']} -> "
                  f"{r['graphs_after_other_size']}), back to the first {r['back_to_first_size_s']:.3f} s "
                  f"(graphs {r['graphs_after_back']})") if "other_size_first_s" in r else ""
        print(f"{args.model} {args.size}px {precision}: eager {r['eager_s']:.3f} s/call, compiled "
              f"{r['compiled_s']:.3f} s/call ({r['compiled_s'] / r['eager_s']:.2f}x; best of "
              f"{len(r['eager_all'])} each); compile + first call {r['compile_and_first_s']:.1f} s; "
              f"break-even after {even}; RSS +{r['extra_rss_gb']:.2f} GB{others}; max |compiled - eager| {r['max_abs_diff']:.2e} "
              f"of max {r['max_abs']:.2f}", flush=True)

if __name__ == "__main__":
    main()
