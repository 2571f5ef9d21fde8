"""Train nodeflow-tiny from scratch on the CPU and write it as a diffusers folder.

Latent diffusion as Stable Diffusion does it (Rombach et al. 2022), in four phases:
1. the VAE alone: L1 + MSE reconstruction of painted digits, a small KL term so the latent
   stays a smooth distribution (mean and variance) that the VAE nodes can show;
2. a pool of latents: every digit painted in several colour pairs, encoded once; the latent
   scaling factor is 1 / their standard deviation (how SD's 0.18215 was chosen);
3. the text encoder alone (no pretrained CLIP exists offline): every position from the end of
   the prompt on must name the caption's digit, ink and background through small linear
   heads (thrown away afterwards), so its hidden states carry each concept plainly. Trained
   jointly with the UNet instead, the digit words stayed weak: the colours dominate the pixels,
   so the UNet learned them first and the digit barely (43% of digits right);
4. the UNet on the frozen encoder's states (every caption encoded once): eps prediction on
   SD 1.x's noise schedule, 10% empty captions so classifier-free guidance works, with an
   exponential moving average of the weights, which is what ships.

Everything random comes from `seed`, so `train(out, seed=0)` gives the shipped weights again
(same torch build, same thread count). Weights are stored in fp16 safetensors.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import configs, data

if TYPE_CHECKING:
    import torch

THREADS = 2
VAE_STEPS, VAE_BATCH, VAE_LR, KL_WEIGHT = 600, 64, 2e-3, 1e-4
COLORINGS = 16  # colour pairs per digit in the latent pool
TEXT_STEPS, TEXT_BATCH, TEXT_LR = 100, 256, 3e-3
UNET_STEPS, UNET_BATCH, UNET_LR, EMA_DECAY = 2000, 128, 3e-3, 0.995
WARMUP = 0.05


def lr_factor(step: int, steps: int) -> float:
    """Linear warmup, then cosine decay to 10%."""
    warm = max(1, int(WARMUP * steps))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Session:
    """What a training run draws on: `rng` (NumPy) and `gen` (torch) seeded from the run's
    seed, and `log`, which prefixes each message with the seconds since the start."""

    rng: np.random.Generator
    gen: torch.Generator
    log: Callable[[str], None]
    started: float


@contextmanager
def session(seed: int, log: Callable[[str], None]) -> Iterator[Session]:
    """A reproducible training run: THREADS threads and every random source seeded from `seed`;
    torch's global generator and thread count are given back afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    started = time.monotonic()

    def timed(message: str) -> None:
        log(f"[{time.monotonic() - started:5.0f} s] {message}")

    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield Session(np.random.default_rng(seed), torch.Generator().manual_seed(seed), timed, started)
    finally:
        torch.set_num_threads(threads)


def palette_tensor() -> torch.Tensor:
    """[colours, 3] the palette in 0..1, in `data.COLORS` order."""
    import torch

    return torch.tensor([data.PALETTE[c] for c in data.COLORS], dtype=torch.float32) / 255


def _painted(masks, palette, idx, ink, paper):
    """A batch [B, 3, 32, 32] in -1..1 (the VAE's range) of painted digits."""
    m = masks[idx][:, None]
    ink_rgb, paper_rgb = palette[ink][..., None, None], palette[paper][..., None, None]
    return (paper_rgb + m * (ink_rgb - paper_rgb)) * 2 - 1


def _train_vae(masks, palette, steps, rng, gen, log):
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_config(configs.vae_config())
    opt = torch.optim.AdamW(vae.parameters(), lr=VAE_LR, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps))
    for step in range(steps):
        idx = rng.integers(0, len(masks), VAE_BATCH)
        x = _painted(masks, palette, idx, *data.color_pairs(rng, VAE_BATCH))
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean() + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            log(f"vae {step + 1}/{steps}: loss {loss.item():.4f} (kl {kl.item():.2f})")
    return vae.eval().requires_grad_(False)


def latent_pool(vae, masks, palette, colorings, rng):
    """Posterior (mean, std) of every digit painted in `colorings` random colour pairs, with
    the pairs: the UNet's training set, encoded once instead of at every step."""
    import torch

    means, stds, inks, papers = [], [], [], []
    with torch.no_grad():
        for _ in range(colorings):
            ink, paper = data.color_pairs(rng, len(masks))
            for start in range(0, len(masks), 512):
                idx = np.arange(start, min(start + 512, len(masks)))
                x = _painted(masks, palette, idx, ink[idx], paper[idx])
                dist = vae.encode(x).latent_dist
                means.append(dist.mean)
                stds.append(dist.std)
            inks.append(ink)
            papers.append(paper)
    return torch.cat(means), torch.cat(stds), np.concatenate(inks), np.concatenate(papers)


