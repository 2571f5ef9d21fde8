"""Samplers as k-diffusion-style free functions, registered under ComfyUI's names in SAMPLERS.

Contract (k-diffusion's): `sample_<name>(model, x, sigmas, extra_args=None, callback=None,
disable=None, ...) -> x`. `model(x, sigma_batch, **model_args)` returns the denoised estimate
D(x; sigma) in the Karras et al. (2022) parameterisation x = x0 + sigma * eps; `x` already holds
the starting noise; `sigmas` is descending and usually ends in 0. `extra_args` is passed to the
model except its "seed" entry, which seeds the sampler's own noise as ComfyUI does:
ancestral samplers draw `torch.randn` from a CPU generator seeded with it, SDE samplers query a
torchsde BrownianTree with it as entropy. `callback` gets k-diffusion's dict
{"x", "i", "sigma", "sigma_hat", "denoised"} once per step. `disable` is accepted for
compatibility (there is no progress bar here; progress goes through the callback).

The update rules follow ComfyUI's comfy/k_diffusion/sampling.py (itself k-diffusion plus
additions) operation by operation in float32, because the reference outputs in
shared/reference/comfy_samplers_toy.json must be met to 1e-4 and the Brownian tree depends on the
exact times at which it is queried. Only VP/discrete models (SD 1.x, 2.x, SDXL) are covered: the
half log-SNR is -log(sigma) and ComfyUI's flow-matching (CONST) branches are left out.

Samplers that need more than D(x; sigma) read optional attributes of `model`:
`model.schedule` (a DiscreteSchedule; sa_solver's default noise interval) and
`model.with_uncond(x, sigma, **args) -> (denoised, uncond_denoised)` for the CFG++ samplers
(sampling.CFGDenoiser provides it; a plain denoiser counts as its own unconditional output).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchsde

from .names import SAMPLER_NAMES, unknown_name_message

# --- shared pieces ----------------------------------------------------------------------------


def _split_args(extra_args):
    """Model kwargs without the seed, and the seed (None when absent)."""
    extra_args = {} if extra_args is None else dict(extra_args)
    seed = extra_args.pop("seed", None)
    return extra_args, seed


def _report(callback, x, i, sigma, denoised, sigma_hat=None):
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma if sigma_hat is None else sigma_hat,
                  "denoised": denoised})


def to_d(x, sigma, denoised):
    """The probability-flow ODE derivative dx/dsigma = (x - D) / sigma (Karras et al. 2022, eq. 3)."""
    sigma = torch.as_tensor(sigma)
    return (x - denoised) / sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim))


def get_ancestral_step(sigma_from, sigma_to, eta=1.0):
    """Split a step into a deterministic move to sigma_down and fresh noise of size sigma_up (k-diffusion)."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def default_noise_sampler(x, seed=None):
    """Fresh Gaussian noise per call, from a CPU generator seeded with `seed` (ComfyUI's convention)."""
    generator = None
    if seed is not None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device,
                                                 generator=generator)


class BrownianTreeNoiseSampler:
    """Noise from one torchsde BrownianTree over [sigma_min, sigma_max], scaled to unit variance.

    Querying W(sigma_next) - W(sigma) makes the noise of a step independent of how the interval
    is cut, so SDE samplers converge as steps grow (k-diffusion's BrownianTreeNoiseSampler).
    The tree lives on the CPU, seeded with `seed` as entropy, as in ComfyUI.
    """

    def __init__(self, x, sigma_min, sigma_max, seed=None):
        if seed is None:
            seed = torch.randint(0, 2 ** 63 - 1, ()).item()
        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        self.sign = 1 if t0 < t1 else -1
        t0, t1 = (t0, t1) if t0 < t1 else (t1, t0)
        w0 = torch.zeros_like(x).detach().cpu()
        self.tree = torchsde.BrownianTree(t0.detach().cpu(), w0, t1.detach().cpu(), entropy=seed)

    def __call__(self, sigma, sigma_next):
        t0, t1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        sign = self.sign
        if not t0 < t1:
            t0, t1, sign = t1, t0, -sign
        device, dtype = t0.device, t0.dtype
        w = self.tree(t0.detach().cpu().float(), t1.detach().cpu().float()).to(device=device, dtype=dtype) * sign
        return w / (t1 - t0).abs().sqrt()


