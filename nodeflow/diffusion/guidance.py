"""Classifier-free guidance over several conditionings at once (ConditioningCombine).

Each CONDITIONING entry is its own prediction; the positive ones are averaged, the negative
ones too, then D = D_neg + cfg * (D_pos - D_neg) (Ho & Salimans 2022). All entries run as one
batch. Prompts of different token lengths (a long prompt has 154 tokens, a short one 77) are
repeated to a common length first: attention over k copies of the same tokens gives exactly
the same result, which is also how ComfyUI batches them.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def unet_kwargs(entry, batch: int, height: int, width: int) -> dict:
    """The UNet's keyword arguments for one conditioning entry (SDXL adds pooled + sizes)."""
    kwargs = {"encoder_hidden_states": entry.cond}
    if entry.pooled is not None:
        size = [height, width, 0, 0, height, width]  # original size, crop, target (SDXL micro-cond)
        time_ids = torch.tensor([size], dtype=torch.float32)
        kwargs["added_cond_kwargs"] = {"text_embeds": entry.pooled, "time_ids": time_ids}
    return kwargs


def _fit(t: torch.Tensor, batch: int, tokens: int | None = None) -> torch.Tensor:
    if tokens is not None and t.shape[1] != tokens:
        t = t.repeat(1, tokens // t.shape[1], 1)
    if t.shape[0] == batch:
        return t
    if t.shape[0] == 1:
        return t.expand(batch, *t.shape[1:])
    raise ValueError(f"a conditioning has batch size {t.shape[0]} but the latent has {batch}")


def _batch(entries: list[dict], batch: int) -> dict:
    tokens = math.lcm(*(e["encoder_hidden_states"].shape[1] for e in entries))
    out = {"encoder_hidden_states": torch.cat(
        [_fit(e["encoder_hidden_states"], batch, tokens) for e in entries])}
    if "added_cond_kwargs" in entries[0]:
        out["added_cond_kwargs"] = {
            key: torch.cat([_fit(e["added_cond_kwargs"][key], batch) for e in entries])
            for key in entries[0]["added_cond_kwargs"]}
    return out


class GuidedDenoiser:
    def __init__(self, denoiser: Callable, positive: list[dict], negative: list[dict], cfg: float):
        self.denoiser, self.positive, self.negative, self.cfg = denoiser, positive, negative, cfg

    @property
    def schedule(self):
        return getattr(self.denoiser, "schedule", None)

    def _run(self, x: torch.Tensor, sigma: torch.Tensor, with_negative: bool):
        entries = self.positive + (self.negative if with_negative else [])
        n, batch = len(entries), x.shape[0]
        device = x.device
        cond = _batch(entries, batch)
        cond = {k: (v.to(device) if isinstance(v, torch.Tensor)
                    else {kk: vv.to(device) for kk, vv in v.items()}) for k, v in cond.items()}
        out = self.denoiser(x.repeat(n, *[1] * (x.ndim - 1)), sigma.repeat(n), **cond)
        parts = out.chunk(n)
        positive = torch.stack(parts[:len(self.positive)]).mean(0)
        negative = torch.stack(parts[len(self.positive):]).mean(0) if with_negative else None
        return positive, negative

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **_: object) -> torch.Tensor:
        if math.isclose(self.cfg, 1.0):
            return self._run(x, sigma, with_negative=False)[0]
        positive, negative = self._run(x, sigma, with_negative=True)
        return negative + (positive - negative) * self.cfg

    def with_uncond(self, x: torch.Tensor, sigma: torch.Tensor, **_: object):
        """(guided, negative) for the CFG++ samplers."""
        positive, negative = self._run(x, sigma, with_negative=True)
        return negative + (positive - negative) * self.cfg, negative
