"""nodeflow-tiny-x2: a tiny upscale model (spandrel's Compact / Real-ESRGAN's SRVGGNetCompact
architecture) trained here to double nodeflow-tiny's 32x32 digits into crisp 64x64 ones.

Inputs are the training digits as nodeflow-tiny draws them (8x8 strokes upsampled bilinearly to
32x32, painted in palette colours); targets are the same digits upsampled to 64x64 with the
strokes' edges sharpened (a smoothstep on the stroke mask). It ships in models/upscale_models/
so the upscale example runs offline; reproduce it with

    python -m nodeflow.tiny.upscale --out models/upscale_models/nodeflow-tiny-x2.safetensors
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import data

NAME = "nodeflow-tiny-x2.safetensors"
FEATURES, CONVS, SCALE = 16, 4, 2
STEPS, BATCH, LR = 1200, 32, 2e-3


def sharpen(mask: np.ndarray) -> np.ndarray:
    """Crisper strokes: a smoothstep from 0.25 to 0.65 of the stroke mask."""
    t = np.clip((mask - 0.25) / 0.4, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def pairs(seed: int = 0):
    """(low [N, 3, 32, 32], high [N, 3, 64, 64]) float32 training pictures."""
    images, _ = data.source_digits()
    big = data._bilinear_matrix(data.SOURCE_SIZE, data.SIZE * SCALE)
    low_masks = data.masks()
    high_masks = sharpen(np.clip(big @ (images / data.SOURCE_MAX) @ big.T, 0.0, 1.0))
    rng = np.random.default_rng(seed)
    ink, paper = ([data.COLORS[i] for i in idx] for idx in data.color_pairs(rng, len(images)))
    low = np.stack([data.paint(m, i, p) for m, i, p in zip(low_masks, ink, paper)])
    high = np.stack([data.paint(m, i, p) for m, i, p in zip(high_masks, ink, paper)])
    return (low.transpose(0, 3, 1, 2).astype(np.float32),
            high.transpose(0, 3, 1, 2).astype(np.float32))


def train(out: Path, *, seed: int = 0, steps: int = STEPS) -> Path:
    import torch
    from safetensors.torch import save_file

    from ..diffusion.upscale_models import spandrel

    spandrel()
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    torch.manual_seed(seed)
    low, high = (torch.from_numpy(a) for a in pairs(seed))
    model = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=FEATURES, num_conv=CONVS,
                            upscale=SCALE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    start = time.monotonic()
    for step in range(steps):
        index = torch.randint(0, len(low), (BATCH,), generator=generator)
        loss = torch.nn.functional.l1_loss(model(low[index]), high[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 200 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps}  L1 {loss.item():.4f}  "
                  f"{time.monotonic() - start:.0f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out, metadata={
        "description": "nodeflow-tiny-x2: doubles nodeflow-tiny's 32x32 digits (see "
                       "nodeflow/tiny/upscale.py)",
        "architecture": "SRVGGNetCompact", "scale": str(SCALE), "seed": str(seed),
        "steps": str(steps)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodeflow.tiny.upscale", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    print(train(args.out, seed=args.seed, steps=args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
