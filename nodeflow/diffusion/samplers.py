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



# --- DPM-Solver (Lu et al. 2022, arXiv:2206.00927), fixed-step "fast" and adaptive -------------
# These integrate in t = -log(sigma) from sigmas[0] down to the last non-zero sigma and, like
# ComfyUI's wrappers, stop there: the result keeps that last sigma's small amount of noise.


class _DPMSolver:
    """Noise-prediction DPM-Solver-1/2/3 steps in t = -log(sigma), caching model evaluations."""

    def __init__(self, model, model_args, on_eval=None):
        self.model, self.model_args, self.on_eval = model, model_args, on_eval

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


def _last_nonzero_sigma(sigmas):
    return sigmas[-2] if sigmas[-1] == 0 else sigmas[-1]


@torch.no_grad()
def sample_dpm_fast(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0, s_noise=1.0,
                    noise_sampler=None):
    """DPM-Solver-Fast: len(sigmas) - 1 evaluations spent on equal steps in log sigma, orders 3,...,3,2,1."""
    if len(sigmas) <= 1:
        return x
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    solver = _DPMSolver(model, args)
    nfe = len(sigmas) - 1
    t_start, t_end = solver.t(sigmas[0]), solver.t(_last_nonzero_sigma(sigmas))
    m = nfe // 3 + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1, device=x.device)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        cache = {}
        t, t_next = ts[i], ts[i + 1]
        t_next_, su = t_next, 0.0
        if eta:
            sd, su = get_ancestral_step(solver.sigma(t), solver.sigma(t_next), eta)
            t_next_ = torch.minimum(t_end, solver.t(sd))
            su = (solver.sigma(t_next) ** 2 - solver.sigma(t_next_) ** 2) ** 0.5
        eps = solver.eps(cache, "eps", x, t)
        _report(callback, x, i, solver.sigma(t), x - solver.sigma(t) * eps)
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
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    solver = _DPMSolver(model, args)
    s, t_end = solver.t(sigmas[0]), solver.t(_last_nonzero_sigma(sigmas))
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
        t_, su = t, 0.0
        if eta:
            sd, su = get_ancestral_step(solver.sigma(s), solver.sigma(t), eta)
            t_ = torch.minimum(t_end, solver.t(sd))
            su = (solver.sigma(t) ** 2 - solver.sigma(t_) ** 2) ** 0.5
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
        _report(callback, x, step, solver.sigma(s), denoised)
        step += 1
    return x


# --- DPM-Solver++ family (Lu et al. 2022, arXiv:2211.01095) -----------------------------------


@torch.no_grad()
def sample_dpmpp_2s_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None,
                              eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral sampling with DPM-Solver++(2S) second-order single-step updates."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _lambda(sigmas[i]), _lambda(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, _sigma(s) * s_in, **args)
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                     eta=1.0, s_noise=1.0, noise_sampler=None):
    """DPM-Solver++(2S) ancestral with CFG++ (Chung et al. 2024, arXiv:2406.08070): renoise with the uncond."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised, uncond = _with_uncond(model, x, sigmas[i] * s_in, args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
        else:
            t, t_next = _lambda(sigmas[i]), _lambda(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_guided = x + (denoised - uncond)
            x_2 = (_sigma(s) / _sigma(t)) * x_guided - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, _sigma(s) * s_in, **args)
            x = (_sigma(t_next) / _sigma(t)) * x_guided - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_sde(model, x, sigmas, extra_args=None, callback=None, disable=None,
                     eta=1.0, s_noise=1.0, noise_sampler=None, r=1 / 2):
    """DPM-Solver++ (stochastic): the second-order SDE variant from k-diffusion, Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    args, seed = _split_args(extra_args)
    noise_sampler = _brownian_noise_sampler(x, sigmas, seed, noise_sampler)
    s_in = x.new_ones([x.shape[0]])
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        sigma_s_1 = _sigma(lambda_s_1)
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
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        t, t_next = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - _lambda(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """DPM-Solver++(2M) with CFG++ (Chung et al. 2024): the x-term is renoised with the uncond estimate."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_uncond = None
    for i in range(len(sigmas) - 1):
        denoised, uncond = _with_uncond(model, x, sigmas[i] * s_in, args)
        _report(callback, x, i, sigmas[i], denoised)
        t, t_next = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = t_next - t
        if old_uncond is None or sigmas[i + 1] == 0:
            mix = -torch.exp(-h) * uncond
        else:
            r = (t - _lambda(sigmas[i - 1])) / h
            mix = -torch.exp(-h) * uncond - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = uncond
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(model, x, sigmas, extra_args=None, callback=None, disable=None,
                        eta=1.0, s_noise=1.0, noise_sampler=None, solver_type="midpoint"):
    """DPM-Solver++(2M) SDE (k-diffusion), midpoint or Heun correction, Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    if solver_type not in {"heun", "midpoint"}:
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    args, seed = _split_args(extra_args)
    noise_sampler = _brownian_noise_sampler(x, sigmas, seed, noise_sampler)
    s_in = x.new_ones([x.shape[0]])
    old_denoised, h, h_last = None, None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] \
                    * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised, h_last = denoised, h
    return x


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
    if len(sigmas) <= 1:
        return x
    args, seed = _split_args(extra_args)
    noise_sampler = _brownian_noise_sampler(x, sigmas, seed, noise_sampler)
    s_in = x.new_ones([x.shape[0]])
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None:
                d = (denoised - denoised_1) / (h_1 / h)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] \
                    * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


