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

    factor = downscale_factor(checkpoint.vae) if checkpoint.vae is not None else 8
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


# "Zero" in pixel space as an SD 1.x/2.x/XL latent (model space): what an inpainting model
# sees as its masked image when nothing is masked (ComfyUI's blank_inpaint_image_like).
BLANK_INPAINT_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)


def inpaint_concat(extra, start, noise_mask, scale):
    """The extra input channels of an inpainting UNet (9 = 4 latent + 1 mask + 4 masked
    image): the mask (rounded, at the latent's size) then the masked image's latent, from
    InpaintModelConditioning's ``concat_mask``/``concat_latent_image`` or else the latent's
    own noise mask and the latent itself (ComfyUI's BaseModel.concat_cond)."""
    import torch

    from nodeflow.diffusion.image_ops import repeat_to_batch, upscale

    batch, _, height, width = start.shape
    image = extra.get("concat_latent_image")
    image = start if image is None else image.to(start) * scale
    if image.shape[-2:] != start.shape[-2:]:
        image = upscale(image, width, height, "bilinear", "center")
    image = repeat_to_batch(image, batch)
    mask = extra.get("concat_mask", noise_mask)
    if mask is None:
        blank = torch.tensor(BLANK_INPAINT_LATENT, dtype=start.dtype, device=start.device)
        return torch.cat([torch.ones_like(start[:, :1]),
                          blank.reshape(1, -1, 1, 1).expand_as(start)], dim=1)
    mask = mask.to(start).reshape((-1, 1, *mask.shape[-2:]))
    if mask.shape[-2:] != start.shape[-2:]:
        mask = upscale(mask, width, height, "bilinear", "center")
    return torch.cat([repeat_to_batch(mask.round(), batch), image], dim=1)


def model_schedule(checkpoint):
    """The discrete noise schedule the model was trained with."""
    from nodeflow.diffusion.schedules import DiscreteSchedule

    config = checkpoint.scheduler_config
    prediction = "v" if checkpoint.prediction_type == "v_prediction" else "eps"
    return DiscreteSchedule.scaled_linear(
        beta_start=config.get("beta_start", 0.00085), beta_end=config.get("beta_end", 0.012),
        num_timesteps=config.get("num_train_timesteps", 1000), prediction=prediction)


def sampler_conds(conditioning, latent, start, schedule, unet, checkpoint, scale,
                  bind_control=None, seed: int = 0):
    """CONDITIONING entries as SamplerConds: UNet arguments, areas, masks, timestep ranges,
    ControlNets (``bind_control(spec)`` loads one for this run), an unCLIP model's image
    embedding label (noised from ``seed``)."""
    from nodeflow.diffusion.cond_batch import resolve
    from nodeflow.diffusion.sampling import unet_conditioning
    from nodeflow.diffusion.unclip import class_labels

    height, width = latent.pixel_size
    config = getattr(unet, "config", None)
    in_channels = getattr(config, "in_channels", None)
    inpainting = in_channels is not None and in_channels > checkpoint.latent_channels
    labels = getattr(config, "class_embed_type", None) == "projection"
    conds = []
    for entry in conditioning:
        kwargs = unet_conditioning(entry, height, width)
        unclip = entry.extra.get("unclip_conditioning", ())
        if labels:
            kwargs["class_labels"] = class_labels(
                unclip, config.projection_class_embeddings_input_dim, seed)
        elif unclip and "added_cond_kwargs" in kwargs:
            kwargs["added_cond_kwargs"] = revision_pooled(kwargs["added_cond_kwargs"], unclip,
                                                          seed)
        if inpainting:
            kwargs["concat"] = inpaint_concat(entry.extra, start, latent.noise_mask, scale)
        if entry.extra.get("control") is not None and bind_control is not None:
            kwargs["control"] = bind_control(entry.extra["control"])
        conds.append(resolve(entry.extra, kwargs, start.shape, schedule))
    return conds