def _prompt_ids():
    """Token ids [P, 77] of every training caption, tokenized exactly as TextEncode does."""
    import torch

    from nodeflow.diffusion.text_encoding import tokenize_prompt
    from nodeflow.diffusion.tokenizer import load_clip_tokenizer

    tokenizer = load_clip_tokenizer("eos")
    texts = data.all_prompts()
    ids = [tokenize_prompt(text, tokenizer, pad_with="eos").ids[0] for text in texts]
    return {text: row for row, text in enumerate(texts)}, torch.tensor(ids)


def _caption_labels() -> torch.Tensor:
    """[P, 3] class of each caption's digit, ink and background (0 = not named, else 1 + index),
    in the order of `_prompt_ids`."""
    import torch

    return torch.tensor([[0 if v is None else 1 + v for v in named] for _, *named in data.caption_parts()])


def _train_text_encoder(steps, rng, log):
    """The CLIP text encoder, taught to state every caption's concepts at every position from
    the first end-of-text token on (where causal attention has seen the whole prompt)."""
    import torch
    import torch.nn.functional as F
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_dict(configs.text_encoder_config())
    encoder = CLIPTextModel(config)
    _, ids = _prompt_ids()
    labels = _caption_labels()
    classes = (1 + len(data.WORDS), 1 + len(data.COLORS), 1 + len(data.COLORS))  # 0: not named
    heads = torch.nn.ModuleList(torch.nn.Linear(config.hidden_size, n) for n in classes)
    opt = torch.optim.AdamW(list(encoder.parameters()) + list(heads.parameters()), lr=TEXT_LR, weight_decay=0.0)
    after_end = torch.arange(ids.shape[1]) >= (ids == config.eos_token_id).int().argmax(dim=1, keepdim=True)
    for step in range(steps):
        pick = torch.from_numpy(rng.integers(0, len(ids), TEXT_BATCH))
        hidden = encoder(input_ids=ids[pick]).last_hidden_state[after_end[pick]]  # [positions, D]
        per_position = labels[pick].repeat_interleave(after_end[pick].sum(dim=1), dim=0)
        loss = sum(F.cross_entropy(head(hidden), per_position[:, k]) for k, head in enumerate(heads))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            log(f"text encoder {step + 1}/{steps}: loss {loss.item():.4f}")
    return encoder.eval().requires_grad_(False)


def caption_states(encoder) -> tuple[dict[str, int], torch.Tensor]:
    """(row of each training caption, the frozen text encoder's hidden states [P, 77, D] of
    all of them): every caption is encoded once, not at every step."""
    import torch

    rows, ids = _prompt_ids()
    with torch.no_grad():
        states = torch.cat([encoder(input_ids=chunk).last_hidden_state for chunk in ids.split(256)])
    return rows, states


def alphas_cumprod() -> torch.Tensor:
    """SD 1.x's cumulative signal shares, one per training timestep."""
    import torch

    sc = configs.scheduler_config()
    betas = torch.linspace(sc["beta_start"] ** 0.5, sc["beta_end"] ** 0.5, sc["num_train_timesteps"]) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def eps_loss(unet, z, hidden, alphas, gen) -> torch.Tensor:
    """The latent-diffusion objective: noise `z` to a random timestep, predict the noise."""
    import torch

    t = torch.randint(0, len(alphas), (len(z),), generator=gen)
    eps = torch.randn(z.shape, generator=gen)
    ab = alphas[t][:, None, None, None]
    noisy = ab.sqrt() * z + (1 - ab).sqrt() * eps
    return ((unet(noisy, t, hidden).sample - eps) ** 2).mean()


