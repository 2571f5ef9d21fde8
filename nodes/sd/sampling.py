"""KSampler and KSamplerAdvanced: denoise a latent with a model, two prompts and a schedule.

Samplers and schedulers are named as in ComfyUI and give the same numbers for the same seed
(the reference test checks this). Noise comes from the CPU generator seeded with ``seed``.
"""
from __future__ import annotations

from nodeflow import Conditioning, Field, Latent, Model, NodeError, node
from nodeflow.diffusion.names import SAMPLER_NAMES, SCHEDULER_NAMES

SEED = Field(0, ge=0, le=2**64 - 1, control_after_generate=True)
STEPS = Field(20, ge=1, le=1000)
CFG = Field(7.0, ge=0.0, le=100.0, step=0.1)
SAMPLER = Field("euler", choices=list(SAMPLER_NAMES))
SCHEDULER = Field("normal", choices=list(SCHEDULER_NAMES))


def _start_latent(latent, checkpoint):
    """Raw latents fitting the model: an EmptyLatent takes the model's channels and factor."""
    import torch

    from nodeflow.diffusion.vae_ops import downscale_factor

    factor = downscale_factor(checkpoint.vae)
    channels = checkpoint.latent_channels
    if latent.empty_pixels is not None:
        height, width = latent.empty_pixels
        if height % factor or width % factor:
            raise NodeError(f"{width}x{height} is not a multiple of this model's VAE factor "
                            f"{factor}", input="latent")
        samples = torch.zeros((latent.batch_size, channels, height // factor, width // factor))
        return latent.with_samples(samples, downscale=factor)
    if latent.samples.shape[1] != channels:
        raise NodeError(f"the latent has {latent.samples.shape[1]} channels but this model "
                        f"works on {channels}", input="latent")
    return latent


def _run(ctx, model, positive, negative, latent, seed, steps, cfg, sampler, scheduler,
         sigmas_for, add_noise=True):
    import torch

    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.sampling import (CFGDenoiser, UNetDenoiser, latent_preview,
                                             prepare_noise, sample, unet_conditioning)
    from nodeflow.diffusion.schedules import DiscreteSchedule

    runtime = Runtime.for_ctx(ctx)
    unet, checkpoint = model.load(ctx, runtime)
    latent = _start_latent(latent, checkpoint)
    config = checkpoint.scheduler_config
    prediction = "v" if checkpoint.prediction_type == "v_prediction" else "eps"
    schedule = DiscreteSchedule.scaled_linear(
        beta_start=config.get("beta_start", 0.00085), beta_end=config.get("beta_end", 0.012),
        num_timesteps=config.get("num_train_timesteps", 1000), prediction=prediction)
    sigmas = sigmas_for(schedule)
    height, width = latent.pixel_size
    batch = latent.batch_size
    pos = [unet_conditioning(e, height, width) for e in positive]
    neg = [unet_conditioning(e, height, width) for e in negative]
    denoiser = CFGDenoiser(UNetDenoiser(unet, schedule, dtype=runtime.dtype), pos, neg, cfg)
    scale = checkpoint.scaling_factor
    kind = "sdxl" if checkpoint.arch == "sdxl" else "sd1"

    def progress(step, total, x, denoised):
        preview = None
        if checkpoint.latent_channels == 4:
            from PIL import Image

            preview = Image.fromarray(latent_preview(denoised, kind).cpu().numpy())
        ctx.progress(step, total, preview)

    ctx.log(f"{sampler}/{scheduler}, {len(sigmas) - 1} steps, {runtime.describe()}")
    noise = prepare_noise(latent.samples.shape, seed)
    start = (latent.samples * scale).to(runtime.device)
    mask = latent.noise_mask
    with torch.no_grad():
        out = sample(denoiser, start, noise.to(runtime.device), sigmas, sampler, seed,
                     callback=progress, noise_mask=None if mask is None else mask.to(runtime.device),
                     add_noise=add_noise)
    return latent.with_samples((out / scale).float().cpu(), noise_mask=latent.noise_mask)


@node(category="sampling", display_name="KSampler")
def KSampler(model: Model, positive: Conditioning, negative: Conditioning, latent: Latent,
             seed: int = SEED, steps: int = STEPS, cfg: float = CFG, sampler: str = SAMPLER,
             scheduler: str = SCHEDULER, denoise: float = Field(1.0, ge=0.0, le=1.0, step=0.01),
             *, ctx) -> Latent:
    """Denoise ``latent`` guided by the prompts. ``denoise`` < 1 keeps part of the input
    (img2img): it runs the last ``steps`` steps of a longer schedule."""
    from nodeflow.diffusion.schedules import calculate_sigmas

    return _run(ctx, model, positive, negative, latent, seed, steps, cfg, sampler, scheduler,
                lambda s: calculate_sigmas(s, scheduler, steps, denoise, sampler=sampler))


@node(category="sampling", display_name="KSampler (Advanced)")
def KSamplerAdvanced(model: Model, positive: Conditioning, negative: Conditioning,
                     latent: Latent, add_noise: bool = True, seed: int = SEED,
                     steps: int = STEPS, cfg: float = CFG, sampler: str = SAMPLER,
                     scheduler: str = SCHEDULER,
                     start_at_step: int = Field(0, ge=0, le=10000),
                     end_at_step: int = Field(10000, ge=0, le=10000),
                     return_with_leftover_noise: bool = False, *, ctx) -> Latent:
    """Run part of a schedule: steps ``start_at_step`` to ``end_at_step`` of ``steps``.
    Chain two of these (the first returning leftover noise, the second without adding noise)
    to switch models or prompts midway."""
    from nodeflow.diffusion.schedules import advanced_sigmas, calculate_sigmas

    def sigmas_for(schedule):
        full = calculate_sigmas(schedule, scheduler, steps, 1.0, sampler=sampler)
        return advanced_sigmas(full, start_at_step, end_at_step, return_with_leftover_noise)

    return _run(ctx, model, positive, negative, latent, seed, steps, cfg, sampler, scheduler,
                sigmas_for, add_noise=add_noise)
