"""SDE solvers added by ComfyUI: ER-SDE, SEEDS-2/3 and SA-Solver, all on a VP model in sigma."""

from __future__ import annotations

import math

import torch

from .sampler_steps import exponential_step, gaussian_noise, half_log_snr, report, setup, sigma_at


@torch.no_grad()
def sample_er_sde(model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0,
                  noise_sampler=None, noise_scaler=None, max_stage=3):
    """Extended Reverse-Time SDE solver, VP ER-SDE-Solver-3 (Cui et al. 2023, arXiv:2309.06169)."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    if noise_scaler is None:
        noise_scaler = lambda v: v * ((v ** 0.3).exp() + 10.0)  # noqa: E731  (the paper's default)
    num_points = 200.0
    point_indices = torch.arange(0, num_points, dtype=torch.float32, device=x.device)
    er_lambdas = half_log_snr(sigmas).neg().exp()  # sigma_t / alpha_t, which is sigma for a VP model
    old_denoised = old_denoised_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        stage = min(max_stage, i + 1)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            er_s, er_t = er_lambdas[i], er_lambdas[i + 1]
            alpha_s, alpha_t = sigmas[i] / er_s, sigmas[i + 1] / er_t
            r = noise_scaler(er_t) / noise_scaler(er_s)
            x = alpha_t / alpha_s * r * x + alpha_t * (1 - r) * denoised
            if stage >= 2:
                dt = er_t - er_s
                step = -dt / num_points
                lambda_pos = er_t + point_indices * step
                scaled_pos = noise_scaler(lambda_pos)
                s = torch.sum(1 / scaled_pos) * step
                denoised_d = (denoised - old_denoised) / (er_s - er_lambdas[i - 1])
                x = x + alpha_t * (dt + s * noise_scaler(er_t)) * denoised_d
                if stage >= 3:
                    s_u = torch.sum((lambda_pos - er_s) / scaled_pos) * step
                    denoised_u = (denoised_d - old_denoised_d) / ((er_s - er_lambdas[i - 2]) / 2)
                    x = x + alpha_t * ((dt ** 2) / 2 + s_u * noise_scaler(er_t)) * denoised_u
                old_denoised_d = denoised_d
            if s_noise > 0:
                x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise \
                    * (er_t ** 2 - er_s ** 2 * r ** 2).sqrt().nan_to_num(nan=0.0)
        old_denoised = denoised
    return x


# --- SEEDS (Gonzalez et al. 2023, arXiv:2305.14267) ---------------------------------------------


def _h_phi_1(h):
    return torch.expm1(h)


def _h_phi_2(h):
    return (torch.expm1(h) - h) / h


def _seeds_point(lambda_s, lambda_t, r):
    """(sigma, alpha) at the fraction r of the step in half log-SNR."""
    lam = torch.lerp(lambda_s, lambda_t, r)
    sigma = sigma_at(lam)
    return sigma, sigma * lam.exp()


def _continue_path(sde_noise, r_from, r_to, h, eta, noise_sampler, sigma_from, sigma_to):
    """Continue the same Brownian path from r_from to r_to of the step: decay the noise so far, add the rest."""
    segment = (r_from - r_to) * h * eta
    sde_noise = sde_noise * segment.exp()
    return sde_noise + segment.mul(2).expm1().neg().sqrt() * noise_sampler(sigma_from, sigma_to)


def _seeds(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, r_1, r_2, solver_type):
    """SEEDS with stages at r_1 (and r_2 for SEEDS-3) of each step, the last combined by phi_1 or phi_2."""
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    inject_noise = eta > 0 and s_noise > 0
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t, h, h_eta, alpha_t = exponential_step(sigmas[i], sigmas[i + 1], eta)
        sigma_r, alpha_r = _seeds_point(lambda_s, lambda_t, r_1)
        x_r = sigma_r / sigmas[i] * (-r_1 * h * eta).exp() * x - alpha_r * _h_phi_1(-r_1 * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise_sampler(sigmas[i], sigma_r)
            x_r = x_r + sde_noise * sigma_r * s_noise
        r, denoised_r = r_1, model(x_r, sigma_r * s_in, **args)
        if r_2 is not None:  # SEEDS-3's second stage
            sigma_s_2, alpha_s_2 = _seeds_point(lambda_s, lambda_t, r_2)
            a3_2 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
            a3_1 = _h_phi_1(-r_2 * h_eta) - a3_2
            x_r = sigma_s_2 / sigmas[i] * (-r_2 * h * eta).exp() * x - alpha_s_2 * (a3_1 * denoised + a3_2 * denoised_r)
            if inject_noise:
                sde_noise = _continue_path(sde_noise, r_1, r_2, h, eta, noise_sampler, sigma_r, sigma_s_2)
                x_r = x_r + sde_noise * sigma_s_2 * s_noise
            r, sigma_r, denoised_r = r_2, sigma_s_2, model(x_r, sigma_s_2 * s_in, **args)

        if solver_type == "phi_1":
            denoised_d = torch.lerp(denoised, denoised_r, 1 / (2 * r))
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * _h_phi_1(-h_eta) * denoised_d
        else:
            b2 = _h_phi_2(-h_eta) / r
            b1 = _h_phi_1(-h_eta) - b2
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b2 * denoised_r)
        if inject_noise:
            sde_noise = _continue_path(sde_noise, r, 1, h, eta, noise_sampler, sigma_r, sigmas[i + 1])
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


@torch.no_grad()
def sample_seeds_2(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0,
                   noise_sampler=None, r=0.5, solver_type="phi_1"):
    """SEEDS-2, stochastic explicit exponential derivative-free solver (Gonzalez et al. 2023, arXiv:2305.14267)."""
    if solver_type not in {"phi_1", "phi_2"}:
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    return _seeds(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, r, None, solver_type)


@torch.no_grad()
def sample_seeds_3(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0,
                   noise_sampler=None, r_1=1.0 / 3, r_2=2.0 / 3):
    """SEEDS-3, the three-stage variant (Gonzalez et al. 2023, arXiv:2305.14267)."""
    return _seeds(model, x, sigmas, extra_args, callback, eta, s_noise, noise_sampler, r_1, r_2, "phi_2")


# --- SA-Solver (Xue et al. 2023, arXiv:2309.05019) ----------------------------------------------


def _sa_exponential_coeffs(s, t, order, tau):
    """Integrals of exp((1+tau^2) x) x^p over [s, t] for p < order, exp((1+tau^2) t) factored out
    (SA-Solver, Xue et al. 2023, eqs. 15/18, by repeated integration by parts)."""
    tau_mul = 1 + tau ** 2
    h = t - s
    p = torch.arange(order, dtype=s.dtype, device=s.device)
    product_terms = t ** p - s ** p * (-tau_mul * h).exp()
    depth = p.unsqueeze(1) - p.unsqueeze(0)
    log_factorial = (p + 1).lgamma()
    log_coeff = log_factorial.unsqueeze(1) - log_factorial.unsqueeze(0)
    if tau > 0:
        log_coeff = log_coeff - depth * math.log(tau_mul)
    signs = torch.where(depth % 2 == 0, 1.0, -1.0)
    return (log_coeff.exp() * signs).tril() @ product_terms


def _sa_b_coeffs(sigma_next, lambdas, lambda_s, lambda_t, tau):
    """SA-Solver's b_i: the Lagrange basis through `lambdas` integrated with the SDE's exponential weight."""
    n = lambdas.shape[0]
    integrals = _sa_exponential_coeffs(lambda_s, lambda_t, n, tau)
    lagrange = torch.linalg.solve(torch.vander(lambdas, n, increasing=True).T, integrals)
    return sigma_next * lambda_t.exp() * lagrange  # alpha_t times the integrals


def _sa_tau_interval(start_sigma, end_sigma, eta=1.0):
    """Stochasticity tau(sigma): eta inside [end_sigma, start_sigma], 0 (ODE) outside (SA-Solver README)."""
    def tau(sigma):
        if eta <= 0:
            return 0.0
        sigma = sigma.item() if isinstance(sigma, torch.Tensor) else sigma
        return eta if start_sigma >= sigma >= end_sigma else 0.0
    return tau


def _sa_adams(x, preds, order, sigmas, lambdas, i, to, tau, h):
    """SA-Solver's Adams step from sigmas[to - 1] to sigmas[to] through the last `order` predictions
    (made at lambdas[..i]), before noise: the corrector has to = i, the predictor to = i + 1."""
    b = _sa_b_coeffs(sigmas[to], lambdas[i - order + 1:i + 1], lambdas[to - 1], lambdas[to], tau)
    update = torch.tensordot(torch.stack(preds[-order:], dim=1), b, dims=([1], [0]))
    return sigmas[to] / sigmas[to - 1] * (-(tau ** 2) * h).exp() * x + update


@torch.no_grad()
def sample_sa_solver(model, x, sigmas, extra_args=None, callback=None, disable=None, tau_func=None, s_noise=1.0,
                     noise_sampler=None, predictor_order=3, corrector_order=4, use_pece=False):
    """Stochastic Adams predictor-corrector solver (Xue et al. 2023, SA-Solver, arXiv:2309.05019).

    The default noise interval is the middle 60% of the model's schedule (`model.schedule`, or the
    SD schedule when the model does not carry one), as ComfyUI chooses it.
    """
    if len(sigmas) <= 1:
        return x
    args, seed, s_in = setup(x, extra_args)
    noise_sampler = gaussian_noise(x, seed, noise_sampler)
    lambdas = half_log_snr(sigmas)
    if tau_func is None:
        schedule = getattr(model, "schedule", None)
        if schedule is None:
            from .schedules import sd_schedule
            schedule = sd_schedule()
        tau_func = _sa_tau_interval(schedule.percent_to_sigma(0.2), schedule.percent_to_sigma(0.8))

    max_order = max(predictor_order, corrector_order)
    x_pred = x
    h, tau_t, noise = 0.0, 0.0, 0.0
    preds = []
    lower_order_to_end = sigmas[-1].item() == 0  # lower the order near the end for stability
    for i in range(len(sigmas) - 1):
        denoised = model(x_pred, sigmas[i] * s_in, **args)
        report(callback, x_pred, i, sigmas[i], denoised)
        preds = (preds + [denoised])[-max_order:]

        p_order = min(predictor_order, len(preds))
        c_order = 0 if i == 0 or (sigmas[i + 1] == 0 and not use_pece) else min(corrector_order, len(preds))
        if lower_order_to_end:
            p_order = min(p_order, len(sigmas) - 2 - i)
            c_order = min(c_order, len(sigmas) - 1 - i)

        # Corrector: redo the last step with the new evaluation included.
        if c_order == 0:
            x = x_pred
        else:
            x = _sa_adams(x, preds, c_order, sigmas, lambdas, i, i, tau_t, h)
            if tau_t > 0 and s_noise > 0:
                x = x + noise  # the same noise the predictor added
            if use_pece:
                denoised = model(x, sigmas[i] * s_in, **args)
                preds[-1] = denoised

        # Predictor
        if sigmas[i + 1] == 0:
            x_pred = denoised
        else:
            tau_t = tau_func(sigmas[i + 1])
            h = lambdas[i + 1] - lambdas[i]
            x_pred = _sa_adams(x, preds, p_order, sigmas, lambdas, i, i + 1, tau_t, h)
            if tau_t > 0 and s_noise > 0:
                noise = noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] \
                    * (-2 * tau_t ** 2 * h).expm1().neg().sqrt() * s_noise
                x_pred = x_pred + noise
    return x_pred


@torch.no_grad()
def sample_sa_solver_pece(model, x, sigmas, extra_args=None, callback=None, disable=None, tau_func=None,
                          s_noise=1.0, noise_sampler=None, predictor_order=3, corrector_order=4):
    """SA-Solver in PECE mode (predict, evaluate, correct, evaluate)."""
    return sample_sa_solver(model, x, sigmas, extra_args, callback, disable, tau_func, s_noise, noise_sampler,
                            predictor_order, corrector_order, use_pece=True)
