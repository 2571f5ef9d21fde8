"""Custom sampling with ComfyUI's nodes (comfy_extras/nodes_custom_sampler.py): pick a sampler,
a schedule, the noise and the guidance separately and wire them into SamplerCustom or
SamplerCustomAdvanced. The same choices give KSampler's numbers exactly."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Conditioning, Field, Latent, Model, NodeError, node
from nodeflow.diffusion.names import SAMPLER_NAMES, SCHEDULER_NAMES
from nodeflow.diffusion.sockets import Guider, Noise, Sampler, Sigmas

from .sampling import CFG, SEED, sample_latent

STEPS = Field(20, ge=1, le=10000)
SIGMA = {"ge": 0.0, "le": 5000.0, "step": 0.01}


class SplitResult(NamedTuple):
    high_sigmas: Sigmas
    low_sigmas: Sigmas


class CustomResult(NamedTuple):
    output: Latent
    denoised_output: Latent


@node(category="sampling/custom_sampling/samplers", display_name="KSamplerSelect")
def KSamplerSelect(sampler_name: str = Field("euler", choices=list(SAMPLER_NAMES))) -> Sampler:
    """A sampler by name, for SamplerCustom."""
    from nodeflow.diffusion.sockets import SamplerSpec

    return SamplerSpec(sampler_name)


@node(category="sampling/custom_sampling/schedulers", display_name="BasicScheduler")
def BasicScheduler(model: Model, scheduler: str = Field("normal", choices=list(SCHEDULER_NAMES)),
                   steps: int = STEPS, denoise: float = Field(1.0, ge=0.0, le=1.0, step=0.01),
                   *, ctx) -> Sigmas:
    """The model's sigmas for ``steps`` steps of a named schedule; denoise < 1 keeps the last
    ``steps`` of a longer schedule (img2img)."""
    import torch

    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.schedules import calculate_sigmas

    from .sampling import model_schedule

    if denoise <= 0.0:
        return torch.zeros(0)
    total = steps if denoise >= 1.0 else int(steps / denoise)
    _, checkpoint = model.load(ctx, Runtime.for_ctx(ctx))
    return calculate_sigmas(model_schedule(checkpoint), scheduler, total).cpu()[-(steps + 1):]


@node(category="sampling/custom_sampling/schedulers", display_name="KarrasScheduler")
def KarrasScheduler(steps: int = STEPS, sigma_max: float = Field(14.614642, **SIGMA),
                    sigma_min: float = Field(0.0291675, **SIGMA),
                    rho: float = Field(7.0, ge=0.0, le=100.0, step=0.01)) -> Sigmas:
    """Karras et al. (2022)'s schedule, eq. 5: uniform in sigma^(1/rho)."""
    from nodeflow.diffusion.schedules import karras_sigmas

    _check_range(sigma_min, sigma_max)
    return karras_sigmas(steps, sigma_min, sigma_max, rho)


@node(category="sampling/custom_sampling/schedulers", display_name="ExponentialScheduler")
def ExponentialScheduler(steps: int = STEPS, sigma_max: float = Field(14.614642, **SIGMA),
                         sigma_min: float = Field(0.0291675, **SIGMA)) -> Sigmas:
    """Sigmas uniform in log-sigma."""
    from nodeflow.diffusion.schedules import exponential_sigmas

    _check_range(sigma_min, sigma_max)
    return exponential_sigmas(steps, sigma_min, sigma_max)


def _check_range(sigma_min: float, sigma_max: float) -> None:
    if sigma_min <= 0:
        raise NodeError("sigma_min must be above 0", input="sigma_min")
    if sigma_max < sigma_min:
        raise NodeError(f"sigma_max {sigma_max} is below sigma_min {sigma_min}",
                        input="sigma_max")


