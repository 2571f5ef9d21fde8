"""Socket types of the Stable Diffusion toolbox beyond the core ones (MODEL, CLIP, VAE, ...),
with ComfyUI's wire names so that imported workflows link the same way. Torch-free.

The values that travel: SAMPLER a :class:`SamplerSpec`, SIGMAS a 1-D float tensor (descending,
usually ending in 0), NOISE a :class:`NoiseSpec`, GUIDER a :class:`GuiderSpec`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import SocketType, _tensor_problem


class Sampler(SocketType):
    """A sampling algorithm by ComfyUI's name, with its options (KSamplerSelect)."""
    type_name = "SAMPLER"
    color = "#ecb4b4"


class Sigmas(SocketType):
    """A noise schedule: the sigmas to step through, descending."""
    type_name = "SIGMAS"
    color = "#cdffcd"

    @classmethod
    def check(cls, value: Any) -> str | None:
        return _tensor_problem(value, 1, "[steps + 1]")


class Noise(SocketType):
    """Where the starting noise comes from: a seed, or none (continue from a noisy latent)."""
    type_name = "NOISE"
    color = "#b0b0b0"


class Guider(SocketType):
    """A model with its prompts and guidance: what a custom sampler denoises with."""
    type_name = "GUIDER"
    color = "#66ffff"


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseSpec:
    seed: int | None
    """None: add no noise."""


@dataclass(frozen=True, eq=False)
class GuiderSpec:
    model: Any
    positive: Any
    negative: Any | None
    cfg: float
