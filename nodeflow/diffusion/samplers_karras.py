"""The classic k-diffusion samplers in sigma: Euler (also CFG++), Heun, DPM-2, ancestral forms, LMS, DDPM, LCM."""

from __future__ import annotations

import numpy as np
import torch

from .sampler_steps import denoise, euler_to, gaussian_noise, get_ancestral_step, report, setup, to_d


def _churn_and_derivative(model, x, sigmas, i, args, callback, churn):
    """Karras et al. (2022) Algorithm 2 lines 4-7: optionally raise sigma to sigma_hat, then dx/dsigma there.

    `churn` is (s_churn, s_tmin, s_tmax, s_noise). Returns (x, sigma_hat, d).
    """
    s_churn, s_tmin, s_tmax, s_noise = churn
    gamma = 0.0
    if s_churn > 0 and s_tmin <= sigmas[i] <= s_tmax:
        gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1)
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + torch.randn_like(x) * s_noise * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
    denoised = model(x, sigma_hat * x.new_ones([x.shape[0]]), **args)
    report(callback, x, i, sigmas[i], denoised, sigma_hat)
    return x, sigma_hat, to_d(x, sigma_hat, denoised)


def _derivative(model, x, sigma, args):
    """dx/dsigma at (x, sigma) from one model evaluation."""
    return to_d(x, sigma, model(x, sigma * x.new_ones([x.shape[0]]), **args))


def _midpoint_step(model, x, d, sigma, sigma_to, args):
    """DPM-Solver-2's step: re-evaluate the derivative at the midpoint in log sigma and step with it."""
    sigma_mid = sigma.log().lerp(sigma_to.log(), 0.5).exp()
    x_2 = x + d * (sigma_mid - sigma)
    return x + _derivative(model, x_2, sigma_mid, args) * (sigma_to - sigma)


@torch.no_grad()
def sample_euler(model, x, sigmas, extra_args=None, callback=None, disable=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Implements Algorithm 2 (Euler steps) from Karras et al. (2022)."""
    args, _, _ = setup(x, extra_args)
    churn = (s_churn, s_tmin, s_tmax, s_noise)
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = _churn_and_derivative(model, x, sigmas, i, args, callback, churn)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_euler_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                           eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with Euler steps (k-diffusion; the DDPM-like stochastic sampler)."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised
        else:
            x = euler_to(x, sigmas[i], sigma_down, denoised, denoised) \
                + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                  eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral Euler with CFG++ (Chung et al. 2024, arXiv:2406.08070): step along the uncond direction."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised, uncond = denoise(model, x, sigmas[i] * s_in, args, cfg_pp=True)
        report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        # VP model in the sigma parameterisation: alpha_s = alpha_t = 1
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = euler_to(x, sigmas[i], sigma_down, denoised, uncond, cfg_pp=True)
        if eta > 0 and s_noise > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_euler_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler with CFG++ (deterministic)."""
    return sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, disable, eta=0.0, s_noise=0.0)


@torch.no_grad()
def sample_heun(model, x, sigmas, extra_args=None, callback=None, disable=None,
                s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Implements Algorithm 2 (Heun steps) from Karras et al. (2022)."""
    args, _, _ = setup(x, extra_args)
    churn = (s_churn, s_tmin, s_tmax, s_noise)
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = _churn_and_derivative(model, x, sigmas, i, args, callback, churn)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt  # Euler for the last step: D at sigma 0 is undefined
        else:
            d_2 = _derivative(model, x + d * dt, sigmas[i + 1], args)
            x = x + (d + d_2) / 2 * dt
    return x


@torch.no_grad()
def sample_heunpp2(model, x, sigmas, extra_args=None, callback=None, disable=None,
                   s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """Heun++: a three-point weighted Heun (Carzit/sd-webui-samplers-scheduler, MIT), as in ComfyUI."""
    args, _, _ = setup(x, extra_args)
    churn = (s_churn, s_tmin, s_tmax, s_noise)
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = _churn_and_derivative(model, x, sigmas, i, args, callback, churn)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == s_end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = _derivative(model, x_2, sigmas[i + 1], args)
        if sigmas[i + 2] == s_end:
            w2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
        else:
            d_3 = _derivative(model, x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1]), sigmas[i + 2], args)
            w = 3 * sigmas[0]
            w2, w3 = sigmas[i + 1] / w, sigmas[i + 2] / w
            x = x + ((1 - w2 - w3) * d + w2 * d_2 + w3 * d_3) * dt
    return x


@torch.no_grad()
def sample_dpm_2(model, x, sigmas, extra_args=None, callback=None, disable=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    """A sampler inspired by DPM-Solver-2 and Algorithm 2 from Karras et al. (2022)."""
    args, _, _ = setup(x, extra_args)
    churn = (s_churn, s_tmin, s_tmax, s_noise)
    for i in range(len(sigmas) - 1):
        x, sigma_hat, d = _churn_and_derivative(model, x, sigmas, i, args, callback, churn)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            x = _midpoint_step(model, x, d, sigma_hat, sigmas[i + 1], args)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                           eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with DPM-Solver second-order steps (k-diffusion)."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, x, i, sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            x = _midpoint_step(model, x, d, sigmas[i], sigma_down, args)
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
    args, _, s_in = setup(x, extra_args)
    sigmas_cpu = sigmas.detach().cpu().double().numpy()
    ds = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        ds = (ds + [to_d(x, sigmas[i], denoised)])[-order:]
        report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            cur_order = min(i + 1, order)
            coeffs = [_lms_coefficient(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
            x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


# --- discrete-time samplers -------------------------------------------------------------------


def _ddpm_step(x, sigma, sigma_prev, noise, noise_sampler):
    """One DDPM ancestral step (Ho et al. 2020, eq. 11) in the VP scale, x = x_k / sqrt(1 + sigma^2)."""
    alpha_cumprod = 1 / (sigma * sigma + 1)
    alpha_cumprod_prev = 1 / (sigma_prev * sigma_prev + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x - (1 - alpha) * noise / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        mu += ((1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)).sqrt() * noise_sampler(sigma, sigma_prev)
    return mu


@torch.no_grad()
def sample_ddpm(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
    """DDPM ancestral sampling (Ho et al. 2020) on an arbitrary sigma schedule."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        eps = (x - denoised) / sigmas[i]
        x = _ddpm_step(x / torch.sqrt(1.0 + sigmas[i] ** 2.0), sigmas[i], sigmas[i + 1], eps, noise_sampler)
        if sigmas[i + 1] != 0:
            x *= torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


@torch.no_grad()
def sample_lcm(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
    """Latent Consistency Model multistep sampling (Luo et al. 2023): jump to x0, renoise to the next sigma."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x  # VP noise scaling
    return x
