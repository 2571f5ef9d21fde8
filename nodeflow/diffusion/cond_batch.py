"""Conditioning as the sampler evaluates it: areas, masks, strengths and timestep ranges.

ComfyUI's comfy/samplers.py does this in three places, followed here step by step:
`resolve_areas_and_cond_masks_multidim` (percentage areas become latent pixels, masks are
resized to the latent and may set the area to their bounding box), `calculate_start_end_timesteps`
(start/end percent become sigmas) and `calc_cond_batch` with `get_area_and_mult` (each
conditioning predicts on its area of x; predictions are summed weighted by mask x strength,
with the area's inner edges faded over up to 8 latent pixels, and divided by the summed
weights). A conditioning outside its timestep range at a step takes no part in that step.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

FUZZ = 8
"""Latent pixels over which an area's edges fade (ComfyUI's get_area_and_mult)."""


@dataclass(frozen=True, eq=False)
class SamplerCond:
    """One conditioning ready for sampling. ``kwargs`` are the denoiser's keyword arguments
    (``encoder_hidden_states``, SDXL's ``added_cond_kwargs``, an inpainting model's ``concat``);
    ``area`` is (height, width, y, x) in latent pixels; ``mask`` [batch or 1, h, w] at the
    latent's size; the model sees this conditioning while sigma_end <= sigma <= sigma_start."""

    kwargs: dict
    area: tuple[int, int, int, int] | None = None
    mask: torch.Tensor | None = None
    strength: float = 1.0
    mask_strength: float = 1.0
    sigma_start: float | None = None
    sigma_end: float | None = None
    extras: dict = field(default_factory=dict)
    """What other wrappers attach (ControlNet: "control")."""

    @property
    def plain(self) -> bool:
        return self.area is None and self.mask is None and self.strength == 1.0


def _mask_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(height, width, y, x) of the nonzero part of a [h, w] mask; None when all zero."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(ys) == 0:
        return None
    y0, x0, y1, x1 = int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())
    return y1 - y0 + 1, x1 - x0 + 1, y0, x0


def resolve(entry_extra, kwargs: dict, latent_shape, schedule) -> SamplerCond:
    """A CONDITIONING entry's extras (ComfyUI's keys) as a SamplerCond for a latent of
    ``latent_shape`` [B, C, h, w] and a model with ``schedule``."""
    h, w = latent_shape[-2:]
    area = entry_extra.get("area")
    if area is not None and area[0] == "percentage":
        _, ph, pw, py, px = area
        area = (max(1, round(ph * h)), max(1, round(pw * w)), round(py * h), round(px * w))
    elif area is not None:
        area = tuple(int(v) for v in area)
    mask = entry_extra.get("mask")
    if mask is not None:
        mask = mask.float()
        if mask.ndim == 2:
            mask = mask[None]
        if tuple(mask.shape[-2:]) != (h, w):
            mask = F.interpolate(mask[:, None], size=(h, w), mode="bilinear",
                                 align_corners=False)[:, 0]
        if entry_extra.get("set_area_to_bounds", False):
            box = _mask_box(mask.abs().amax(0))
            if box is None:  # an empty mask: the smallest area, for speed
                area = (8, 8, 0, 0)
            else:
                area = (max(8, box[0]), max(8, box[1]), box[2], box[3])
    start, end = entry_extra.get("start_percent"), entry_extra.get("end_percent")
    return SamplerCond(
        kwargs, area=area, mask=mask, strength=float(entry_extra.get("strength", 1.0)),
        mask_strength=float(entry_extra.get("mask_strength", 1.0)),
        sigma_start=None if start is None else schedule.percent_to_sigma(float(start)),
        sigma_end=None if end is None else schedule.percent_to_sigma(float(end)))


@dataclass(eq=False)
class _Job:
    group: int
    input_x: torch.Tensor
    mult: torch.Tensor
    window: tuple[slice, slice]
    kwargs: dict
    cond: SamplerCond