def pool_batch(pool, labels, rng, gen, states, rows, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: (scaled latents sampled from their posteriors, caption states), each
    latent captioned by `data.training_prompt`."""
    import torch

    means, stds, inks, papers, scale = pool
    idx = rng.integers(0, len(means), batch)
    draws = rng.random(batch)
    digits = labels[idx % len(labels)]  # the pool holds every digit once per colouring, in order
    captions = [data.training_prompt(int(d), data.COLORS[inks[i]], data.COLORS[papers[i]], r)
                for i, d, r in zip(idx, digits, draws)]
    z = (means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=gen)) * scale
    return z, states[torch.tensor([rows[c] for c in captions])]


def _train_unet(pool, labels, encoder, steps, rng, gen, log):
    import torch
    from diffusers import UNet2DConditionModel

    rows, states = caption_states(encoder)
    unet = UNet2DConditionModel.from_config(configs.unet_config())
    params = list(unet.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=UNET_LR, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps))
    alphas = alphas_cumprod()
    for step in range(steps):
        z, hidden = pool_batch(pool, labels, rng, gen, states, rows, UNET_BATCH)
        loss = eps_loss(unet, z, hidden, alphas, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.lerp_(p, 1 - decay)
        if step % max(1, steps // 20) == 0 or step == steps - 1:
            log(f"unet {step + 1}/{steps}: loss {loss.item():.4f}")
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    return unet.eval().requires_grad_(False)


def _write(out: Path, vae, unet, encoder, info: dict) -> None:
    """A diffusers StableDiffusionPipeline folder with fp16 safetensors weights."""
    import diffusers
    import torch
    from safetensors.torch import save_file

    from nodeflow.diffusion.tokenizer import TOKENIZER_DIR

    out.mkdir(parents=True, exist_ok=True)
    for part, module, weights in (("vae", vae, "diffusion_pytorch_model"), ("unet", unet, "diffusion_pytorch_model"),
                                  ("text_encoder", encoder, "model")):
        (out / part).mkdir(exist_ok=True)
        if part == "text_encoder":
            module.config.save_pretrained(out / part)
        else:
            module.save_config(out / part)
        half = {k: v.to(torch.float16).contiguous() for k, v in module.state_dict().items()}
        save_file(half, out / part / f"{weights}.safetensors", metadata={"format": "pt"})
    (out / "scheduler").mkdir(exist_ok=True)
    scheduler = dict(configs.scheduler_config(), _diffusers_version=diffusers.__version__)
    (out / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler, indent=2) + "\n")
    shutil.copytree(TOKENIZER_DIR, out / "tokenizer", dirs_exist_ok=True)
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
             "feature_extractor": [None, None], "requires_safety_checker": False,
             "safety_checker": [None, None], "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")


def train(out_dir, *, seed: int = 0, scale: float = 1.0, log: Callable[[str], None] = print) -> Path:
    """Train nodeflow-tiny into `out_dir` (a diffusers folder) and return its path.

    `scale` multiplies the length of every phase (at least one step each): 1.0 is the shipped
    model (about 17 minutes on two free cores), 0.01 a smoke test of a few seconds.
    """
    import torch

    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], not {scale}")
    out = Path(out_dir)
    with session(seed, log) as run:
        rng, gen, log = run.rng, run.gen, run.log
        masks = torch.from_numpy(data.masks()).float()
        _, labels = data.source_digits()
        palette = palette_tensor()
        vae_steps, text_steps, unet_steps = (max(1, round(n * scale)) for n in (VAE_STEPS, TEXT_STEPS, UNET_STEPS))
        log(f"training nodeflow-tiny (seed {seed}, scale {scale}): VAE {vae_steps} steps, "
            f"text encoder {text_steps} steps, UNet {unet_steps} steps, {THREADS} threads")
        vae = _train_vae(masks, palette, vae_steps, rng, gen, log)
        vae_seconds = time.monotonic() - run.started
        means, stds, inks, papers = latent_pool(vae, masks, palette, max(1, round(COLORINGS * scale)), rng)
        sampled = means + stds * torch.randn(means.shape, generator=gen)
        latent_scale = float(1.0 / sampled.std())
        vae.register_to_config(scaling_factor=round(latent_scale, 5))
        log(f"latent pool: {len(means)} latents, std of samples {sampled.std():.4f}, "
            f"mean posterior std {stds.mean():.4f}, scaling_factor {latent_scale:.5f}")
        encoder = _train_text_encoder(text_steps, rng, log)
        unet = _train_unet((means, stds, inks, papers, round(latent_scale, 5)), labels, encoder,
                           unet_steps, rng, gen, log)
        seconds = time.monotonic() - run.started
        info = {"seed": seed, "scale": scale, "vae_steps": vae_steps, "text_steps": text_steps,
                "unet_steps": unet_steps, "threads": THREADS, "torch": torch.__version__,
                "seconds": round(seconds), "vae_seconds": round(vae_seconds),
                "scaling_factor": round(latent_scale, 5)}
        _write(out, vae, unet, encoder, info)
        log(f"wrote {out} in {seconds:.0f} s")
        return out


def main(argv: list[str] | None = None) -> int:
    """`python -m nodeflow.tiny.train --out DIR [--seed N] [--scale S]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nodeflow.tiny.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the model to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="shorten training (0 < S <= 1)")
    args = parser.parse_args(argv)
    # Spinning OpenMP threads stall each other when the cores are shared (several times slower
    # under load); waiting passively costs nothing alone. Only effective before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    train(args.out, seed=args.seed, scale=args.scale, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
