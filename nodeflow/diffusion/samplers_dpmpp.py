"""DPM-Solver++ (Lu et al. 2022, arXiv:2211.01095): 2S ancestral, SDE, 2M, 2M SDE, 3M SDE, and CFG++ forms."""

from __future__ import annotations

import torch

from .sampler_steps import (brownian_noise, denoise, euler_to, exponential_step, gaussian_noise,
                            get_ancestral_step, half_log_snr, report, setup, sigma_at)


def _dpmpp_2s_ancestral(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp):
    """DPM-Solver++(2S) ancestral; with CFG++ the x-term is renoised with the unconditional estimate."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised, uncond = denoise(model, x, sigmas[i] * s_in, args, cfg_pp)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0:
            x = euler_to(x, sigmas[i], sigma_down, denoised, uncond, cfg_pp)
        else:
            t, t_next = half_log_snr(sigmas[i]), half_log_snr(sigma_down)
            h = t_next - t
            s = t + h / 2
            if cfg_pp:
                x = x + (denoised - uncond)
            x_2 = (sigma_at(s) / sigma_at(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, sigma_at(s) * s_in, **args)
            x = (sigma_at(t_next) / sigma_at(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                              eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with DPM-Solver++(2S) second-order single-step updates."""
    return _dpmpp_2s_ancestral(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp=False)


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                     eta=1.0, s_noise=1.0, noise_sampler=None):
    """DPM-Solver++(2S) ancestral with CFG++ (Chung et al. 2024, arXiv:2406.08070): renoise with the uncond."""
    return _dpmpp_2s_ancestral(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, cfg_pp=True)


@torch.no_grad()
def sample_dpmpp_sde(model, x, sigmas, extra_args=None, callback=None, disable=None,
                     eta=1.0, s_noise=1.0, noise_sampler=None, r=1 / 2):
    """DPM-Solver++ (stochastic): the second-order SDE variant from k-diffusion, Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = brownian_noise(x, sigmas, seed, noise_sampler)
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = half_log_snr(sigmas[i]), half_log_snr(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        sigma_s_1 = sigma_at(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        # Step 1: ancestral half-step to lambda_s_1
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + alpha_s_1 * noise_sampler(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in, **args)

        # Step 2: full step with the blended denoised estimate
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp(), eta)
        h_ = sd.log().neg() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


@torch.no_grad()
def sample_dpmpp_2m(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M): second-order multistep in data prediction (Lu et al. 2022, Algorithm 2)."""
    args, _, s_in = setup(x, extra_args)
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        t, t_next = half_log_snr(sigmas[i]), half_log_snr(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_at(t_next) / sigma_at(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - half_log_snr(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_at(t_next) / sigma_at(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) with CFG++ (Chung et al. 2024): the x-term is renoised with the uncond estimate."""
    args, _, s_in = setup(x, extra_args)
    old_uncond = None
    for i in range(len(sigmas) - 1):
        denoised, uncond = denoise(model, x, sigmas[i] * s_in, args, cfg_pp=True)
        report(callback, x, i, sigmas[i], denoised)
        t, t_next = half_log_snr(sigmas[i]), half_log_snr(sigmas[i + 1])
        h = t_next - t
        if old_uncond is None or sigmas[i + 1] == 0:
            mix = -torch.exp(-h) * uncond
        else:
            r = (t - half_log_snr(sigmas[i - 1])) / h
            mix = -torch.exp(-h) * uncond - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = uncond
    return x


def _second_order_terms(x, alpha_t, h, h_eta, denoised, denoised_1, h_1, solver_type):
    """DPM-Solver++(2M) SDE's correction from the previous denoised estimate, midpoint or Heun form."""
    if denoised_1 is None:
        return x
    r = h_1 / h
    if solver_type == "heun":
        return x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (denoised - denoised_1)
    return x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - denoised_1)


def _third_order_terms(x, alpha_t, h, h_eta, denoised, denoised_1, denoised_2, h_1, h_2):
    """DPM-Solver++(3M) SDE's correction from the two previous denoised estimates (second order on step 2)."""
    phi_2 = h_eta.neg().expm1() / h_eta + 1
    if h_2 is not None:
        r0, r1 = h_1 / h, h_2 / h
        d1_0 = (denoised - denoised_1) / r0
        d1_1 = (denoised_1 - denoised_2) / r1
        d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_3 = phi_2 / h_eta - 0.5
        return x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
    if h_1 is not None:
        return x + (alpha_t * phi_2) * ((denoised - denoised_1) / (h_1 / h))
    return x


def _dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, solver_type):
    """DPM-Solver++(2M/3M) SDE: a first-order exponential step, the multistep terms, Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = brownian_noise(x, sigmas, seed, noise_sampler)
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            _, _, h, h_eta, alpha_t = exponential_step(sigmas[i], sigmas[i + 1], eta)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if solver_type == "3m":
                x = _third_order_terms(x, alpha_t, h, h_eta, denoised, denoised_1, denoised_2, h_1, h_2)
            else:
                x = _second_order_terms(x, alpha_t, h, h_eta, denoised, denoised_1, h_1, solver_type)
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] \
                    * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(model, x, sigmas, extra_args=None, callback=None, disable=None,
                        eta=1.0, s_noise=1.0, noise_sampler=None, solver_type="midpoint"):
    """DPM-Solver++(2M) SDE (k-diffusion), midpoint or Heun correction, Brownian-tree noise."""
    if solver_type not in {"heun", "midpoint"}:
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    return _dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, solver_type)


@torch.no_grad()
def sample_dpmpp_2m_sde_heun(model, x, sigmas, extra_args=None, callback=None, disable=None,
                             eta=1.0, s_noise=1.0, noise_sampler=None, solver_type="heun"):
    """DPM-Solver++(2M) SDE with the Heun-style correction."""
    return sample_dpmpp_2m_sde(model, x, sigmas, extra_args, callback, disable, eta, s_noise,
                               noise_sampler, solver_type)


@torch.no_grad()
def sample_dpmpp_3m_sde(model, x, sigmas, extra_args=None, callback=None, disable=None,
                        eta=1.0, s_noise=1.0, noise_sampler=None):
    """DPM-Solver++(3M) SDE (k-diffusion): third-order multistep, Brownian-tree noise."""
    return _dpmpp_multistep_sde(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, "3m")
