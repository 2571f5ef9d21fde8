"""CONDITIONING: what a text encoder hands to a sampler.

ComfyUI's CONDITIONING is a list of `[cond, {"pooled_output": ..., ...}]` pairs, and its
ConditioningCombine node returns the concatenation of its two inputs' lists (nodes.py,
`ConditioningCombine.combine`: `conditioning_1 + conditioning_2`). The sampler runs the
model once per entry and averages the predictions, each weighted by its strength and area
or mask (comfy/samplers.py, `calc_cond_batch`: `out_conds` accumulate output * mult and
`out_counts` accumulate mult, then divide). Combining is therefore not averaging the
embeddings: "a cat" + "a dog" is two predictions per step, averaged.

Conditioning here is the same list as an immutable dataclass, so results can be cached and
shared between nodes without one node mutating another's input. Tensors are torch tensors,
but this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import torch

__all__ = ["CondEntry", "Conditioning", "combine_conditioning"]


@dataclass(frozen=True)
class CondEntry:
    """One conditioning the sampler evaluates on its own.

    cond:   [batch, 77 * chunks, dim] token embeddings (cross-attention context).
    pooled: [batch, dim] pooled text embedding (SDXL's `y` input), None for SD 1.x / 2.x.
    extra:  everything else a node attaches, under ComfyUI's key names where they exist
            ("strength", "mask", "area", "start_percent", "end_percent", "width", ...).
    """

    cond: torch.Tensor
    pooled: torch.Tensor | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cond.dim() != 3:
            raise ValueError(f"cond must be [batch, tokens, dim], got shape {tuple(self.cond.shape)}")
        if self.pooled is not None and (self.pooled.dim() != 2 or self.pooled.shape[0] != self.cond.shape[0]):
            raise ValueError(
                f"pooled must be [batch, dim] with the batch of cond {tuple(self.cond.shape)}, "
                f"got shape {tuple(self.pooled.shape)}"
            )
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def with_extra(self, **values: Any) -> CondEntry:
        """A copy with `values` added to (or replacing keys of) extra."""
        return CondEntry(self.cond, self.pooled, {**self.extra, **values})


@dataclass(frozen=True)
class Conditioning:
    """The CONDITIONING socket value: one or more entries whose predictions are averaged."""

    entries: tuple[CondEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        if not self.entries:
            raise ValueError("a conditioning needs at least one entry")

    @classmethod
    def single(cls, cond: torch.Tensor, pooled: torch.Tensor | None = None, **extra: Any) -> Conditioning:
        """What a text-encode node returns: one entry."""
        return cls((CondEntry(cond, pooled, extra),))

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)


def combine_conditioning(a: Conditioning, b: Conditioning) -> Conditioning:
    """ConditioningCombine: both inputs' entries, each evaluated and their predictions averaged."""
    return Conditioning(a.entries + b.entries)
