"""The glue a KSampler node calls: seeded noise, denoiser wrappers, inpainting, one `sample` entry.

Everything here is model-agnostic. A "denoiser" is any callable `denoiser(x, sigma, **cond) ->
denoised` in the k-diffusion parameterisation (x = x0 + sigma * eps). UNetDenoiser turns a
diffusers-style UNet into one; CFGDenoiser adds classifier-free guidance on top. Latents here
are in the model's space, i.e. already multiplied by the VAE scale factor (0.18215 for SD 1.x/2.x,
0.13025 for SDXL); ComfyUI does that multiplication inside its sampler, nodeflow leaves it to the
caller so this module needs no knowledge of the VAE.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .cond_batch import SamplerCond, calc_cond_batch
from .names import SAMPLER_NAMES, unknown_name_message
from .samplers import SAMPLERS
from .schedules import DiscreteSchedule, sd_schedule


def prepare_noise(shape, seed: int, batch_indices=None) -> torch.Tensor:
    """Gaussian noise for a latent of `shape`, float32 on the CPU, the same numbers ComfyUI draws.

    ComfyUI seeds the global generator (torch.manual_seed) and calls torch.randn; a private CPU
    generator seeded the same way yields the identical stream without touching global state, so
    a seed gives the same image on any device. `batch_indices` (ComfyUI's batch_index) draws one
    sample per index up to the largest and picks those, so item k of a batch matches item k of
    a bigger batch with the same seed.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    shape = list(shape)
    if batch_indices is None:
        return torch.randn(shape, dtype=torch.float32, generator=generator, device="cpu")
    wanted = sorted(set(batch_indices))
    drawn = {}
    for i in range(wanted[-1] + 1):
        sample = torch.randn([1] + shape[1:], dtype=torch.float32, generator=generator, device="cpu")
        if i in wanted:
            drawn[i] = sample
    return torch.cat([drawn[i] for i in batch_indices], dim=0)


# --- denoisers ----------------------------------------------------------------------------------


def _expand(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim))


class UNetDenoiser:
    """A diffusers-style UNet `unet(x_in, timestep, encoder_hidden_states, **added) -> eps | v`
    as a k-diffusion denoiser D(x; sigma), for a discrete VP schedule.

    The input is scaled by c_in = 1 / sqrt(sigma^2 + 1) (the VP x_t), the timestep is the
    nearest table entry in log-sigma (as ComfyUI feeds discrete models), and the output is
    turned into x0 according to the schedule's prediction type (Salimans & Ho 2022 for v).
    `dtype` runs the UNet in another precision (bf16, fp16); the result is cast back.
    """

    def __init__(self, unet: Callable, schedule: DiscreteSchedule, dtype: torch.dtype | None = None):
        self.unet, self.schedule, self.dtype = unet, schedule, dtype

    def __call__(self, x, sigma, encoder_hidden_states=None, concat=None, control=None,
                 **added_cond):
        s = _expand(sigma, x)
        x_in = x / (s ** 2 + 1.0) ** 0.5
        timestep = self.schedule.timestep(sigma).float()
        if control is not None:  # ControlNet residuals, T2I-Adapter features
            added_cond.update(control.unet_kwargs(
                x_in, timestep, float(sigma.reshape(-1)[0]),
                {"encoder_hidden_states": encoder_hidden_states, **added_cond}) or {})
        if concat is not None:  # an inpainting model's extra input channels (mask, image)
            x_in = torch.cat([x_in, concat.to(x_in)], dim=1)
        if self.dtype is not None:
            x_in = x_in.to(self.dtype)
            if encoder_hidden_states is not None:
                encoder_hidden_states = encoder_hidden_states.to(self.dtype)
            added_cond = _map_tensors(added_cond, lambda t: t.to(self.dtype))
        out = self.unet(x_in, timestep, encoder_hidden_states, **added_cond)
        out = getattr(out, "sample", out)  # diffusers returns UNet2DConditionOutput by default
        out = (out[0] if isinstance(out, tuple) else out).to(x.dtype)
        if self.schedule.prediction == "v":
            return x / (s ** 2 + 1.0) - out * s / (s ** 2 + 1.0) ** 0.5
        return x - out * s


def _map_tensors(tree, fn):
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map_tensors(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map_tensors(v, fn) for v in tree)
    return tree


def _repeat_to(t: torch.Tensor, n: int) -> torch.Tensor:
    if t.shape[0] == n:
        return t
    if t.shape[0] == 1:
        return t.expand(n, *t.shape[1:])
    raise ValueError(f"conditioning has batch size {t.shape[0]}, the latent has {n}")