def _brownian_noise_sampler(x, sigmas, seed, noise_sampler):
    if noise_sampler is not None:
        return noise_sampler
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    return BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=seed)


def _lambda(sigma):
    """Half log-SNR log(alpha/sigma) of a VP model in the sigma parameterisation: -log(sigma)."""
    return sigma.log().neg()


def _sigma(lam):
    return lam.neg().exp()


def _with_uncond(model, x, sigma, model_args):
    """(denoised, uncond_denoised) for the CFG++ samplers; a model without CFG is its own uncond."""
    if hasattr(model, "with_uncond"):
        return model.with_uncond(x, sigma, **model_args)
    denoised = model(x, sigma, **model_args)
    return denoised, denoised


# --- Karras et al. (2022) ODE samplers --------------------------------------------------------


def _churn(x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise):
    """Karras et al. (2022) Algorithm 2 lines 4-6: optionally raise sigma before the step."""
    gamma = 0.0
    if s_churn > 0 and s_tmin <= sigmas[i] <= s_tmax:
        gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1)
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + torch.randn_like(x) * s_noise * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
    return x, sigma_hat


@torch.no_grad()
def sample_euler(model, x, sigmas, extra_args=None, callback=None, disable=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Implements Algorithm 2 (Euler steps) from Karras et al. (2022)."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat * s_in, **args)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], denoised, sigma_hat)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_euler_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                           eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with Euler steps (k-diffusion; the DDPM-like stochastic sampler)."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised
        else:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i]) + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_heun(model, x, sigmas, extra_args=None, callback=None, disable=None,
                s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Implements Algorithm 2 (Heun steps) from Karras et al. (2022)."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat * s_in, **args)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], denoised, sigma_hat)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt  # Euler for the last step: D at sigma 0 is undefined
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **args))
            x = x + (d + d_2) / 2 * dt
    return x


@torch.no_grad()
def sample_heunpp2(model, x, sigmas, extra_args=None, callback=None, disable=None,
                   s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Heun++: a three-point weighted Heun (Carzit/sd-webui-samplers-scheduler, MIT), as in ComfyUI."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat * s_in, **args)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], denoised, sigma_hat)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == s_end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], model(x_2, sigmas[i + 1] * s_in, **args))
        if sigmas[i + 2] == s_end:
            w2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
        else:
            x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
            d_3 = to_d(x_3, sigmas[i + 2], model(x_3, sigmas[i + 2] * s_in, **args))
            w = 3 * sigmas[0]
            w2, w3 = sigmas[i + 1] / w, sigmas[i + 2] / w
            x = x + ((1 - w2 - w3) * d + w2 * d_2 + w3 * d_3) * dt
    return x


@torch.no_grad()
def sample_dpm_2(model, x, sigmas, extra_args=None, callback=None, disable=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """A sampler inspired by DPM-Solver-2 and Algorithm 2 from Karras et al. (2022)."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat * s_in, **args)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], denoised, sigma_hat)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()  # midpoint in log sigma
            x_2 = x + d * (sigma_mid - sigma_hat)
            d_2 = to_d(x_2, sigma_mid, model(x_2, sigma_mid * s_in, **args))
            x = x + d_2 * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                           eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with DPM-Solver second-order steps (k-diffusion)."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, x, i, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            d_2 = to_d(x_2, sigma_mid, model(x_2, sigma_mid * s_in, **args))
            x = x + d_2 * (sigma_down - sigmas[i])
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def _lms_coefficient(order, t, i, j):
    """Integral over [t_i, t_i+1] of the j-th Lagrange basis polynomial through t_i, ..., t_{i-order+1}."""
    others = [t[i - k] for k in range(order) if k != j]
    poly = np.poly1d([1.0])
    for tk in others:
        poly = poly * np.poly1d([1.0, -tk]) / (t[i - j] - tk)
    antiderivative = poly.integ()
    return float(antiderivative(t[i + 1]) - antiderivative(t[i]))


@torch.no_grad()
def sample_lms(model, x, sigmas, extra_args=None, callback=None, disable=None, order=4):
    """Linear multistep (Adams-Bashforth in sigma) from k-diffusion; coefficients integrated exactly."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    sigmas_cpu = sigmas.detach().cpu().double().numpy()
    ds = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        ds = (ds + [to_d(x, sigmas[i], denoised)])[-order:]
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            cur_order = min(i + 1, order)
            coeffs = [_lms_coefficient(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
            x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x
