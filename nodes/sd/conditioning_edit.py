"""Conditioning nodes with ComfyUI's names and meaning: a prompt for one area, under a mask, for
part of the steps, at a strength; mixing and joining prompts; an empty prompt. The sampler
honours areas, masks, strengths and timestep ranges as ComfyUI's calc_cond_batch does
(nodeflow/diffusion/cond_batch.py)."""
from __future__ import annotations

from nodeflow import Conditioning, Field, Mask, NodeError, node

MAX = 16384
STRENGTH = Field(1.0, ge=0.0, le=10.0, step=0.01)
FRACTION = {"ge": 0.0, "le": 1.0, "step": 0.01}


def _set(conditioning, **values):
    from nodeflow.diffusion.conditioning import Conditioning as Cond

    return Cond(tuple(entry.with_extra(**values) for entry in conditioning))


@node(category="conditioning", display_name="Conditioning (Set Area)")
def ConditioningSetArea(conditioning: Conditioning,
                        width: int = Field(64, ge=64, le=MAX, step=8),
                        height: int = Field(64, ge=64, le=MAX, step=8),
                        x: int = Field(0, ge=0, le=MAX, step=8),
                        y: int = Field(0, ge=0, le=MAX, step=8),
                        strength: float = STRENGTH) -> Conditioning:
    """Let this prompt act only on the width x height pixels at (x, y) (in steps of 8 pixels,
    one latent pixel); where areas overlap their predictions are averaged by strength, and an
    area's inner edges blend over a few latent pixels. Combine it with a prompt for the whole
    picture (Combine Conditioning) to compose a scene."""
    return _set(conditioning, area=(height // 8, width // 8, y // 8, x // 8),
                strength=strength, set_area_to_bounds=False)


@node(category="conditioning", display_name="Conditioning (Set Area with Percentage)")
def ConditioningSetAreaPercentage(conditioning: Conditioning,
                                  width: float = Field(1.0, **FRACTION),
                                  height: float = Field(1.0, **FRACTION),
                                  x: float = Field(0.0, **FRACTION),
                                  y: float = Field(0.0, **FRACTION),
                                  strength: float = STRENGTH) -> Conditioning:
    """Like Set Area, in fractions of the picture's width and height (any picture size)."""
    return _set(conditioning, area=("percentage", height, width, y, x), strength=strength,
                set_area_to_bounds=False)


@node(category="conditioning", display_name="Conditioning (Set Area Strength)")
def ConditioningSetAreaStrength(conditioning: Conditioning,
                                strength: float = STRENGTH) -> Conditioning:
    """Change only the strength of a prompt set to an area or a mask: its weight where it
    overlaps other prompts."""
    return _set(conditioning, strength=strength)


@node(category="conditioning", display_name="Conditioning (Set Mask)")
def ConditioningSetMask(conditioning: Conditioning, mask: Mask, strength: float = STRENGTH,
                        set_cond_area: str = Field("default",
                                                   choices=["default", "mask bounds"])
                        ) -> Conditioning:
    """Let this prompt act where the mask is (weighted by its values x ``strength``).
    ``mask bounds`` runs the model only on the box around the mask, which is faster and
    gives the prompt the whole model's attention there."""
    if mask.ndim == 2:
        mask = mask[None]
    return _set(conditioning, mask=mask, set_area_to_bounds=set_cond_area != "default",
                mask_strength=strength)


@node(category="advanced/conditioning", display_name="Conditioning Set Timestep Range")
def ConditioningSetTimestepRange(conditioning: Conditioning, start: float = Field(0.0, **FRACTION),
                                 end: float = Field(1.0, **FRACTION)) -> Conditioning:
    """Use this prompt only from ``start`` to ``end`` of the sampling (0 = the first, noisiest
    step, 1 = the last): composition from one prompt, details from another."""
    return _set(conditioning, start_percent=start, end_percent=end)


@node(category="conditioning", display_name="Conditioning Average")
def ConditioningAverage(conditioning_to: Conditioning, conditioning_from: Conditioning,
                        conditioning_to_strength: float = Field(1.0, **FRACTION), *,
                        ctx) -> Conditioning:
    """A mix of two prompts' embeddings (not of their predictions, unlike Combine):
    to x strength + from x (1 - strength). A shorter ``from`` is padded with zeros; only the
    first entry of ``from`` is used."""
    import torch

    from nodeflow.diffusion.conditioning import CondEntry
    from nodeflow.diffusion.conditioning import Conditioning as Cond

    if len(conditioning_from) > 1:
        ctx.log("Conditioning Average: conditioning_from has several entries; only the first "
                "is used")
    source = conditioning_from.entries[0]
    w = conditioning_to_strength
    out = []
    for entry in conditioning_to:
        t0 = source.cond[:, :entry.cond.shape[1]]
        if t0.shape[-1] != entry.cond.shape[-1]:
            raise NodeError(f"embeddings of width {t0.shape[-1]} and {entry.cond.shape[-1]} "
                            "(different text encoders) cannot be averaged",
                            input="conditioning_from")
        if t0.shape[1] < entry.cond.shape[1]:
            pad = torch.zeros((t0.shape[0], entry.cond.shape[1] - t0.shape[1], t0.shape[2]))
            t0 = torch.cat([t0, pad.to(t0)], dim=1)
        pooled_from = source.pooled
        pooled_to = entry.pooled if entry.pooled is not None else pooled_from
        pooled = pooled_to
        if pooled_from is not None and pooled_to is not None:
            pooled = pooled_to * w + pooled_from * (1.0 - w)
        out.append(CondEntry(entry.cond * w + t0 * (1.0 - w), pooled, entry.extra))
    return Cond(tuple(out))


@node(category="conditioning", display_name="Conditioning (Concat)")
def ConditioningConcat(conditioning_to: Conditioning,
                       conditioning_from: Conditioning, *, ctx) -> Conditioning:
    """``from``'s tokens appended to each of ``to``'s (one longer prompt, as if joined with
    BREAK); only the first entry of ``from`` is used."""
    import torch

    from nodeflow.diffusion.conditioning import CondEntry
    from nodeflow.diffusion.conditioning import Conditioning as Cond

    if len(conditioning_from) > 1:
        ctx.log("Conditioning (Concat): conditioning_from has several entries; only the first "
                "is used")
    source = conditioning_from.entries[0].cond
    out = []
    for entry in conditioning_to:
        if source.shape[-1] != entry.cond.shape[-1]:
            raise NodeError(f"embeddings of width {source.shape[-1]} and {entry.cond.shape[-1]}"
                            " (different text encoders) cannot be joined",
                            input="conditioning_from")
        out.append(CondEntry(torch.cat([entry.cond, source.to(entry.cond)], dim=1),
                             entry.pooled, entry.extra))
    return Cond(tuple(out))


@node(category="advanced/conditioning", display_name="ConditioningZeroOut")
def ConditioningZeroOut(conditioning: Conditioning) -> Conditioning:
    """The same conditioning with all embeddings zero (an "empty" negative for models trained
    with one)."""
    import torch

    from nodeflow.diffusion.conditioning import CondEntry
    from nodeflow.diffusion.conditioning import Conditioning as Cond

    return Cond(tuple(CondEntry(torch.zeros_like(e.cond),
                                None if e.pooled is None else torch.zeros_like(e.pooled),
                                e.extra) for e in conditioning))
