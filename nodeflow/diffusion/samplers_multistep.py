"""Multistep solvers: iPNDM, iPNDM-v and DEIS (zju-pi/diff-sampler, Apache-2.0, as ported by ComfyUI),
RES multistep and gradient estimation (added by ComfyUI), with their ancestral and CFG++ forms."""

from __future__ import annotations

import torch

from .sampler_steps import (denoise, euler_to, gaussian_noise, get_ancestral_step, half_log_snr, report,
                            setup, sigma_at, to_d)


def _ipndm_coefficients(d_cur, buffer, t, i, order):
    """Fixed Adams-Bashforth weights of iPNDM (Zhang & Chen 2023, DEIS paper, Appendix); `t`, `i` unused."""
    if order == 2:
        return (3 * d_cur - buffer[-1]) / 2
    if order == 3:
        return (23 * d_cur - 16 * buffer[-1] + 5 * buffer[-2]) / 12
    return (55 * d_cur - 59 * buffer[-1] + 37 * buffer[-2] - 9 * buffer[-3]) / 24


def _ipndm_v_combination(d_cur, buffer, t, i, order):
    """Variable-step Adams-Bashforth weights of iPNDM-v (zju-pi/diff-sampler)."""
    h_n = t[i + 1] - t[i]
    h_n_1 = t[i] - t[i - 1]
    if order == 2:
        c1 = (2 + h_n / h_n_1) / 2
        c2 = -(h_n / h_n_1) / 2
        return c1 * d_cur + c2 * buffer[-1]
    h_n_2 = t[i - 1] - t[i - 2]
    temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
    if order == 3:
        c1 = (2 + h_n / h_n_1) / 2 + temp1
        c2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1
        c3 = temp1 * h_n_1 / h_n_2
        return c1 * d_cur + c2 * buffer[-1] + c3 * buffer[-2]
    h_n_3 = t[i - 2] - t[i - 3]
    temp2 = ((1 - h_n / (3 * (h_n + h_n_1))) / 2 + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2))) \
        * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)) / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
    ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
    c1 = (2 + h_n / h_n_1) / 2 + temp1 + temp2
    c2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + h_n_1 / h_n_2 + ratio) * temp2
    c3 = temp1 * h_n_1 / h_n_2 + (h_n_1 / h_n_2 + ratio * (1 + h_n_2 / h_n_3)) * temp2
    c4 = -temp2 * ratio * h_n_1 / h_n_2
    return c1 * d_cur + c2 * buffer[-1] + c3 * buffer[-2] + c4 * buffer[-3]


def _ipndm(model, x, sigmas, extra_args, callback, max_order, combine):
    """iPNDM's loop: Euler first, then `combine`'s mix of the last derivatives; the x0 estimate at sigma 0."""
    args, _, s_in = setup(x, extra_args)
    buffer = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        d_cur = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x = denoised
        elif order == 1:
            x = x + (t_next - t_cur) * d_cur
        else:
            x = x + (t_next - t_cur) * combine(d_cur, buffer, sigmas, i, order)
        buffer = (buffer + [d_cur])[-(max_order - 1):]
    return x


