"""Sampler and scheduler names, in ComfyUI's order, without importing torch.

Node declarations read these at import time to build their `choices`, so this module must stay
free of heavy imports. `samplers.SAMPLERS` and `schedules.SCHEDULERS` are keyed by exactly these
names (a test checks it).
"""

# ComfyUI's SAMPLER_NAMES order (comfy/samplers.py: KSAMPLER_NAMES + ddim, uni_pc, uni_pc_bh2).
SAMPLER_NAMES = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp",
    "heun", "heunpp2", "dpm_2", "dpm_2_ancestral",
    "lms", "dpm_fast", "dpm_adaptive",
    "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu",
    "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu",
    "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
    "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece",
    "ddim", "uni_pc", "uni_pc_bh2",
)

# ComfyUI's SCHEDULER_NAMES order (the order of its SCHEDULER_HANDLERS table).
SCHEDULER_NAMES = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform",
    "beta", "normal", "linear_quadratic", "kl_optimal",
)

# KSampler computes one extra step for these and drops the next-to-last sigma: their last
# step would otherwise go to a tiny sigma they handle badly (comfy/samplers.py, KSampler).
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def unknown_name_message(kind: str, name: str, valid) -> str:
    """The one sentence used when a workflow names a sampler or scheduler that does not exist."""
    return f"unknown {kind} {name!r}; valid {kind}s are: {', '.join(valid)}"


# ComfyUI's CLIPLoader and DualCLIPLoader types (nodeflow loads stable_diffusion and sdxl).
CLIP_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv",
              "pixart", "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2",
              "qwen_image", "hunyuan_image", "flux2", "ovis")
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image",
                   "hunyuan_video_15", "kandinsky5", "kandinsky5_image")
