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

This module holds the table; the samplers live by family in samplers_karras.py (Euler, Heun,
DPM-2, LMS, DDPM, LCM), samplers_dpm_solver.py (DPM-Solver fast/adaptive), samplers_dpmpp.py
(DPM-Solver++), samplers_multistep.py (iPNDM, DEIS, RES, gradient estimation), samplers_sde.py
(ER-SDE, SEEDS, SA-Solver) and samplers_unipc.py, each CFG++ form beside its base sampler; the
pieces they share are in sampler_steps.py.
"""

from __future__ import annotations

from .names import SAMPLER_NAMES, unknown_name_message
from .sampler_steps import BrownianTreeNoiseSampler, default_noise_sampler, get_ancestral_step, to_d
from .samplers_dpm_solver import sample_dpm_adaptive, sample_dpm_fast
from .samplers_dpmpp import (sample_dpmpp_2m, sample_dpmpp_2m_cfg_pp, sample_dpmpp_2m_sde, sample_dpmpp_2m_sde_heun,
                             sample_dpmpp_2s_ancestral, sample_dpmpp_2s_ancestral_cfg_pp, sample_dpmpp_3m_sde,
                             sample_dpmpp_sde)
from .samplers_karras import (sample_ddpm, sample_dpm_2, sample_dpm_2_ancestral, sample_euler, sample_euler_ancestral,
                              sample_euler_ancestral_cfg_pp, sample_euler_cfg_pp, sample_heun, sample_heunpp2,
                              sample_lcm, sample_lms)
from .samplers_multistep import (sample_deis, sample_gradient_estimation, sample_gradient_estimation_cfg_pp,
                                 sample_ipndm, sample_ipndm_v, sample_res_multistep, sample_res_multistep_ancestral,
                                 sample_res_multistep_ancestral_cfg_pp, sample_res_multistep_cfg_pp)
from .samplers_sde import sample_er_sde, sample_sa_solver, sample_sa_solver_pece, sample_seeds_2, sample_seeds_3
from .samplers_unipc import sample_uni_pc, sample_uni_pc_bh2

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


__all__ = [
    "SAMPLERS", "BrownianTreeNoiseSampler", "default_noise_sampler", "get_ancestral_step", "get_sampler",
    "sample_ddpm", "sample_deis", "sample_dpm_2", "sample_dpm_2_ancestral", "sample_dpm_adaptive",
    "sample_dpm_fast", "sample_dpmpp_2m", "sample_dpmpp_2m_cfg_pp", "sample_dpmpp_2m_sde",
    "sample_dpmpp_2m_sde_heun", "sample_dpmpp_2s_ancestral", "sample_dpmpp_2s_ancestral_cfg_pp",
    "sample_dpmpp_3m_sde", "sample_dpmpp_sde", "sample_er_sde", "sample_euler", "sample_euler_ancestral",
    "sample_euler_ancestral_cfg_pp", "sample_euler_cfg_pp", "sample_gradient_estimation",
    "sample_gradient_estimation_cfg_pp", "sample_heun", "sample_heunpp2", "sample_ipndm", "sample_ipndm_v",
    "sample_lcm", "sample_lms", "sample_res_multistep", "sample_res_multistep_ancestral",
    "sample_res_multistep_ancestral_cfg_pp", "sample_res_multistep_cfg_pp", "sample_sa_solver",
    "sample_sa_solver_pece", "sample_seeds_2", "sample_seeds_3", "sample_uni_pc", "sample_uni_pc_bh2", "to_d"
]
