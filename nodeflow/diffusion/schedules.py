"""The discrete DDPM noise schedule of SD 1.x/2.x/SDXL and the sigma schedulers built on it.

Every scheduler is a plain function `fn(schedule, steps) -> sigmas` (float32, descending, ending
in 0) registered in SCHEDULERS under ComfyUI's name. The arithmetic follows ComfyUI's
ModelSamplingDiscrete and comfy/samplers.py step by step (float64 schedule, float32 tables,
log-sigma interpolation) so that the same name and step count give ComfyUI's sigmas to float32
precision; shared/reference/comfy_sigmas_sd1.json is the judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .names import DISCARD_PENULTIMATE_SIGMA_SAMPLERS, SCHEDULER_NAMES, unknown_name_message

PREDICTIONS = ("eps", "v")


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """A trained model's discrete noise levels: sigmas[t] for t = 0..T-1, ascending.

    `prediction` says what the network outputs: "eps" (noise, SD 1.x, SDXL, SD 2.x base)
    or "v" (velocity, SD 2.x 768-v).
    """

    sigmas: torch.Tensor
    log_sigmas: torch.Tensor
    prediction: str = "eps"

    def __post_init__(self):
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction type {self.prediction!r}; valid: {', '.join(PREDICTIONS)}")

    @classmethod
    def from_betas(cls, betas: torch.Tensor, prediction: str = "eps") -> "DiscreteSchedule":
        """Build from per-step betas; sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) (Karras et al. 2022, VP)."""
        alphas_cumprod = torch.cumprod(1.0 - betas.double(), dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        # ComfyUI keeps both tables in float32 but takes the log in float64 first.
        return cls(sigmas.float(), sigmas.log().float(), prediction)

    @classmethod
    def scaled_linear(cls, beta_start: float = 0.00085, beta_end: float = 0.012,
                      num_timesteps: int = 1000, prediction: str = "eps") -> "DiscreteSchedule":
        """The "scaled linear" betas of SD 1.x/2.x/SDXL: linear in sqrt(beta) (LDM's "linear")."""
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_timesteps, dtype=torch.float64) ** 2
        return cls.from_betas(betas, prediction)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The index of the table entry nearest in log-sigma: what a discrete UNet is conditioned on."""
        sigma = torch.as_tensor(sigma)
        dists = sigma.log().to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Sigma at a fractional timestep, interpolating linearly in log-sigma (as ComfyUI does)."""
        timestep = torch.as_tensor(timestep)
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the way through sampling (0 = start, pure noise; 1 = end)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return self.sigma(torch.tensor((1.0 - percent) * 999.0)).item()


def sd_schedule(prediction: str = "eps") -> DiscreteSchedule:
    """The schedule shared by SD 1.x, SD 2.x and SDXL."""
    return DiscreteSchedule.scaled_linear(prediction=prediction)


# --- schedules that only need sigma_min / sigma_max -------------------------------------------

def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """The noise schedule of Karras et al. (2022), eq. 5: uniform in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform in log-sigma (k-diffusion's get_sigmas_exponential)."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform in arctan(sigma): the KL-optimal schedule of Sabour et al. (2024), "Align Your Steps"."""
    w = torch.arange(n, dtype=torch.float).div_(n - 1) if n > 1 else torch.zeros(1)
    sigmas = w.new_zeros(n + 1)
    sigmas[:-1] = (w * math.atan(sigma_min) + (1 - w) * math.atan(sigma_max)).tan_()
    return sigmas


def _bounds(schedule: DiscreteSchedule) -> tuple[float, float]:
    return float(schedule.sigma_min), float(schedule.sigma_max)