# --- CFG++ Euler (Chung et al. 2024, arXiv:2406.08070) ----------------------------------------


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None,
                                  eta=1.0, s_noise=1.0, noise_sampler=None):
    """Ancestral Euler with CFG++: step from the guided x0 along the unconditional noise direction."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised, uncond = _with_uncond(model, x, sigmas[i] * s_in, args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        # VP model in the sigma parameterisation: alpha_s = alpha_t = 1
        d = to_d(x, sigmas[i], uncond)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = denoised + sigma_down * d
        if eta > 0 and s_noise > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_euler_cfg_pp(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler with CFG++ (deterministic)."""
    return sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, disable, eta=0.0, s_noise=0.0)


# --- discrete-time samplers ---------------------------------------------------------------------


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
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        eps = (x - denoised) / sigmas[i]
        x = _ddpm_step(x / torch.sqrt(1.0 + sigmas[i] ** 2.0), sigmas[i], sigmas[i + 1], eps, noise_sampler)
        if sigmas[i + 1] != 0:
            x *= torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


@torch.no_grad()
def sample_lcm(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None):
    """Latent Consistency Model multistep sampling (Luo et al. 2023): jump to x0, renoise to the next sigma."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x  # VP noise scaling
    return x


# --- multistep solvers from zju-pi/diff-sampler (Apache-2.0), as ported by ComfyUI --------------


def _ipndm_coefficients(d_cur, buffer, order):
    """Fixed Adams-Bashforth weights of iPNDM (Zhang & Chen 2023, DEIS paper, Appendix)."""
    if order == 2:
        return (3 * d_cur - buffer[-1]) / 2
    if order == 3:
        return (23 * d_cur - 16 * buffer[-1] + 5 * buffer[-2]) / 12
    return (55 * d_cur - 59 * buffer[-1] + 37 * buffer[-2] - 9 * buffer[-3]) / 24


@torch.no_grad()
def sample_ipndm(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """Improved PNDM (iPNDM): Adams-Bashforth in sigma with fixed weights (Zhang & Chen 2023)."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    buffer = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        d_cur = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x = denoised
        elif order == 1:
            x = x + (t_next - t_cur) * d_cur
        else:
            x = x + (t_next - t_cur) * _ipndm_coefficients(d_cur, buffer, order)
        buffer = (buffer + [d_cur])[-(max_order - 1):]
    return x


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


