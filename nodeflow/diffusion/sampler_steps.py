"""Pieces the samplers share: arguments, the callback, the ODE derivative, ancestral steps, step noise.

Every expression keeps ComfyUI's order of operations (comfy/k_diffusion/sampling.py), because the
reference outputs are met in float32 and the Brownian tree depends on the exact query times.
"""

from __future__ import annotations

import torch
import torchsde


def setup(x, extra_args):
    """Model kwargs without "seed", the seed (None when absent), and ones to broadcast a sigma over the batch."""
    extra_args = {} if extra_args is None else dict(extra_args)
    seed = extra_args.pop("seed", None)
    return extra_args, seed, x.new_ones([x.shape[0]])


def report(callback, x, i, sigma, denoised, sigma_hat=None):
    """Call `callback` with k-diffusion's per-step dict."""
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


def half_log_snr(sigma):
    """Half log-SNR log(alpha/sigma) of a VP model in the sigma parameterisation: -log(sigma)."""
    return sigma.log().neg()


def sigma_at(lam):
    """The sigma whose half log-SNR is `lam` (inverse of half_log_snr)."""
    return lam.neg().exp()


def exponential_step(sigma, sigma_next, eta):
    """(lambda_s, lambda_t, h, h * (eta + 1), alpha_t) of one step of the exponential-integrator SDE solvers."""
    lambda_s, lambda_t = half_log_snr(sigma), half_log_snr(sigma_next)
    h = lambda_t - lambda_s
    return lambda_s, lambda_t, h, h * (eta + 1), sigma_next * lambda_t.exp()


def denoise(model, x, sigma, args, cfg_pp=False):
    """(denoised, uncond_denoised); the uncond is asked for only with CFG++, and a model without CFG is its own."""
    if cfg_pp and hasattr(model, "with_uncond"):
        return model.with_uncond(x, sigma, **args)
    denoised = model(x, sigma, **args)
    return denoised, denoised


def euler_to(x, sigma, sigma_to, denoised, uncond, cfg_pp=False):
    """An Euler step to `sigma_to`; with CFG++ from the guided x0 along the unconditional direction."""
    if cfg_pp:
        return denoised + to_d(x, sigma, uncond) * sigma_to
    return x + to_d(x, sigma, denoised) * (sigma_to - sigma)


# --- step noise -------------------------------------------------------------------------------


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


def gaussian_noise(x, seed, noise_sampler):
    """`noise_sampler`, or seeded Gaussian noise when it is None (ancestral samplers)."""
    return default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler


def brownian_noise(x, sigmas, seed, noise_sampler):
    """`noise_sampler`, or a Brownian tree over the non-zero sigmas when it is None (SDE samplers)."""
    if noise_sampler is not None:
        return noise_sampler
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    return BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=seed)
