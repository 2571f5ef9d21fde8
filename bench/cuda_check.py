"""A short prepared check for a CUDA machine (issue 16). NOT RUN ON A GPU YET: written on a
machine without one; run it on the first GPU machine and put its figures in the README.

    python bench/cuda_check.py [--work DIR] [--dry-run]

--dry-run (or no CUDA device) runs the parts that also run on the CPU, with the CPU as the
compute device: the placement and the budget run below (moves are then no-ops; the accounting,
the errors and the pixels are checked).

It checks and prints, never asserting silently:
  precision  what `--precision auto` takes on this GPU (bf16 from compute capability 8.0, else fp16)
  placement  the SD 1.5 fp16 file (random weights, bench/sd.py's) loaded straight onto the GPU:
             load time, every parameter on cuda in the chosen dtype, VAE in fp32 or bf16
  memory     torch.cuda.max_memory_allocated after loading and after a UNet call
  timings    UNet call at 512x512 with CFG (batch 2) in fp16 and bf16 (after a warm-up, synchronised)
  seed       the built-in model's txt2img at fp32 on the CPU and on the GPU (`nodeflow run`, one
             process each): PSNR of the two images (noise is drawn on the CPU, so they should agree)
  placement  --vram-budget with the SD 1.5 fp16 file: a budget of UNet + VAE; the text encoder,
             UNet and VAE used in turn, then the text encoder and the UNet again: what is resident,
             which device each model's weights are on, seconds per move, the UNet's output before and after a trip
             to RAM and back (must be identical), memory allocated vs the budget
  budget     `nodeflow run` of the built-in txt2img with --vram-budget 13MB (just above its largest
             model, the 12.5 MB text encoder) against no budget, each in its own process: the
             images must be identical
`--compile` is not implemented yet; this script says so.
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


def _txt2img_image(work: Path, label: str, env: dict, *extra: str):
    """The built-in txt2img's image from `nodeflow run` in a process of its own, or None."""
    import numpy as np
    from PIL import Image

    out = work / f"run-{label}"
    cmd = [sys.executable, "-m", "nodeflow", "run", str(ROOT / "workflows" / "txt2img.json"),
           "--precision", "fp32", "--base-dir", str(work / "home"), "--output-dir", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    pngs = sorted(out.glob("*.png"))
    if proc.returncode or not pngs:
        print(f"{label}: the run failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return np.asarray(Image.open(pngs[-1]), dtype=np.float64) / 255


def _psnr(a, b) -> str:
    import numpy as np

    mse = float(((a - b) ** 2).mean())
    return "inf" if mse == 0 else f"{10 * np.log10(1 / mse):.1f}"


def check_seed(work: Path) -> None:
    cpu = _txt2img_image(work, "seed-cpu", {"CUDA_VISIBLE_DEVICES": ""})
    gpu = _txt2img_image(work, "seed-cuda", {})
    if cpu is not None and gpu is not None:
        print(f"seed: CPU vs GPU image, same seed, fp32: PSNR {_psnr(cpu, gpu)} dB")


def check_budget_run(work: Path, env: dict) -> None:
    plain = _txt2img_image(work, "budget-none", env)
    budgeted = _txt2img_image(work, "budget-13MB", env, "--vram-budget", "13MB")
    if plain is not None and budgeted is not None:
        print(f"budget: built-in txt2img with --vram-budget 13MB vs none: PSNR {_psnr(plain, budgeted)} dB "
              f"(identical: {'yes' if _psnr(plain, budgeted) == 'inf' else 'NO'})")


def check_placement(work: Path, device: str) -> None:
    """The placer on the SD 1.5 parts: residency, devices of the weights, move speed, and the
    UNet's output unchanged by a trip to RAM and back."""
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.placement import ModelPlacer, module_bytes, size_text
    from sd import make_checkpoint

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    checkpoint = load_checkpoint(make_checkpoint(work, "fp16"), device="cpu", dtype=dtype)
    unet, vae, encoder = checkpoint.unet, checkpoint.vae, checkpoint.text_encoders[0]
    budget = module_bytes(unet) + module_bytes(vae)
    placer = ModelPlacer(budget, compute=device, offload="cpu")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    x = torch.randn(2, 4, 32, 32, dtype=dtype)
    cond = torch.randn(2, 77, 768, dtype=dtype)
    t = torch.tensor([500.0, 500.0])

    def unet_out():
        with torch.no_grad():
            return unet(x.to(device), t.to(device), cond.to(device)).sample.float().cpu()

    moves = []
    for module, name in ((encoder, "text encoder"), (unet, "UNet"), (vae, "VAE")):
        start = time.perf_counter()
        placer.use(module, name, user=name)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        moves.append(f"{name} {size_text(module_bytes(module))} in {time.perf_counter() - start:.2f} s")
    first = unet_out()
    placer.use(encoder, "text encoder", user="again")  # sends the UNet (least recent) to RAM
    unet_devices = {p.device.type for p in unet.parameters()}
    placer.use(unet, "UNet", user="back")
    same = torch.equal(first, unet_out())
    where = {name: sorted({p.device.type for p in m.parameters()}) for m, name in
             ((encoder, "text encoder"), (unet, "UNet"), (vae, "VAE"))}
    print(f"placement on {device}: budget {size_text(budget)} (UNet + VAE); moves: {'; '.join(moves)}")
    print(f"placement on {device}: resident now {placer.resident_names()}, weights on {where}; UNet "
          f"while offloaded on {sorted(unet_devices)}; UNet output identical after a trip to RAM: "
          f"{'yes' if same else 'NO'}; moves in {placer.moves_in}, out {placer.moves_out}")
    if device.startswith("cuda"):
        print(f"placement on {device}: max allocated {size_text(torch.cuda.max_memory_allocated())} "
              f"(budget {size_text(budget)} plus activations)")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=tempfile.mkdtemp(prefix="nodeflow-cuda-"),
                        help="where the SD 1.5 fp16 file is made (or found: bench/sd.py's --work)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run only the parts that also run on the CPU, on the CPU")
    args = parser.parse_args()
    work = Path(args.work)
    if args.dry_run or not torch.cuda.is_available():
        print("dry run on the CPU" if args.dry_run else
              "no CUDA device: running only the parts that also run on the CPU, on the CPU")
        check_placement(work, "cpu")
        check_budget_run(work, {"CUDA_VISIBLE_DEVICES": ""})
        return
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_model(work)
    check_seed(work)
    check_placement(work, "cuda")
    check_budget_run(work, {})
    print("--compile: not implemented yet, not checked")


if __name__ == "__main__":
    main()