@torch.no_grad()
def sample_ipndm(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """Improved PNDM (iPNDM): Adams-Bashforth in sigma with fixed weights (Zhang & Chen 2023)."""
    return _ipndm(model, x, sigmas, extra_args, callback, max_order, _ipndm_coefficients)


@torch.no_grad()
def sample_ipndm_v(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """iPNDM with variable step sizes (zju-pi/diff-sampler)."""
    return _ipndm(model, x, sigmas, extra_args, callback, max_order, _ipndm_v_combination)


def _deis_coefficients(sigmas, max_order, n=10000):
    """DEIS "tAB" coefficients (Zhang & Chen 2023): Lagrange basis integrated against the VP
    exponential-integrator weight, by a Riemann sum over n points, on EDM's default VP mapping."""
    # EDM sigma -> VP time t, for the VP-SDE through sigma 0.002 at t=1e-3 and sigma 80 at t=1.
    eps_s, sigma_lo, sigma_hi = 1e-3, torch.tensor(0.002), torch.tensor(80.0)
    beta_d = 2 * (torch.log(sigma_lo ** 2 + 1) / eps_s - torch.log(sigma_hi ** 2 + 1)) / (eps_s - 1)
    beta_min = torch.log(sigma_hi ** 2 + 1) - 0.5 * beta_d
    t_steps = ((beta_min ** 2 + 2 * beta_d * (sigmas.detach().cpu() ** 2 + 1).log()).sqrt() - beta_min) / beta_d
    beta_0, beta_1 = beta_min, beta_d + beta_min
    coeffs = []
    for i in range(len(t_steps) - 1):
        order = min(i + 1, max_order)
        if order == 1:
            coeffs.append([])
            continue
        t_cur, t_next = t_steps[i], t_steps[i + 1]
        taus = torch.linspace(t_cur, t_next, n)
        dtau = (t_next - t_cur) / n
        prev_t = t_steps[[i - k for k in range(order)]]
        alpha = torch.exp(-0.5 * taus ** 2 * (beta_1 - beta_0) - taus * beta_0)
        d_log_alpha = -taus * (beta_1 - beta_0) - beta_0
        integrand = -0.5 * d_log_alpha / torch.sqrt(alpha * (1 - alpha))
        row = []
        for j in range(order):
            poly = 1
            for k in range(order):
                if k != j:
                    poly = poly * (taus - prev_t[k]) / (prev_t[j] - prev_t[k])
            row.append(torch.sum(integrand * poly) * dtau)
        coeffs.append(row)
    return coeffs


@torch.no_grad()
def sample_deis(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=3):
    """Diffusion Exponential Integrator Sampler, tAB variant (Zhang & Chen 2023, arXiv:2204.13902)."""
    args, _, s_in = setup(x, extra_args)
    coeffs = _deis_coefficients(sigmas, max_order)
    buffer = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        d_cur = (x - denoised) / t_cur
        order = 1 if t_next <= 0 else min(max_order, i + 1)
        if order == 1:
            x = x + (t_next - t_cur) * d_cur
        else:
            c = coeffs[i]
            x = x + c[0] * d_cur + sum(c[k] * buffer[-k] for k in range(1, order))
        buffer = (buffer + [d_cur])[-(max_order - 1):]
    return x


def _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta, cfg_pp):
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157), optionally ancestral / CFG++."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    phi1 = lambda t: torch.expm1(t) / t  # noqa: E731
    phi2 = lambda t: (phi1(t) - 1.0) / t  # noqa: E731
    old_sigma_down = old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised, uncond = denoise(model, x, sigmas[i] * s_in, args, cfg_pp)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None:
            x = euler_to(x, sigmas[i], sigma_down, denoised, uncond, cfg_pp)
        else:
            t, t_old = half_log_snr(sigmas[i]), half_log_snr(old_sigma_down)
            t_next, t_prev = half_log_snr(sigma_down), half_log_snr(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = phi1(-h), phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - uncond)
            x = sigma_at(h) * x + h * (b1 * uncond + b2 * old_denoised)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised, old_sigma_down = uncond, sigma_down
    return x


@torch.no_grad()
def sample_res_multistep(model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0,
                         noise_sampler=None):
    """RES multistep, deterministic (Zhang et al. 2023, arXiv:2308.02157)."""
    return _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta=0.0, cfg_pp=False)


@torch.no_grad()
def sample_res_multistep_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0,
                                noise_sampler=None):
    """RES multistep with CFG++."""
    return _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta=0.0, cfg_pp=True)


@torch.no_grad()
def sample_res_multistep_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0,
                                   s_noise=1.0, noise_sampler=None):
    """RES multistep with ancestral noise."""
    return _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta=eta, cfg_pp=False)


@torch.no_grad()
def sample_res_multistep_ancestral_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                          eta=1.0, s_noise=1.0, noise_sampler=None):
    """RES multistep with ancestral noise and CFG++."""
    return _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta=eta, cfg_pp=True)


@torch.no_grad()
def sample_gradient_estimation(model, x, sigmas, extra_args=None, callback=None, disable=None, ge_gamma=2.0,
                               cfg_pp=False):
    """Euler plus a gradient-estimation correction (Permenter & Yuan 2024, openreview o2ND9v0CeK)."""
    args, _, s_in = setup(x, extra_args)
    old_d = None
    for i in range(len(sigmas) - 1):
        denoised, uncond = denoise(model, x, sigmas[i] * s_in, args, cfg_pp)
        d = to_d(x, sigmas[i], uncond)
        report(callback, x, i, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = denoised + d * sigmas[i + 1] if cfg_pp else x + d * dt
            if i >= 1:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x


@torch.no_grad()
def sample_gradient_estimation_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                      ge_gamma=2.0):
    """Gradient estimation with CFG++."""
    return sample_gradient_estimation(model, x, sigmas, extra_args, callback, disable, ge_gamma, cfg_pp=True)
