"""Train a scribble or Canny ControlNet for nodeflow-tiny: the digit follows a hint image.

ControlNet (Zhang et al. 2023): a trainable copy of the UNet's encoder reads the hint image
and adds its features to the frozen UNet's skip connections through zero-initialised
convolutions, so training starts from the base model exactly. The hint is a digit's stroke
mask, white on black, 32x32 (what DigitImage paints in white on black, or a user's scribble),
or for the Canny ControlNet the edges the Canny node finds in that mask (its default
thresholds, so a Canny node in front of it at run time gives what it was trained on); the
training pictures are the base model's own (train.py: digits, palette, VAE latents,
noise schedule, eps objective). Half of the captions are empty (the ControlNet paper drops
half of its prompts), so the hint alone must carry the digit's shape and identity.

The hint embedding has three levels (two stride-2 convolutions): 32x32 hints for the 8x8
latents of nodeflow-tiny, whose VAE downscales 4x. The file is written in the original
layout that ControlNetLoader reads, fp16, with the UNet config it needs beside it
(``<name>.configs/sd1/unet/config.json``). Everything random comes from ``seed``.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import data, train
from .quality import shipped_model

NAME = "nodeflow-tiny-scribble.safetensors"
CANNY_NAME = "nodeflow-tiny-canny.safetensors"
HINTS = {"scribble": "stroke mask, white on black",
         "canny": "Canny edges (thresholds 0.4, 0.8) of the stroke mask, white on black"}
CANNY_THRESHOLDS = (0.4, 0.8)  # the Canny node's defaults
HINT_CHANNELS = (16, 32, 32)
STEPS, BATCH, LR = 800, 64, 1e-3
COLORINGS = 2
EMPTY_CAPTIONS = 0.5


def _batch(pool, labels, hint_images, rng, gen, states, rows, batch):
    """(scaled latents, caption states, hints [B, 3, 32, 32] in 0..1)."""
    import torch

    means, stds, inks, papers, scale = pool
    idx = rng.integers(0, len(means), batch)
    draws = rng.random(batch)
    digits = labels[idx % len(labels)]
    captions = ["" if r < EMPTY_CAPTIONS else
                data.training_prompt(int(d), data.COLORS[inks[i]], data.COLORS[papers[i]],
                                     (r - EMPTY_CAPTIONS) / (1 - EMPTY_CAPTIONS))
                for i, d, r in zip(idx, digits, draws)]
    z = (means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=gen)) * scale
    hints = hint_images[torch.from_numpy(idx % len(hint_images))][:, None].expand(-1, 3, -1, -1)
    return z, states[torch.tensor([rows[c] for c in captions])], hints


def _hint_images(masks, hint: str):
    """[N, 32, 32] hints in 0..1 for the stroke masks: the masks, or their Canny edges."""
    if hint == "scribble":
        return masks
    from kornia.filters import canny

    _, edges = canny(masks[:, None].expand(-1, 3, -1, -1), *CANNY_THRESHOLDS)
    return edges[:, 0]


def _loss(net, unet, z, hidden, hints, alphas, gen):
    import torch

    t = torch.randint(0, len(alphas), (len(z),), generator=gen)
    eps = torch.randn(z.shape, generator=gen)
    ab = alphas[t][:, None, None, None]
    noisy = ab.sqrt() * z + (1 - ab).sqrt() * eps
    down, mid = net(noisy, t, hidden, controlnet_cond=hints, return_dict=False)
    out = unet(noisy, t, hidden, down_block_additional_residuals=down,
               mid_block_additional_residual=mid).sample
    return ((out - eps) ** 2).mean()


def train_controlnet(model_dir, out_file, *, seed: int = 0, steps: int = STEPS,
                     colorings: int = COLORINGS, hint: str = "scribble",
                     log: Callable[[str], None] = print) -> Path:
    """Train a ControlNet for ``hint`` (a key of HINTS) on the diffusers folder
    ``model_dir``; write ``out_file``.

    A few steps and one colouring make a smoke test of a few seconds."""
    import torch
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.controlnet import to_original_layout

    if hint not in HINTS:
        raise ValueError(f"hint must be one of {', '.join(HINTS)} (got {hint!r})")
    if steps < 1 or colorings < 1:
        raise ValueError(f"steps and colorings must be at least 1 (got {steps}, {colorings})")
    model_dir, out = Path(model_dir), Path(out_file)
    with train.session(seed, log) as run:
        rng, gen, log = run.rng, run.gen, run.log
        base = load_checkpoint(model_dir)
        unet, [encoder] = base.unet.requires_grad_(False), base.text_encoders
        masks = torch.from_numpy(data.masks()).float()
        _, labels = data.source_digits()
        means, stds, inks, papers = train.latent_pool(base.vae, masks, train.palette_tensor(),
                                                      colorings, rng)
        rows, states = train.caption_states(encoder)
        hint_images = _hint_images(masks, hint)
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=HINT_CHANNELS)
        net.train().requires_grad_(True)
        params = list(net.parameters())
        log(f"ControlNet for {model_dir.name} (seed {seed}): {sum(p.numel() for p in params):,} "
            f"parameters, {steps} steps of {BATCH}, {train.THREADS} threads")
        opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: train.lr_factor(s, steps))
        alphas = train.alphas_cumprod()
        pool = (means, stds, inks, papers, round(base.scaling_factor, 5))
        for step in range(steps):
            z, hidden, hints = _batch(pool, labels, hint_images, rng, gen, states, rows, BATCH)
            loss = _loss(net, unet, z, hidden, hints, alphas, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % max(1, steps // 10) == 0 or step == steps - 1:
                log(f"controlnet {step + 1}/{steps}: loss {loss.item():.4f}")
        net.eval().requires_grad_(False)
        tensors = {k: v.to(torch.float16).contiguous() for k, v in to_original_layout(net).items()}
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, out, metadata={
            "format": "pt", "nodeflow_base": model_dir.name, "nodeflow_hint": HINTS[hint],
            "nodeflow_training": f"{steps} steps of {BATCH}, lr {LR:g}, seed {seed}, "
                                 f"torch {torch.__version__}, {train.THREADS} threads"})
        configs = out.with_name(out.stem + ".configs") / "sd1" / "unet"
        configs.mkdir(parents=True, exist_ok=True)
        (configs / "config.json").write_text(json.dumps(dict(unet.config), indent=2) + "\n")
        log(f"wrote {out} in {time.monotonic() - run.started:.0f} s")
        return out


def main(argv: list[str] | None = None) -> int:
    """`python -m nodeflow.tiny.controlnet --out FILE [--model DIR] [--seed N] [--steps N]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nodeflow.tiny.controlnet",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    parser.add_argument("--model", type=Path, help="the base model (default: nodeflow-tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--hint", choices=sorted(HINTS), default="scribble",
                        help="what the ControlNet reads (default: scribble)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.main
    train_controlnet(args.model or shipped_model(), args.out, seed=args.seed, steps=args.steps,
                     hint=args.hint, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
