"""Train a LoRA for nodeflow-tiny that teaches a style: bold digits.

LoRA (Hu et al. 2021): the base model stays frozen and each adapted layer learns a low-rank
change of its weight, W + (alpha / rank) * up @ down, with `up` starting at zero so training
starts from the base model exactly. The training pictures are the base model's own (train.py:
the same digits, palette, captions, VAE latents, noise schedule and eps objective), except
that every stroke mask is dilated by a 3x3 maximum filter first: strokes one pixel thicker
on each side. The LoRA learns only that difference, so it is a style, not a new model.

The file is written in the kohya / A1111 format that `LoadLoRA` reads (checkpoint_lora.py),
fp16 safetensors. Everything random comes from `seed`: the same base model, seed, torch build
and thread count give the same file.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import data, train
from .quality import shipped_model

BOLD = 3  # side of the max filter that thickens the strokes (5 thickens more; the judge then misreads 14%)
STEPS, BATCH, LR = 400, 64, 3e-3
COLORINGS = 2  # colour pairs per digit in the latent pool
RANK, ALPHA = 4, 4.0
# The UNet's attention projections and its resnets' convolutions: its attention sees only the
# 4x4 feature maps, the convolutions also the full 8x8 latent. In short trials (120 steps,
# 20 pictures) attention alone bolded about as much (ink share 0.393 against 0.395).
TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2")


def bold_masks(size: int = BOLD) -> np.ndarray:
    """`data.masks()` with every stroke thickened: a `size` x `size` maximum filter."""
    masks = data.masks()
    pad = size // 2
    padded = np.pad(masks, ((0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    return windows.max(axis=(-2, -1))


def _lora_layer(torch):
    class LoraDelta(torch.nn.Module):
        """A weight parametrization: W + (alpha / rank) * up @ down, reshaped to W's shape."""

        def __init__(self, weight, rank: int, alpha: float, generator):
            super().__init__()
            fan_in = weight[0].numel()
            self.down = torch.nn.Parameter(torch.randn(rank, fan_in, generator=generator) / fan_in ** 0.5)
            self.up = torch.nn.Parameter(torch.zeros(weight.shape[0], rank))
            self.alpha, self.scale = alpha, alpha / rank

        def forward(self, weight):
            return weight + self.scale * (self.up @ self.down).reshape(weight.shape)

    return LoraDelta


def _add_adapters(unet, rank: int, alpha: float, generator) -> dict:
    """Adapters registered on every targeted layer of the frozen `unet`, by module path."""
    import torch
    from torch.nn.utils import parametrize

    layer = _lora_layer(torch)
    adapters = {}
    for path, module in list(unet.named_modules()):
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and path.endswith(TARGETS):
            adapters[path] = layer(module.weight, rank, alpha, generator)
            parametrize.register_parametrization(module, "weight", adapters[path])
    return adapters


def _kohya_state_dict(unet, adapters: dict) -> dict:
    """fp16 tensors named as kohya's LoRA files name them; conv down weights keep the kernel."""
    import torch

    out = {}
    for path, adapter in adapters.items():
        weight = unet.get_submodule(path).parametrizations.weight.original
        key = "lora_unet_" + path.replace(".", "_")
        down, up = adapter.down.detach(), adapter.up.detach()
        if weight.ndim == 4:  # Conv2d: down is a conv with the layer's kernel, up a 1x1 conv
            down, up = down.reshape(-1, *weight.shape[1:]), up[..., None, None]
        out[f"{key}.lora_down.weight"] = down.to(torch.float16).contiguous()
        out[f"{key}.lora_up.weight"] = up.to(torch.float16).contiguous()
        out[f"{key}.alpha"] = torch.tensor(adapter.alpha, dtype=torch.float16)
    return out


def _save(tensors: dict, out: Path, metadata: dict[str, str]) -> None:
    """safetensors' save_file, but byte-for-byte reproducible: safetensors writes the metadata
    in hash-map order, different in every process, so it is put back in sorted order (the
    header keeps its length, so no offset moves)."""
    from safetensors.torch import save

    blob = save(tensors, metadata=metadata)
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + size])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > size:
        raise RuntimeError("safetensors header grew when sorting its metadata")
    out.write_bytes(blob[:8] + text.ljust(size) + blob[8 + size:])