@node(category="sampling/custom_sampling/sigmas", display_name="SplitSigmas")
def SplitSigmas(sigmas: Sigmas, step: int = Field(0, ge=0, le=10000)) -> SplitResult:
    """The schedule cut at ``step``: steps before it and steps from it on (both keep the sigma
    at the cut), for two samplers in a row."""
    return SplitResult(sigmas[:step + 1].clone(), sigmas[step:].clone())


@node(category="sampling/custom_sampling/sigmas", display_name="FlipSigmas")
def FlipSigmas(sigmas: Sigmas) -> Sigmas:
    """The schedule backwards (a first sigma of 0 becomes 0.0001): for unsampling a picture
    back to noise."""
    if len(sigmas) == 0:
        return sigmas
    flipped = sigmas.flip(0).clone()
    if flipped[0] == 0:
        flipped[0] = 0.0001
    return flipped


@node(category="sampling/custom_sampling/noise", display_name="RandomNoise")
def RandomNoise(noise_seed: int = SEED) -> Noise:
    """Gaussian noise drawn on the CPU from the seed (the same as KSampler's)."""
    from nodeflow.diffusion.sockets import NoiseSpec

    return NoiseSpec(noise_seed)


@node(category="sampling/custom_sampling/noise", display_name="DisableNoise")
def DisableNoise() -> Noise:
    """No noise added: sample from a latent that still holds noise (after a first split)."""
    from nodeflow.diffusion.sockets import NoiseSpec

    return NoiseSpec(None)


@node(category="sampling/custom_sampling/guiders", display_name="BasicGuider")
def BasicGuider(model: Model, conditioning: Conditioning) -> Guider:
    """The model with one prompt and no negative (cfg 1)."""
    from nodeflow.diffusion.sockets import GuiderSpec

    return GuiderSpec(model, conditioning, None, 1.0)


@node(category="sampling/custom_sampling/guiders", display_name="CFGGuider")
def CFGGuider(model: Model, positive: Conditioning, negative: Conditioning,
              cfg: float = Field(8.0, ge=0.0, le=100.0, step=0.1)) -> Guider:
    """The model with a prompt, a negative prompt and classifier-free guidance ``cfg``."""
    from nodeflow.diffusion.sockets import GuiderSpec

    return GuiderSpec(model, positive, negative, cfg)


def _custom(ctx, model, positive, negative, cfg, latent, sampler, sigmas, noise_seed, seed):
    out, denoised = sample_latent(ctx, model, positive, negative, cfg, latent,
                                  lambda schedule: sigmas.float().cpu(), sampler.name,
                                  noise_seed, dict(sampler.options), seed=seed,
                                  label=f"{sampler.name} (custom)")
    return CustomResult(out, denoised)


@node(category="sampling/custom_sampling", display_name="SamplerCustom")
def SamplerCustom(model: Model, positive: Conditioning, negative: Conditioning,
                  sampler: Sampler, sigmas: Sigmas, latent_image: Latent, add_noise: bool = True,
                  noise_seed: int = SEED, cfg: float = CFG, *, ctx) -> CustomResult:
    """Sample with a chosen sampler and schedule; ``denoised_output`` is the model's last
    prediction of the clean latent."""
    return _custom(ctx, model, positive, negative, cfg, latent_image, sampler, sigmas,
                   noise_seed if add_noise else None, noise_seed)


@node(category="sampling/custom_sampling", display_name="SamplerCustomAdvanced")
def SamplerCustomAdvanced(noise: Noise, guider: Guider, sampler: Sampler, sigmas: Sigmas,
                          latent_image: Latent, *, ctx) -> CustomResult:
    """Sample with separately chosen noise, guidance (model and prompts), sampler and
    schedule. Without noise (DisableNoise) the sampler's own noise is seeded with 0."""
    return _custom(ctx, guider.model, guider.positive, guider.negative, guider.cfg,
                   latent_image, sampler, sigmas, noise.seed,
                   noise.seed if noise.seed is not None else 0)