def karras(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Karras et al. (2022) rho=7 schedule between the model's sigma_min and sigma_max."""
    return karras_sigmas(steps, *_bounds(schedule))


def exponential(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Log-uniform schedule between the model's sigma_min and sigma_max."""
    return exponential_sigmas(steps, *_bounds(schedule))


def kl_optimal(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """KL-optimal (arctan-uniform) schedule, Sabour et al. (2024)."""
    return kl_optimal_sigmas(steps, *_bounds(schedule))


# --- schedules that walk the model's own timestep table ---------------------------------------

def normal(schedule: DiscreteSchedule, steps: int, sgm: bool = False) -> torch.Tensor:
    """Timesteps uniform from the first to the last table entry, sigma interpolated in log space."""
    start, end = schedule.timestep(schedule.sigma_max), schedule.timestep(schedule.sigma_min)
    append_zero = True
    if sgm:
        # SGM/SDXL "uniform": steps+1 points, the last (sigma_min) dropped in favour of zero.
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(schedule.sigma(end)), 0, abs_tol=1e-5):
            steps, append_zero = steps + 1, False  # zero-terminal-SNR tables already end in 0
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(schedule.sigma(t)) for t in timesteps]
    return torch.FloatTensor(sigs + [0.0] if append_zero else sigs)


def sgm_uniform(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Stability's SGM discretisation: `normal` with steps+1 points and the last one replaced by 0."""
    return normal(schedule, steps, sgm=True)


def simple(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Every (T/steps)-th table entry from the top, without interpolation (ComfyUI's "simple")."""
    stride = len(schedule.sigmas) / steps
    sigs = [float(schedule.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.FloatTensor(sigs + [0.0])


def ddim_uniform(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """DDIM's "uniform" timestep skipping (Song et al. 2021): entries 1, 1+k, 1+2k, ... reversed."""
    sigmas = schedule.sigmas
    if math.isclose(float(sigmas[1]), 0, abs_tol=1e-5):
        steps, sigs = steps + 1, []
    else:
        sigs = [0.0]
    stride = max(len(sigmas) // steps, 1)
    sigs += [float(s) for s in sigmas[1::stride]]
    return torch.FloatTensor(sigs[::-1])


def beta(schedule: DiscreteSchedule, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Timesteps at the quantiles of a Beta(0.6, 0.6) distribution (Lee et al. 2024, arXiv:2407.12173)."""
    from scipy.special import betaincinv  # the inverse regularised incomplete beta = Beta ppf

    total = len(schedule.sigmas) - 1
    ts = np.rint(betaincinv(alpha, beta_, 1 - np.linspace(0, 1, steps, endpoint=False)) * total)
    sigs, last = [], -1
    for t in ts:
        if t != last:  # rounding can repeat a timestep; keep each once
            sigs.append(float(schedule.sigmas[int(t)]))
        last = t
    return torch.FloatTensor(sigs + [0.0])


def linear_quadratic(schedule: DiscreteSchedule, steps: int, threshold_noise: float = 0.025,
                     linear_steps: int | None = None) -> torch.Tensor:
    """Mochi's schedule (genmoai/models): linear in the first half, quadratic after, times sigma_max."""
    if steps == 1:
        fractions = [1.0, 0.0]
    else:
        linear_steps = steps // 2 if linear_steps is None else linear_steps
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quad_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        lin_coef = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps ** 2
        const = quad_coef * linear_steps ** 2
        quadratic = [quad_coef * i ** 2 + lin_coef * i + const for i in range(linear_steps, steps)]
        fractions = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.FloatTensor(fractions) * schedule.sigma_max.cpu()


SCHEDULERS = {
    "simple": simple,
    "sgm_uniform": sgm_uniform,
    "karras": karras,
    "exponential": exponential,
    "ddim_uniform": ddim_uniform,
    "beta": beta,
    "normal": normal,
    "linear_quadratic": linear_quadratic,
    "kl_optimal": kl_optimal,
}
assert tuple(SCHEDULERS) == SCHEDULER_NAMES


def get_scheduler(name: str):
    """The scheduler function for a ComfyUI scheduler name; ValueError listing the valid ones."""
    try:
        return SCHEDULERS[name]
    except KeyError:
        raise ValueError(unknown_name_message("scheduler", name, SCHEDULER_NAMES)) from None


def calculate_sigmas(schedule: DiscreteSchedule, scheduler: str, steps: int, denoise: float = 1.0,
                     sampler: str | None = None) -> torch.Tensor:
    """The sigmas ComfyUI's KSampler uses for (scheduler, steps, denoise[, sampler]).

    denoise < 1 samples only the tail of a longer schedule: int(steps / denoise) steps are
    scheduled and the last steps+1 sigmas kept, so img2img starts part way down. denoise <= 0
    gives an empty tensor (nothing to sample). Samplers in DISCARD_PENULTIMATE_SIGMA_SAMPLERS
    get one extra step with the next-to-last sigma removed, as KSampler does.
    """
    fn = get_scheduler(scheduler)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")

    def full(n: int) -> torch.Tensor:
        if sampler in DISCARD_PENULTIMATE_SIGMA_SAMPLERS:
            sigmas = fn(schedule, n + 1)
            return torch.cat([sigmas[:-2], sigmas[-1:]])
        return fn(schedule, n)

    if denoise is None or denoise > 0.9999:
        return full(steps)
    if denoise <= 0.0:
        return torch.FloatTensor([])
    return full(int(steps / denoise))[-(steps + 1):]


def advanced_sigmas(sigmas: torch.Tensor, start_at_step: int = 0, end_at_step: int = 10000,
                    return_with_leftover_noise: bool = False) -> torch.Tensor:
    """KSamplerAdvanced's window on a schedule: steps [start_at_step, end_at_step).

    Stopping early keeps the noise of the last kept sigma only when return_with_leftover_noise;
    otherwise that last sigma becomes 0 so the result is fully denoised. An empty result means
    there is nothing to sample and the latent is returned unchanged (ComfyUI does the same).
    """
    sigmas = sigmas.clone()
    if end_at_step < len(sigmas) - 1:
        sigmas = sigmas[:end_at_step + 1]
        if not return_with_leftover_noise:
            sigmas[-1] = 0
    if start_at_step >= len(sigmas) - 1:
        return sigmas[:0]
    return sigmas[start_at_step:]
