"""A short prepared check for a CUDA machine (issue 16). NOT RUN YET: written on a machine
without a GPU, so nothing below has been seen to work; run it on the first GPU machine and put
its figures in the README.

    python bench/cuda_check.py [--work DIR]

It checks and prints, never asserting silently:
  precision  what `--precision auto` takes on this GPU (bf16 from compute capability 8.0, else fp16)
  placement  the SD 1.5 fp16 file (random weights, bench/sd.py's) loaded straight onto the GPU:
             load time, every parameter on cuda in the chosen dtype, VAE in fp32 or bf16
  memory     torch.cuda.max_memory_allocated after loading and after a UNet call
  timings    UNet call at 512x512 with CFG (batch 2) in fp16 and bf16 (after a warm-up, synchronised)
  seed       the built-in model's txt2img at fp32 on the CPU and on the GPU (`nodeflow run`, one
             process each): PSNR of the two images (noise is drawn on the CPU, so they should agree)
`--vram-budget` (offload to RAM) and `--compile` are not implemented yet; this script says so.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def timed_cuda(fn, repeats: int = 5) -> float:
    import torch

    fn()  # warm-up (kernel choice, allocator)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def check_model(work: Path) -> None:
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.runtime import Runtime
    from sd import make_checkpoint

    runtime = Runtime.choose("auto")
    print(f"precision: auto -> {runtime.describe()}; capability {torch.cuda.get_device_capability()}")
    path = make_checkpoint(work, "fp16")
    for dtype in (torch.float16, torch.bfloat16):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        checkpoint = load_checkpoint(path, device="cuda", dtype=dtype)
        torch.cuda.synchronize()
        took = time.perf_counter() - start
        params = [p for m in (checkpoint.unet, checkpoint.vae, *checkpoint.text_encoders) for p in m.parameters()]
        misplaced = [p for p in params if p.device.type != "cuda" or p.dtype != dtype]
        print(f"placement {dtype}: loaded in {took:.2f} s, {len(params)} parameters, "
              f"{len(misplaced)} not on cuda in {dtype}; "
              f"max allocated {torch.cuda.max_memory_allocated() / 1024**3:.2f} GB")
        x = torch.randn(2, 4, 64, 64, device="cuda", dtype=dtype)
        cond = torch.randn(2, 77, 768, device="cuda", dtype=dtype)
        t = torch.tensor([500.0, 500.0], device="cuda")
        with torch.no_grad():
            step = timed_cuda(lambda: checkpoint.unet(x, t, cond))
        print(f"timings {dtype}: UNet call 512x512 CFG {step * 1000:.1f} ms; "
              f"max allocated {torch.cuda.max_memory_allocated() / 1024**3:.2f} GB")
        checkpoint = params = misplaced = None  # free the GPU memory before the next dtype


def check_seed(work: Path) -> None:
    import numpy as np
    from PIL import Image

    images = {}
    for device, env in (("cpu", {"CUDA_VISIBLE_DEVICES": ""}), ("cuda", {})):
        out = work / f"seed-{device}"
        cmd = [sys.executable, "-m", "nodeflow", "run", str(ROOT / "workflows" / "txt2img.json"),
               "--precision", "fp32", "--base-dir", str(work / "home"), "--output-dir", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
        pngs = sorted(out.glob("*.png"))
        if proc.returncode or not pngs:
            print(f"seed {device}: the run failed: {proc.stderr.strip().splitlines()[-1:]}")
            return
        images[device] = np.asarray(Image.open(pngs[0]), dtype=np.float64) / 255
    mse = float(((images["cpu"] - images["cuda"]) ** 2).mean())
    print(f"seed: CPU vs GPU image, same seed, fp32: PSNR "
          f"{'inf' if mse == 0 else f'{10 * np.log10(1 / mse):.1f}'} dB")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=tempfile.mkdtemp(prefix="nodeflow-cuda-"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this check needs one")
        return
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    work = Path(args.work)
    check_model(work)
    check_seed(work)
    print("offload (--vram-budget) and --compile: not implemented yet, not checked")


if __name__ == "__main__":
    main()