def _cat_conds(conds: list[dict], n: int) -> dict:
    """Concatenate conditioning dicts (nested, e.g. SDXL's added_cond_kwargs) along the batch.

    Prompts of different token lengths (a long prompt has 154 tokens, a short one 77) are first
    repeated to a common length: attention over k copies of the same tokens gives exactly the
    same result, which is also how ComfyUI batches them."""
    out = {}
    for key, first in conds[0].items():
        values = [c[key] for c in conds]
        if isinstance(first, torch.Tensor):
            if key == "encoder_hidden_states":
                tokens = math.lcm(*(v.shape[1] for v in values))
                values = [v.repeat(1, tokens // v.shape[1], 1) for v in values]
            out[key] = torch.cat([_repeat_to(v, n) for v in values])
        elif isinstance(first, dict):
            out[key] = _cat_conds(values, n)
        else:
            out[key] = first
    return out


def _as_conds(conds) -> list[SamplerCond]:
    items = [conds] if isinstance(conds, (dict, SamplerCond)) else list(conds)
    return [c if isinstance(c, SamplerCond) else SamplerCond(c) for c in items]


class CFGDenoiser:
    """Classifier-free guidance (Ho & Salimans 2022): D = D_u + cfg * (D_c - D_u).

    `cond` and `uncond` are the keyword arguments of `denoiser` (e.g. encoder_hidden_states and
    SDXL's added_cond_kwargs), lists of them, or lists of SamplerCond (areas, masks, strengths,
    timestep ranges): several conditionings (ConditioningCombine) are each predicted and their
    predictions averaged by weight, as ComfyUI's calc_cond_batch does. Conditionings on windows
    of the same size run as one batch. With cfg == 1 the guided result is the conditional one,
    so the unconditional pass is skipped, as in ComfyUI. `run_batch` replaces the model call
    (ControlNet adds its residuals there).
    """

    def __init__(self, denoiser: Callable, cond, uncond, cfg: float,
                 run_batch: Callable | None = None):
        self.denoiser, self.cfg, self.run_batch = denoiser, float(cfg), run_batch
        self.cond, self.uncond = _as_conds(cond), _as_conds(uncond)

    @property
    def schedule(self):
        return getattr(self.denoiser, "schedule", None)

    def _run(self, x, sigma, with_uncond: bool, **kwargs):
        groups = [self.cond, self.uncond] if with_uncond else [self.cond]
        outs = calc_cond_batch(self.denoiser, groups, x, sigma, _cat_conds, self.run_batch,
                               **kwargs)
        return outs[0], (outs[1] if with_uncond else None)

    def _both(self, x, sigma, **kwargs):
        cond_out, uncond_out = self._run(x, sigma, True, **kwargs)
        return uncond_out + (cond_out - uncond_out) * self.cfg, uncond_out

    def __call__(self, x, sigma, **kwargs):
        if math.isclose(self.cfg, 1.0):
            return self._run(x, sigma, False, **kwargs)[0]
        return self._both(x, sigma, **kwargs)[0]

    def with_uncond(self, x, sigma, **kwargs):
        """(guided, unconditional) denoised, always running both passes (what CFG++ samplers need)."""
        return self._both(x, sigma, **kwargs)


def unet_conditioning(entry, height: int, width: int) -> dict:
    """A CONDITIONING entry as UNet keyword arguments; SDXL adds its pooled text embedding and
    the size micro-conditioning (original size, crop, target size: the image's own size)."""
    kwargs = {"encoder_hidden_states": entry.cond}
    if entry.pooled is not None:
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)
        kwargs["added_cond_kwargs"] = {"text_embeds": entry.pooled, "time_ids": time_ids}
    return kwargs


def prepare_mask(mask: torch.Tensor, shape) -> torch.Tensor:
    """Resize a noise mask ([H, W], [B, H, W] or [B, 1, H, W], 1 = repaint) to a latent's shape
    (bilinear, as ComfyUI's reshape_mask), repeated over channels and batch."""
    mask = mask.float().reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
    mask = F.interpolate(mask, size=tuple(shape[2:]), mode="bilinear")
    mask = mask.repeat(1, shape[1], 1, 1)[:, :shape[1]]
    if mask.shape[0] < shape[0]:
        mask = mask.repeat(math.ceil(shape[0] / mask.shape[0]), 1, 1, 1)
    return mask[:shape[0]]


class InpaintDenoiser:
    """Keeps the unmasked part of `latent` while sampling, as ComfyUI's KSamplerX0Inpaint does.

    Before each call the unmasked area of x is replaced by the original latent noised to the
    current sigma; afterwards the unmasked area of the prediction is the original latent. The
    sampler therefore only ever changes the masked (mask = 1) area.
    """

    def __init__(self, denoiser: Callable, latent: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor):
        self.denoiser, self.latent, self.noise, self.mask = denoiser, latent, noise, mask

    @property
    def schedule(self):
        return getattr(self.denoiser, "schedule", None)

    def _blend_in(self, x, sigma):
        return x * self.mask + (self.latent + self.noise * _expand(sigma, self.noise)) * (1.0 - self.mask)

    def _blend_out(self, denoised):
        return denoised * self.mask + self.latent * (1.0 - self.mask)

    def __call__(self, x, sigma, **kwargs):
        return self._blend_out(self.denoiser(self._blend_in(x, sigma), sigma, **kwargs))

    def with_uncond(self, x, sigma, **kwargs):
        x = self._blend_in(x, sigma)
        if hasattr(self.denoiser, "with_uncond"):
            denoised, uncond = self.denoiser.with_uncond(x, sigma, **kwargs)
        else:
            denoised = uncond = self.denoiser(x, sigma, **kwargs)
        return self._blend_out(denoised), uncond


# --- the entry point ----------------------------------------------------------------------------


def sample(denoiser: Callable, latent: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor,
           sampler_name: str, seed: int, callback: Callable | None = None, noise_mask: torch.Tensor | None = None,
           add_noise: bool = True, sampler_options: dict | None = None) -> torch.Tensor:
    """Run one ComfyUI-style KSampler pass and return the final latent.

    `noise` is from prepare_noise; `sigmas` from schedules.calculate_sigmas (or advanced_sigmas).
    Starting from sigma_max the noise is scaled by sqrt(1 + sigma^2) (ComfyUI's max_denoise, the
    VP prior), otherwise by sigma and added to `latent` (img2img). `seed` also seeds the
    sampler's own noise. `callback(step, total, x, denoised)` runs after each model evaluation
    with step = 1..total; raising from it aborts sampling (that is how interrupts work).
    `noise_mask` (1 = repaint) keeps the rest of `latent`. `add_noise=False` is KSamplerAdvanced's
    "add_noise: disable" (continue from a latent that still holds noise). sigma_max comes from
    `denoiser.schedule` (UNetDenoiser and the wrappers carry it), else the SD schedule.
    """
    if sampler_name not in SAMPLERS:
        raise ValueError(unknown_name_message("sampler", sampler_name, SAMPLER_NAMES))
    if len(sigmas) < 2:
        return latent  # nothing to sample (denoise 0, or a start step past the end)

    device = latent.device
    latent = latent.float()
    sigmas = sigmas.to(device)
    noise = noise.to(device=device, dtype=torch.float32) if add_noise else torch.zeros_like(latent)

    model = denoiser
    if noise_mask is not None:
        mask = prepare_mask(noise_mask.to(device), latent.shape)
        inpaint_noise = noise
        if sampler_name == "ddim":
            # ComfyUI's "ddim" re-noises the kept area with its own noise, seeded with seed + 1.
            generator = torch.Generator(device="cpu").manual_seed(seed + 1)
            inpaint_noise = torch.randn(latent.shape, generator=generator).to(device)
        model = InpaintDenoiser(denoiser, latent, inpaint_noise, mask)

    schedule = getattr(denoiser, "schedule", None) or sd_schedule()
    sigma_max, sigma_0 = float(schedule.sigma_max), float(sigmas[0])
    max_denoise = math.isclose(sigma_max, sigma_0, rel_tol=1e-5) or sigma_0 > sigma_max
    x = noise * (torch.sqrt(1.0 + sigmas[0] ** 2.0) if max_denoise else sigmas[0]) + latent

    total = len(sigmas) - 1
    k_callback = None
    if callback is not None:
        def k_callback(info):
            callback(info["i"] + 1, total, info["x"], info["denoised"])

    return SAMPLERS[sampler_name](model, x, sigmas, extra_args={"seed": seed}, callback=k_callback,
                                  **(sampler_options or {}))


# --- previews -----------------------------------------------------------------------------------

# Linear latent -> RGB factors published with ComfyUI (comfy/latent_formats.py); rows are latent
# channels, columns R, G, B; they act on the model-space (scaled) latent.
LATENT_RGB_FACTORS = {
    "sd1": ([[0.3512, 0.2297, 0.3227],
             [0.3250, 0.4974, 0.2350],
             [-0.2829, 0.1762, 0.2721],
             [-0.2120, -0.2616, -0.7177]], [0.0, 0.0, 0.0]),
    "sdxl": ([[0.3651, 0.4232, 0.4341],
              [-0.2533, -0.0042, 0.1068],
              [0.1076, 0.1111, -0.0362],
              [-0.3165, -0.2492, -0.2188]], [0.1084, -0.0175, -0.0011]),
}
LATENT_RGB_FACTORS["sd2"] = LATENT_RGB_FACTORS["sd1"]


def latent_preview(latent: torch.Tensor, kind: str = "sd1") -> torch.Tensor:
    """A cheap H x W x 3 uint8 preview of the first latent in a batch (1/8 of the image size),
    by a fixed linear map instead of the VAE decoder; good enough to watch sampling progress."""
    if kind not in LATENT_RGB_FACTORS:
        raise ValueError(f"unknown latent kind {kind!r}; valid: {', '.join(LATENT_RGB_FACTORS)}")
    factors, bias = LATENT_RGB_FACTORS[kind]
    first = latent[0] if latent.ndim == 4 else latent
    weight = torch.tensor(factors, dtype=torch.float32, device=first.device)
    rgb = first.float().permute(1, 2, 0) @ weight + torch.tensor(bias, device=first.device)
    return ((rgb + 1.0) / 2.0).clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