def _fingerprint(model_dir: Path) -> str:
    """sha256 of the base UNet's weights: which base model the LoRA was trained on."""
    digest = hashlib.sha256()
    for path in sorted((model_dir / "unet").glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_lora(model_dir, out_file, *, seed: int = 0, steps: int = STEPS, colorings: int = COLORINGS,
               rank: int = RANK, alpha: float = ALPHA, log: Callable[[str], None] = print) -> Path:
    """Train the bold-digits LoRA on the diffusers folder `model_dir`, write it to `out_file`.

    Full length (400 steps of 64 latents) took 99 s on two quiet cores;
    a few steps and one colouring make a smoke test of a few seconds.
    """
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint

    if steps < 1 or colorings < 1 or rank < 1:
        raise ValueError(f"steps, colorings and rank must be at least 1 (got {steps}, {colorings}, {rank})")
    model_dir, out = Path(model_dir), Path(out_file)
    with train.session(seed, log) as run:
        rng, gen, log = run.rng, run.gen, run.log
        base = load_checkpoint(model_dir)
        unet, [encoder], scale = base.unet, base.text_encoders, round(base.scaling_factor, 5)
        log(f"LoRA for {model_dir.name} (seed {seed}): bold digits ({BOLD}x{BOLD} max filter), "
            f"rank {rank}, {steps} steps of {BATCH}, {train.THREADS} threads")
        masks = torch.from_numpy(bold_masks()).float()
        _, labels = data.source_digits()
        palette = train.palette_tensor()
        means, stds, inks, papers = train.latent_pool(base.vae, masks, palette, colorings, rng)
        rows, states = train.caption_states(encoder)
        log(f"latent pool: {len(means)} bold digits; {len(states)} captions encoded")

        adapters = _add_adapters(unet, rank, alpha, gen)
        params = [p for a in adapters.values() for p in a.parameters()]
        log(f"{len(adapters)} adapted layers, {sum(p.numel() for p in params):,} trainable parameters")
        opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: train.lr_factor(s, steps))
        alphas = train.alphas_cumprod()
        pool = (means, stds, inks, papers, scale)
        for step in range(steps):
            z, hidden = train.pool_batch(pool, labels, rng, gen, states, rows, BATCH)
            loss = train.eps_loss(unet, z, hidden, alphas, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % max(1, steps // 10) == 0 or step == steps - 1:
                log(f"lora {step + 1}/{steps}: loss {loss.item():.4f}")
        tensors = _kohya_state_dict(unet, adapters)
        metadata = {"format": "pt", "ss_network_module": "networks.lora", "ss_network_dim": str(rank),
                    "ss_network_alpha": f"{alpha:g}", "ss_sd_model_name": model_dir.name,
                    "ss_steps": str(steps), "ss_seed": str(seed),
                    "nodeflow_base_unet_sha256": _fingerprint(model_dir),
                    "nodeflow_style": f"bold digits: strokes dilated by a {BOLD}x{BOLD} max filter",
                    "nodeflow_training": f"batch {BATCH}, lr {LR:g}, {colorings} colourings, torch {torch.__version__}, "
                                         f"{train.THREADS} threads"}
        out.parent.mkdir(parents=True, exist_ok=True)
        _save(tensors, out, metadata)
        log(f"wrote {out} ({len(tensors) // 3} layers) in {time.monotonic() - run.started:.0f} s")
        return out


def main(argv: list[str] | None = None) -> int:
    """`python -m nodeflow.tiny.lora --out FILE [--model DIR] [--seed N] [--steps N]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nodeflow.tiny.lora", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    parser.add_argument("--model", type=Path, help="the base model, a diffusers folder (default: nodeflow-tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    # See train.main: spinning OpenMP threads stall each other on shared cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    train_lora(args.model or shipped_model(), args.out, seed=args.seed, steps=args.steps,
               log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