@torch.no_grad()
def sample_ipndm_v(model, x, sigmas, extra_args=None, callback=None, disable=None, max_order=4):
    """iPNDM with variable step sizes (zju-pi/diff-sampler)."""
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    buffer = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        d_cur = (x - denoised) / t_cur
        order = min(max_order, i + 1)
        if t_next == 0:
            x = denoised
        elif order == 1:
            x = x + (t_next - t_cur) * d_cur
        else:
            x = x + (t_next - t_cur) * _ipndm_v_combination(d_cur, buffer, sigmas, i, order)
        buffer = (buffer + [d_cur])[-(max_order - 1):]
    return x


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
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    coeffs = _deis_coefficients(sigmas, max_order)
    buffer = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        d_cur = (x - denoised) / t_cur
        order = 1 if t_next <= 0 else min(max_order, i + 1)
        if order == 1:
            x = x + (t_next - t_cur) * d_cur
        else:
            c = coeffs[i]
            x = x + c[0] * d_cur + sum(c[k] * buffer[-k] for k in range(1, order))
        buffer = (buffer + [d_cur])[-(max_order - 1):]
    return x


# --- exponential-integrator and SDE solvers added by ComfyUI ------------------------------------


def _res_multistep(model, x, sigmas, extra_args, callback, s_noise, noise_sampler, eta, cfg_pp):
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157), optionally ancestral / CFG++."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    phi1 = lambda t: torch.expm1(t) / t  # noqa: E731
    phi2 = lambda t: (phi1(t) - 1.0) / t  # noqa: E731
    old_sigma_down = old_denoised = None
    for i in range(len(sigmas) - 1):
        if cfg_pp:
            denoised, uncond = _with_uncond(model, x, sigmas[i] * s_in, args)
        else:
            denoised = uncond = model(x, sigmas[i] * s_in, **args)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, x, i, sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None:
            if cfg_pp:
                x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
            else:
                x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_old = _lambda(sigmas[i]), _lambda(old_sigma_down)
            t_next, t_prev = _lambda(sigma_down), _lambda(sigmas[i - 1])
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = phi1(-h), phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            if cfg_pp:
                x = x + (denoised - uncond)
            x = _sigma(h) * x + h * (b1 * uncond + b2 * old_denoised)
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
    args, _ = _split_args(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_d = None
    for i in range(len(sigmas) - 1):
        if cfg_pp:
            denoised, uncond = _with_uncond(model, x, sigmas[i] * s_in, args)
        else:
            denoised = uncond = model(x, sigmas[i] * s_in, **args)
        d = to_d(x, sigmas[i], uncond)
        _report(callback, x, i, sigmas[i], denoised)
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


@torch.no_grad()
def sample_er_sde(model, x, sigmas, extra_args=None, callback=None, disable=None, s_noise=1.0,
                  noise_sampler=None, noise_scaler=None, max_stage=3):
    """Extended Reverse-Time SDE solver, VP ER-SDE-Solver-3 (Cui et al. 2023, arXiv:2309.06169)."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    if noise_scaler is None:
        noise_scaler = lambda v: v * ((v ** 0.3).exp() + 10.0)  # noqa: E731  (the paper's default)
    num_points = 200.0
    point_indices = torch.arange(0, num_points, dtype=torch.float32, device=x.device)
    er_lambdas = _lambda(sigmas).neg().exp()  # sigma_t / alpha_t, which is sigma for a VP model
    old_denoised = old_denoised_d = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
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


def _h_phi_1(h):
    return torch.expm1(h)


def _h_phi_2(h):
    return (torch.expm1(h) - h) / h


@torch.no_grad()
def sample_seeds_2(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0,
                   noise_sampler=None, r=0.5, solver_type="phi_1"):
    """SEEDS-2, stochastic explicit exponential derivative-free solver (Gonzalez et al. 2023, arXiv:2305.14267)."""
    if solver_type not in {"phi_1", "phi_2"}:
        raise ValueError("solver_type must be 'phi_1' or 'phi_2'")
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    inject_noise = eta > 0 and s_noise > 0
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r)
        sigma_s_1 = _sigma(lambda_s_1)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = sigma_s_1 / sigmas[i] * (-r * h * eta).exp() * x - alpha_s_1 * _h_phi_1(-r * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r * h * eta).expm1().neg().sqrt() * noise_sampler(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in, **args)

        if solver_type == "phi_1":
            denoised_d = torch.lerp(denoised, denoised_2, fac)
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * _h_phi_1(-h_eta) * denoised_d
        else:
            b2 = _h_phi_2(-h_eta) / r
            b1 = _h_phi_1(-h_eta) - b2
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b2 * denoised_2)
        if inject_noise:
            # Continue the same Brownian path: reuse the first segment's noise, add the rest.
            segment = (r - 1) * h * eta
            sde_noise = sde_noise * segment.exp()
            sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * noise_sampler(sigma_s_1, sigmas[i + 1])
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


@torch.no_grad()
def sample_seeds_3(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, s_noise=1.0,
                   noise_sampler=None, r_1=1.0 / 3, r_2=2.0 / 3):
    """SEEDS-3, the three-stage variant (Gonzalez et al. 2023, arXiv:2305.14267)."""
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    inject_noise = eta > 0 and s_noise > 0
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **args)
        _report(callback, x, i, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1, lambda_s_2 = torch.lerp(lambda_s, lambda_t, r_1), torch.lerp(lambda_s, lambda_t, r_2)
        sigma_s_1, sigma_s_2 = _sigma(lambda_s_1), _sigma(lambda_s_2)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_s_2 = sigma_s_2 * lambda_s_2.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = sigma_s_1 / sigmas[i] * (-r_1 * h * eta).exp() * x - alpha_s_1 * _h_phi_1(-r_1 * h_eta) * denoised
        if inject_noise:
            sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise_sampler(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1 * s_noise
        denoised_2 = model(x_2, sigma_s_1 * s_in, **args)

        a3_2 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
        a3_1 = _h_phi_1(-r_2 * h_eta) - a3_2
        x_3 = sigma_s_2 / sigmas[i] * (-r_2 * h * eta).exp() * x - alpha_s_2 * (a3_1 * denoised + a3_2 * denoised_2)
        if inject_noise:
            segment = (r_1 - r_2) * h * eta
            sde_noise = sde_noise * segment.exp()
            sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * noise_sampler(sigma_s_1, sigma_s_2)
            x_3 = x_3 + sde_noise * sigma_s_2 * s_noise
        denoised_3 = model(x_3, sigma_s_2 * s_in, **args)

        b3 = _h_phi_2(-h_eta) / r_2
        b1 = _h_phi_1(-h_eta) - b3
        x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (b1 * denoised + b3 * denoised_3)
        if inject_noise:
            segment = (r_2 - 1) * h * eta
            sde_noise = sde_noise * segment.exp()
            sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * noise_sampler(sigma_s_2, sigmas[i + 1])
            x = x + sde_noise * sigmas[i + 1] * s_noise
    return x


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


@torch.no_grad()
def sample_sa_solver(model, x, sigmas, extra_args=None, callback=None, disable=None, tau_func=None, s_noise=1.0,
                     noise_sampler=None, predictor_order=3, corrector_order=4, use_pece=False):
    """Stochastic Adams predictor-corrector solver (Xue et al. 2023, SA-Solver, arXiv:2309.05019).

    The default noise interval is the middle 60% of the model's schedule (`model.schedule`, or the
    SD schedule when the model does not carry one), as ComfyUI chooses it.
    """
    if len(sigmas) <= 1:
        return x
    args, seed = _split_args(extra_args)
    noise_sampler = default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    lambdas = _lambda(sigmas)
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
        _report(callback, x_pred, i, sigmas[i], denoised)
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
            b = _sa_b_coeffs(sigmas[i], lambdas[i - c_order + 1:i + 1], lambdas[i - 1], lambdas[i], tau_t)
            corr = torch.tensordot(torch.stack(preds[-c_order:], dim=1), b, dims=([1], [0]))
            x = sigmas[i] / sigmas[i - 1] * (-(tau_t ** 2) * h).exp() * x + corr
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
            b = _sa_b_coeffs(sigmas[i + 1], lambdas[i - p_order + 1:i + 1], lambdas[i], lambdas[i + 1], tau_t)
            pred = torch.tensordot(torch.stack(preds[-p_order:], dim=1), b, dims=([1], [0]))
            h = lambdas[i + 1] - lambdas[i]
            x_pred = sigmas[i + 1] / sigmas[i] * (-(tau_t ** 2) * h).exp() * x + pred
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


# --- UniPC (Zhao et al. 2023, arXiv:2302.04867), as ComfyUI runs it ----------------------------
# ComfyUI solves in the VP scale x_vp = x / sqrt(1 + sigma^2) with the model as a data predictor,
# multistep, order min(3, steps - 1), lower order on the final steps, no corrector on the last.


def _vp_log_alpha(sigma):
    return 0.5 * torch.log(1 / (sigma * sigma + 1))


def _vp_std(sigma):
    return torch.sqrt(1.0 - torch.exp(2.0 * _vp_log_alpha(sigma)))


def _vp_lambda(sigma):
    log_alpha = _vp_log_alpha(sigma)
    return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


def _unipc_update(data_fn, x, preds, times, t, order, variant, use_corrector):
    """One UniPC step from times[-1] to t: the B(h) predictor (UniP) and, if asked, the corrector (UniC)."""
    dims = (slice(None),) + (None,) * (x.ndim - 1)
    t_prev_0, m0 = times[-1], preds[-1]
    lambda_prev_0, lambda_t = _vp_lambda(t_prev_0), _vp_lambda(t)
    sigma_prev_0, sigma_t = _vp_std(t_prev_0), _vp_std(t)
    alpha_t = torch.exp(_vp_log_alpha(t))
    h = lambda_t - lambda_prev_0

    rks, d1s = [], []
    for i in range(1, order):
        rk = ((_vp_lambda(times[-(i + 1)]) - lambda_prev_0) / h)[0]
        rks.append(rk)
        d1s.append((preds[-(i + 1)] - m0) / rk)
    rks.append(1.0)
    rks = torch.tensor(rks, device=x.device)

    hh = -h[0]  # data prediction integrates in -lambda
    h_phi_1 = torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    rows, b, factorial = [], [], 1
    for i in range(1, order + 1):
        rows.append(torch.pow(rks, i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    R = torch.stack(rows)
    b = torch.tensor(b, device=x.device)

    d1s = torch.stack(d1s, dim=1) if d1s else None
    x_t_ = (sigma_t / sigma_prev_0)[dims] * x - (alpha_t * h_phi_1)[dims] * m0
    if d1s is not None:
        rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        x_t = x_t_ - (alpha_t * b_h)[dims] * torch.einsum("k,bk...->b...", rhos_p, d1s)
    else:
        x_t = x_t_
    if not use_corrector:
        return x_t, None
    rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(R, b)
    model_t = data_fn(x_t, t)
    corr = torch.einsum("k,bk...->b...", rhos_c[:-1], d1s) if d1s is not None else 0
    x_t = x_t_ - (alpha_t * b_h)[dims] * (corr + rhos_c[-1] * (model_t - m0))
    return x_t, model_t


@torch.no_grad()
def sample_uni_pc(model, x, sigmas, extra_args=None, callback=None, disable=None, variant="bh1"):
    """UniPC multistep predictor-corrector (Zhao et al. 2023), B(h) = h ("bh1") or e^h - 1 ("bh2")."""
    if variant not in {"bh1", "bh2"}:
        raise ValueError("variant must be 'bh1' or 'bh2'")
    args, _ = _split_args(extra_args)
    timesteps = sigmas.clone()
    if timesteps[-1] == 0:
        timesteps[-1] = 0.001  # UniPC needs a finite log-SNR at the end
    dims = (slice(None),) + (None,) * (x.ndim - 1)

    def data_fn(x_vp, t):
        sigma = t[dims]
        x_k = x_vp * (sigma ** 2 + 1.0) ** 0.5
        eps = (x_k - model(x_k, t, **args)) / sigma
        return (x_vp - _vp_std(t)[dims] * eps) / torch.exp(_vp_log_alpha(t))[dims]

    def report(x_vp, i, t, denoised):
        _report(callback, x_vp * (t[dims] ** 2 + 1.0) ** 0.5, i, sigmas[min(i, len(sigmas) - 1)], denoised)

    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    steps = len(timesteps) - 1
    order = min(3, len(timesteps) - 2)
    batch = x.shape[0]
    for step_index in range(steps):
        if step_index == 0:
            vec_t = timesteps[0].expand(batch)
            preds, times = [data_fn(x, vec_t)], [vec_t]
        elif step_index < order:  # warm-up with increasing order
            vec_t = timesteps[step_index].expand(batch)
            x, model_x = _unipc_update(data_fn, x, preds, times, vec_t, step_index, variant, True)
            preds.append(data_fn(x, vec_t) if model_x is None else model_x)
            times.append(vec_t)
        else:
            last = step_index + (2 if step_index == steps - 1 else 1)
            for step in range(step_index, last):
                vec_t = timesteps[step].expand(batch)
                step_order = min(order, steps + 1 - step)
                x, model_x = _unipc_update(data_fn, x, preds, times, vec_t, step_order, variant, step != steps)
                times, preds = times[1:] + [vec_t], preds[1:] + [preds[-1]]
                if step < steps:
                    preds[-1] = data_fn(x, vec_t) if model_x is None else model_x
        report(x, step_index, vec_t, preds[-1])
    return x / torch.exp(_vp_log_alpha(timesteps[-1]))


@torch.no_grad()
def sample_uni_pc_bh2(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """UniPC with B(h) = e^h - 1."""
    return sample_uni_pc(model, x, sigmas, extra_args, callback, disable, variant="bh2")


# --- the table the nodes use ---------------------------------------------------------------------
# "_gpu" variants differ in ComfyUI only by where the Brownian tree lives; here it is always on
# the CPU, which gives the same numbers. "ddim" is Euler (ComfyUI's DDIM is Euler on the DDIM
# schedule; sampling.sample gives it ComfyUI's separately seeded inpainting noise).

SAMPLERS = {
    "euler": sample_euler,
    "euler_cfg_pp": sample_euler_cfg_pp,
    "euler_ancestral": sample_euler_ancestral,
    "euler_ancestral_cfg_pp": sample_euler_ancestral_cfg_pp,
    "heun": sample_heun,
    "heunpp2": sample_heunpp2,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpm_fast": sample_dpm_fast,
    "dpm_adaptive": sample_dpm_adaptive,
    "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": sample_dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": sample_dpmpp_sde,
    "dpmpp_sde_gpu": sample_dpmpp_sde,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_cfg_pp": sample_dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_heun": sample_dpmpp_2m_sde_heun,
    "dpmpp_2m_sde_heun_gpu": sample_dpmpp_2m_sde_heun,
    "dpmpp_3m_sde": sample_dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": sample_dpmpp_3m_sde,
    "ddpm": sample_ddpm,
    "lcm": sample_lcm,
    "ipndm": sample_ipndm,
    "ipndm_v": sample_ipndm_v,
    "deis": sample_deis,
    "res_multistep": sample_res_multistep,
    "res_multistep_cfg_pp": sample_res_multistep_cfg_pp,
    "res_multistep_ancestral": sample_res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": sample_res_multistep_ancestral_cfg_pp,
    "gradient_estimation": sample_gradient_estimation,
    "gradient_estimation_cfg_pp": sample_gradient_estimation_cfg_pp,
    "er_sde": sample_er_sde,
    "seeds_2": sample_seeds_2,
    "seeds_3": sample_seeds_3,
    "sa_solver": sample_sa_solver,
    "sa_solver_pece": sample_sa_solver_pece,
    "ddim": sample_euler,
    "uni_pc": sample_uni_pc,
    "uni_pc_bh2": sample_uni_pc_bh2,
}
assert tuple(SAMPLERS) == SAMPLER_NAMES, "names.SAMPLER_NAMES and SAMPLERS must list the same names in order"


def get_sampler(name: str):
    """The sampler function for a ComfyUI sampler name; ValueError listing the valid ones."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(unknown_name_message("sampler", name, SAMPLER_NAMES)) from None
