"""DPM-Solver (Lu et al. 2022, arXiv:2206.00927): fixed-step "fast" and adaptive, in t = -log(sigma).

Both integrate from sigmas[0] down to the last non-zero sigma and, like ComfyUI's wrappers, stop
there: the result keeps that last sigma's small amount of noise.
"""

from __future__ import annotations

import math

import torch

from .sampler_steps import gaussian_noise, get_ancestral_step, report, setup


class _DPMSolver:
    """Noise-prediction DPM-Solver-1/2/3 steps in t = -log(sigma), caching model evaluations."""

    def __init__(self, model, model_args):
        self.model, self.model_args = model, model_args

    @staticmethod
    def sigma(t):
        return t.neg().exp()

    @staticmethod
    def t(sigma):
        return sigma.log().neg()

    def eps(self, cache, key, x, t):
        if key not in cache:
            cache[key] = (x - self.model(x, self.sigma(t) * x.new_ones([x.shape[0]]), **self.model_args)) / self.sigma(t)
        return cache[key]

    def ancestral(self, t, t_next, t_end, eta):
        """Where the deterministic part of a step ends, and the noise to add after it (eta > 0)."""
        if not eta:
            return t_next, 0.0
        sd, _ = get_ancestral_step(self.sigma(t), self.sigma(t_next), eta)
        t_next_ = torch.minimum(t_end, self.t(sd))
        return t_next_, (self.sigma(t_next) ** 2 - self.sigma(t_next_) ** 2) ** 0.5

    def step_1(self, x, t, t_next, cache):
        h = t_next - t
        return x - self.sigma(t_next) * h.expm1() * self.eps(cache, "eps", x, t)

    def step_2(self, x, t, t_next, cache, r1=1 / 2):
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)

    def step_3(self, x, t, t_next, cache, r1=1 / 3, r2=2 / 3):
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = x - self.sigma(s2) * (r2 * h).expm1() * eps \
            - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps)
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return x - self.sigma(t_next) * h.expm1() * eps - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)


def _start(model, x, sigmas, extra_args, noise_sampler):
    """The solver, the step noise, and the t to start from and to end at (the last non-zero sigma)."""
    args, seed, _ = setup(x, extra_args)
    solver = _DPMSolver(model, args)
    last = sigmas[-2] if sigmas[-1] == 0 else sigmas[-1]
    return solver, gaussian_noise(x, seed, noise_sampler), solver.t(sigmas[0]), solver.t(last)


@torch.no_grad()
def sample_dpm_fast(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0, s_noise=1.0,
                    noise_sampler=None):
    """DPM-Solver-Fast: len(sigmas) - 1 evaluations spent on equal steps in log sigma, orders 3,...,3,2,1."""
    if len(sigmas) <= 1:
        return x
    solver, noise_sampler, t_start, t_end = _start(model, x, sigmas, extra_args, noise_sampler)
    nfe = len(sigmas) - 1
    m = nfe // 3 + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1, device=x.device)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        cache = {}
        t, t_next = ts[i], ts[i + 1]
        t_next_, su = solver.ancestral(t, t_next, t_end, eta)
        eps = solver.eps(cache, "eps", x, t)
        report(callback, x, i, solver.sigma(t), x - solver.sigma(t) * eps)
        x = (solver.step_1, solver.step_2, solver.step_3)[order - 1](x, t, t_next_, cache)
        x = x + su * s_noise * noise_sampler(solver.sigma(t), solver.sigma(t_next))
    return x


@torch.no_grad()
def sample_dpm_adaptive(model, x, sigmas, extra_args=None, callback=None, disable=None, order=3, rtol=0.05,
                        atol=0.0078, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81,
                        eta=0.0, s_noise=1.0, noise_sampler=None):
    """DPM-Solver-12/23 with adaptive step size by a PID controller on the embedded error (Lu et al. 2022)."""
    if len(sigmas) <= 1:
        return x
    if order not in {2, 3}:
        raise ValueError("order should be 2 or 3")
    solver, noise_sampler, s, t_end = _start(model, x, sigmas, extra_args, noise_sampler)
    forward = t_end > s
    if not forward and eta:
        raise ValueError("eta must be 0 for reverse sampling")
    # PID step-size control (Söderlind 2003), as in k-diffusion's PIDStepSizeController
    h = abs(h_init) * (1 if forward else -1)
    ctrl_order = 1.5 if eta else order
    b1 = (pcoeff + icoeff + dcoeff) / ctrl_order
    b2 = -(pcoeff + 2 * dcoeff) / ctrl_order
    b3 = dcoeff / ctrl_order
    errs = []
    atol_t, rtol_t = torch.tensor(atol), torch.tensor(rtol)
    x_prev, step = x, 0
    while (s < t_end - 1e-5) if forward else (s > t_end + 1e-5):
        cache = {}
        t = torch.minimum(t_end, s + h) if forward else torch.maximum(t_end, s + h)
        t_, su = solver.ancestral(s, t, t_end, eta)
        eps = solver.eps(cache, "eps", x, s)
        denoised = x - solver.sigma(s) * eps
        if order == 2:
            x_low = solver.step_1(x, s, t_, cache)
            x_high = solver.step_2(x, s, t_, cache)
        else:
            x_low = solver.step_2(x, s, t_, cache, r1=1 / 3)
            x_high = solver.step_3(x, s, t_, cache)
        delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        inv_error = 1 / (float(error) + 1e-8)
        if not errs:
            errs = [inv_error] * 3
        errs[0] = inv_error
        factor = 1 + math.atan(errs[0] ** b1 * errs[1] ** b2 * errs[2] ** b3 - 1)
        if factor >= accept_safety:
            errs[2], errs[1] = errs[1], errs[0]
            x_prev = x_low
            x = x_high + su * s_noise * noise_sampler(solver.sigma(s), solver.sigma(t))
            s = t
        h *= factor
        report(callback, x, step, solver.sigma(s), denoised)
        step += 1
    return x