def revision_pooled(added: dict, unclip, seed: int) -> dict:
    """SDXL "revision": an unCLIP Conditioning on an SDXL model replaces the pooled text
    embedding with the picture's noise-augmented CLIP image embedding (ComfyUI's sdxl_pooled:
    the first half of the unCLIP label), so the picture steers what the prompt's pooled
    vector would."""
    from nodeflow import NodeError
    from nodeflow.diffusion.unclip import class_labels

    pooled = added["text_embeds"]
    width = pooled.shape[-1]
    for output, _, _ in unclip:
        if output.image_embeds.shape[-1] != width:
            raise NodeError(f"unCLIP Conditioning: the CLIP vision model's image embedding is "
                            f"{output.image_embeds.shape[-1]} wide, but this SDXL model's pooled "
                            f"input takes {width} (SDXL revision uses clip_vision_g)",
                            input="positive")
    image = class_labels(unclip, 2 * width, seed)[:, :width].to(pooled)
    return {**added, "text_embeds": image.expand(pooled.shape[0], -1)}


def sample_latent(ctx, model, positive, negative, cfg, latent, sigmas_for, sampler,
                  noise_seed: int | None, sampler_options=None, *, seed: int = 0,
                  label: str = ""):
    """Run one sampling pass and return (latent out, the last denoised prediction).

    ``sigmas_for(schedule)`` gives the sigmas; ``noise_seed`` None adds no noise (continue
    from a latent that still holds noise); ``seed`` seeds the sampler's own noise."""
    import torch

    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.sampling import (CFGDenoiser, UNetDenoiser, latent_preview,
                                             prepare_noise, sample)

    runtime = Runtime.for_ctx(ctx)
    unet, checkpoint = model.load(ctx, runtime)
    latent = _start_latent(latent, checkpoint)
    schedule = model_schedule(checkpoint)
    sigmas = sigmas_for(schedule)
    scale = checkpoint.scaling_factor
    start = (latent.samples * scale).to(runtime.device)
    bound = {}

    def bind_control(spec):
        from nodeflow.diffusion.controlnet import BoundControl

        if id(spec) not in bound:  # one binding per ControlNet, so batches can be shared
            bound[id(spec)] = BoundControl.bind(spec, ctx, runtime, schedule, checkpoint.arch,
                                                scale)
        return bound[id(spec)]

    pos = sampler_conds(positive, latent, start, schedule, unet, checkpoint, scale, bind_control,
                        seed)
    neg = sampler_conds(negative, latent, start, schedule, unet, checkpoint, scale,
                        bind_control, seed) if negative is not None else []
    compiled = getattr(ctx.settings, "compile", False)
    if compiled:
        from nodeflow.diffusion.compiled import compiled_unet

        unet = compiled_unet(unet, runtime.device, runtime.dtype)
    denoiser = CFGDenoiser(UNetDenoiser(unet, schedule, dtype=runtime.dtype), pos, neg, cfg)
    kind = "sdxl" if checkpoint.arch == "sdxl" else "sd1"
    last = {}

    def progress(step, total, x, denoised):
        last["denoised"] = denoised
        preview = None
        if checkpoint.latent_channels == 4:
            from PIL import Image

            preview = Image.fromarray(latent_preview(denoised, kind).cpu().numpy())
        ctx.progress(step, total, preview)

    ctx.log(f"{label or sampler}, {len(sigmas) - 1} steps, {runtime.describe()}"
            + (", UNet compiled (--compile)" if compiled else ""))
    noise = prepare_noise(latent.samples.shape, 0 if noise_seed is None else noise_seed,
                          latent.batch_index)
    mask = latent.noise_mask
    with torch.no_grad():
        out = sample(denoiser, start, noise.to(runtime.device), sigmas, sampler, seed,
                     callback=progress, noise_mask=None if mask is None else mask.to(runtime.device),
                     add_noise=noise_seed is not None, sampler_options=sampler_options)
    result = latent.with_samples((out / scale).float().cpu(), noise_mask=latent.noise_mask)
    denoised = last.get("denoised")
    denoised = result if denoised is None else latent.with_samples(
        (denoised / scale).float().cpu(), noise_mask=latent.noise_mask)
    return result, denoised


def _run(ctx, model, positive, negative, latent, seed, steps, cfg, sampler, scheduler,
         sigmas_for, add_noise=True):
    return sample_latent(ctx, model, positive, negative, cfg, latent, sigmas_for, sampler,
                         seed if add_noise else None, seed=seed,
                         label=f"{sampler}/{scheduler}")[0]


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
