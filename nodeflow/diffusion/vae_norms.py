"""GroupNorm statistics shared by the tiles of a tiled VAE pass.

Each tile normalising with its own mean and variance is what made tiles differ in colour and
contrast (22.7 dB against the full decode). Here every tile is normalised with the statistics
of the whole image instead, as the Tiled VAE of the multidiffusion-upscaler extension does, and
without ever holding the whole image: the statistics are gathered one norm at a time, in the
order the network reaches them. For each norm a pass runs every tile up to that norm (the norms
before it already use the whole image's statistics), records the mean and variance of the
region the tile owns (the regions partition the image) and stops the tile there; the pooled
values are then exact for that norm. Cheaper schemes (pooling every norm from one pass, and
iterating) were tried and converge too slowly: 30-39 dB after five passes.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


class NormGathered(Exception):
    """Raised inside a tile once the norm being gathered has its statistics: the rest of the
    tile is not needed in this pass."""


class SharedGroupNorms:
    """Replaces the GroupNorms in some modules while tiles run through them.

    While `gathering`, the first norm reached whose statistics are unknown records them over
    the tile's own region (`owned`: top, bottom, left, right as fractions of the tile, so they
    hold at every resolution) and stops the tile; `pool` then fixes them. Norms with known
    statistics normalise with them.
    """

    def __init__(self, *roots: torch.nn.Module):
        self.norms = [m for root in roots for m in root.modules() if isinstance(m, torch.nn.GroupNorm)]
        self.gathering = False
        self.owned: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
        self.pooled: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.norms)
        self._index: int | None = None
        self._parts: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    @property
    def complete(self) -> bool:
        return all(stats is not None for stats in self.pooled)

    @contextmanager
    def installed(self) -> Iterator["SharedGroupNorms"]:
        for index, norm in enumerate(self.norms):
            norm.forward = self._forward_for(index, norm)
        try:
            yield self
        finally:
            for norm in self.norms:
                del norm.forward  # back to the class's own

    def pool(self) -> None:
        """Fix the statistics of the norm the last pass gathered, pooled over the tiles."""
        if self._index is None:
            raise RuntimeError("no norm was reached in this pass")
        counts = torch.tensor([n for n, _, _ in self._parts], dtype=torch.float64)[:, None, None]
        means = torch.stack([m for _, m, _ in self._parts])
        variances = torch.stack([v for _, _, v in self._parts])
        total = counts.sum()
        mean = (counts * means).sum(0) / total
        variance = (counts * (variances + (means - mean) ** 2)).sum(0) / total
        self.pooled[self._index] = (mean, variance)
        self._index, self._parts = None, []

    def _forward_for(self, index: int, norm: torch.nn.GroupNorm):
        def forward(x: torch.Tensor) -> torch.Tensor:
            stats = self.pooled[index]
            if stats is None:
                if not self.gathering or self._index not in (None, index):
                    raise RuntimeError("a GroupNorm was reached before its statistics were gathered")
                self._index = index
                self._record(x, norm.num_groups)
                raise NormGathered
            return _normalise(x, norm, *stats)

        return forward

    def _record(self, x: torch.Tensor, groups: int) -> None:
        """The mean and variance of each group over the tile's own region, pooled from each
        channel's: reducing over the pixels reads the tile in its own layout, where grouping
        the channels first copied a channels-last tile into the plain layout (half the time)."""
        height, width = x.shape[-2:]
        top, bottom, left, right = self.owned
        own = x[..., round(top * height):round(bottom * height), round(left * width):round(right * width)]
        variance, mean = torch.var_mean(own.float(), dim=tuple(range(2, x.dim())), correction=0)
        mean, variance = mean.double().unflatten(1, (groups, -1)), variance.double().unflatten(1, (groups, -1))
        group_mean = mean.mean(-1)
        group_variance = (variance + (mean - group_mean[..., None]) ** 2).mean(-1)
        self._parts.append((own[0, 0].numel() * mean.shape[-1], group_mean, group_variance))


def _normalise(x: torch.Tensor, norm: torch.nn.GroupNorm, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """GroupNorm of `x` with given per-(sample, group) statistics, computed in fp32 as one
    multiply-add per element (per-channel scale and shift folded from the statistics)."""
    batch, channels = x.shape[:2]
    per_group = channels // norm.num_groups
    rstd = torch.rsqrt(variance.float() + norm.eps).repeat_interleave(per_group, dim=1)  # [B, C]
    shift = -mean.float().repeat_interleave(per_group, dim=1) * rstd
    if norm.affine:
        rstd, shift = rstd * norm.weight.float(), shift * norm.weight.float() + norm.bias.float()
    view = (batch, channels) + (1,) * (x.dim() - 2)
    return torch.addcmul(shift.view(view), x.float(), rstd.view(view)).to(x.dtype)