def _job(group: int, cond: SamplerCond, x: torch.Tensor, sigma: torch.Tensor) -> _Job | None:
    s = float(sigma.reshape(-1)[0])
    if cond.sigma_start is not None and s > cond.sigma_start:
        return None
    if cond.sigma_end is not None and s < cond.sigma_end:
        return None
    height, width = x.shape[-2:]
    if cond.area is None:
        ah, aw, ay, ax = height, width, 0, 0
    else:
        ah, aw, ay, ax = cond.area
        ah, aw = min(height - ay, ah), min(width - ax, aw)
    window = (slice(ay, ay + ah), slice(ax, ax + aw))
    input_x = x[..., window[0], window[1]]
    if cond.mask is not None:
        mask = cond.mask[:input_x.shape[0], window[0], window[1]] * cond.mask_strength
        mask = mask[:, None].repeat(input_x.shape[0] // mask.shape[0], input_x.shape[1], 1, 1)
    else:
        mask = torch.ones_like(input_x)
    mult = mask * cond.strength
    if cond.mask is None and cond.area is not None:
        for dim, (size, start, full) in enumerate(((ah, ay, height), (aw, ax, width))):
            fade = min(FUZZ, mult.shape[2 + dim] // 4)
            for t in range(fade):
                rate = (t + 1) / fade
                if start != 0:
                    mult.narrow(2 + dim, t, 1).mul_(rate)
                if size + start < full:
                    mult.narrow(2 + dim, size - 1 - t, 1).mul_(rate)
    kwargs = dict(cond.kwargs)
    if "concat" in kwargs:
        kwargs["concat"] = kwargs["concat"][..., window[0], window[1]]
    return _Job(group, input_x, mult, window, kwargs, cond)


def _batch_key(job: _Job) -> tuple:
    return tuple(job.input_x.shape), id(job.kwargs.get("control"))


def calc_cond_batch(denoiser: Callable, groups: Iterable[list[SamplerCond]], x: torch.Tensor,
                    sigma: torch.Tensor, cat_conds: Callable, run_batch: Callable | None = None,
                    **kwargs) -> list[torch.Tensor]:
    """The denoised prediction of each group of conditionings (for CFG: [positive, negative]).

    Conditionings on windows of one size run as one batch (``cat_conds`` joins their keyword
    arguments); ``run_batch(denoiser, x, sigma, jobs, kwargs)`` may replace the model call
    (ControlNet adds its residuals there)."""
    groups = list(groups)
    outs = [torch.zeros_like(x) for _ in groups]
    counts = [torch.full_like(x, 1e-37) for _ in groups]
    jobs = [job for g, conds in enumerate(groups) for c in conds
            if (job := _job(g, c, x, sigma)) is not None]
    while jobs:
        # one batch: windows of one size and the same ControlNet (or none), as ComfyUI's
        # can_concat_cond requires
        key = _batch_key(jobs[0])
        batch = [j for j in jobs if _batch_key(j) == key]
        jobs = [j for j in jobs if _batch_key(j) != key]
        xs = torch.cat([j.input_x for j in batch])
        sigmas = torch.cat([sigma] * len(batch))
        joined = cat_conds([j.kwargs for j in batch], x.shape[0])
        if run_batch is not None:
            out = run_batch(denoiser, xs, sigmas, batch, {**joined, **kwargs})
        else:
            out = denoiser(xs, sigmas, **joined, **kwargs)
        for job, part in zip(batch, out.chunk(len(batch))):
            rows, cols = job.window
            outs[job.group][..., rows, cols] += part * job.mult
            counts[job.group][..., rows, cols] += job.mult
    return [o / c for o, c in zip(outs, counts)]


def with_kwargs(cond: SamplerCond, **kwargs) -> SamplerCond:
    return replace(cond, kwargs={**cond.kwargs, **kwargs})
