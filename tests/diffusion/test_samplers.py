"""Samplers against ComfyUI's outputs on a toy denoiser, and the sampling glue around them."""

import json
from pathlib import Path

import pytest
import torch

from nodeflow.diffusion import names, samplers, schedules
from nodeflow.diffusion.sampling import (CFGDenoiser, UNetDenoiser, latent_preview,
                                         prepare_mask, prepare_noise, sample)

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
TOY = json.loads((REFERENCE / "comfy_samplers_toy.json").read_text())
CASES = TOY["cases"]

# torchsde warns when a query lands a float32 ulp outside the tree's interval; ComfyUI does the same.
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")


def toy_denoiser(x, sigma, **kwargs):
    """The reference file's toy: D(x, sigma) = x * 0.25 / (0.25 + sigma^2) + 0.05 * sin(x)."""
    s = sigma.view(-1, *([1] * (x.ndim - 1)))
    return x * 0.25 / (0.25 + s ** 2) + 0.05 * torch.sin(x)


class ToyWithoutUncond:
    """The toy as ComfyUI's dpmpp_2s_ancestral_cfg_pp saw it when the reference was made: the toy
    never reports an unconditional prediction, so that sampler kept its initial value, 0."""

    def __call__(self, x, sigma, **kwargs):
        return toy_denoiser(x, sigma)

    def with_uncond(self, x, sigma, **kwargs):
        denoised = toy_denoiser(x, sigma)
        return denoised, torch.zeros_like(denoised)


@pytest.fixture(scope="module")
def sd():
    return schedules.sd_schedule()


def _start(sigmas):
    noise = prepare_noise(TOY["shape"], TOY["seed"])
    return noise * torch.sqrt(1.0 + sigmas[0] ** 2.0)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['sampler']}-{c['scheduler']}-{c['steps']}" for c in CASES])
def test_sampler_matches_comfyui(sd, case):
    sigmas = schedules.SCHEDULERS[case["scheduler"]](sd, case["steps"])
    assert (sigmas - torch.tensor(case["sigmas"])).abs().max() <= 1e-5
    model = ToyWithoutUncond() if case["sampler"] == "dpmpp_2s_ancestral_cfg_pp" else toy_denoiser
    out = samplers.SAMPLERS[case["sampler"]](model, _start(sigmas), sigmas, extra_args={"seed": TOY["seed"]})
    err = (out.flatten() - torch.tensor(case["final"])).abs().max().item()
    assert err <= 1e-4, f"max abs error {err}"


def test_reference_samplers_are_all_registered():
    assert {c["sampler"] for c in CASES} <= set(samplers.SAMPLERS)


def test_table_and_names_agree():
    assert tuple(samplers.SAMPLERS) == names.SAMPLER_NAMES
    for name in ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
                 "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddim", "ddpm", "lcm", "ipndm",
                 "deis", "uni_pc"):
        assert name in samplers.SAMPLERS


def test_unknown_sampler_raises_with_valid_names(sd):
    with pytest.raises(ValueError) as err:
        samplers.get_sampler("euler_a")
    assert "'euler_a'" in str(err.value) and "dpmpp_2m" in str(err.value)
    latent = torch.zeros(1, 4, 8, 8)
    with pytest.raises(ValueError, match="unknown sampler 'nope'.*uni_pc"):
        sample(toy_denoiser, latent, latent, schedules.normal(sd, 4), "nope", seed=0)


@pytest.mark.parametrize("name", names.SAMPLER_NAMES)
def test_every_sampler_runs_and_reports_each_step(sd, name):
    sigmas = schedules.karras(sd, 6)
    steps = []
    out = samplers.SAMPLERS[name](toy_denoiser, _start(sigmas), sigmas, extra_args={"seed": 3},
                                  callback=lambda info: steps.append(info["i"]))
    assert out.shape == tuple(TOY["shape"]) and torch.isfinite(out).all()
    if name in ("dpm_fast", "dpm_adaptive"):  # they choose their own steps in log sigma
        assert steps == list(range(len(steps))) and steps
    else:
        assert steps == list(range(6))


@pytest.mark.parametrize("name", ["dpm_fast", "dpm_adaptive"])
def test_dpm_solver_reaches_the_last_nonzero_sigma(sd, name):
    """Like ComfyUI's wrappers, DPM-Solver-fast/adaptive integrate down to the last sigma above 0."""
    noise = prepare_noise(TOY["shape"], TOY["seed"])
    accurate = schedules.karras(sd, 400).double()[:-1]
    target = samplers.sample_heun(toy_denoiser, noise.double() * torch.sqrt(1 + accurate[0] ** 2), accurate)
    sigmas = schedules.karras(sd, 30)
    out = samplers.SAMPLERS[name](toy_denoiser, noise * torch.sqrt(1.0 + sigmas[0] ** 2.0), sigmas)
    assert (out.double() - target).abs().max().item() < 0.1


def _accurate_solution(sd, noise):
    """The toy's probability-flow ODE solved with 400 double-precision Heun steps."""
    sigmas = schedules.karras(sd, 400).double()
    return samplers.sample_heun(toy_denoiser, noise.double() * torch.sqrt(1 + sigmas[0] ** 2), sigmas)


@pytest.mark.parametrize("name", ["uni_pc", "uni_pc_bh2", "ddim", "euler_cfg_pp", "dpmpp_2m_cfg_pp",
                                  "res_multistep_cfg_pp", "gradient_estimation_cfg_pp"])
def test_samplers_without_reference_converge(sd, name):
    """No ComfyUI numbers exist for these; check they solve the toy ODE as well as Euler does."""
    noise = prepare_noise(TOY["shape"], TOY["seed"])
    target = _accurate_solution(sd, noise)
    sigmas = schedules.karras(sd, 30)
    x = noise * torch.sqrt(1.0 + sigmas[0] ** 2.0)
    err = (samplers.SAMPLERS[name](toy_denoiser, x, sigmas).double() - target).abs().max().item()
    euler_err = (samplers.sample_euler(toy_denoiser, x, sigmas).double() - target).abs().max().item()
    assert err <= max(euler_err, 1e-3)


def test_ancestral_noise_is_seeded(sd):
    sigmas = schedules.karras(sd, 5)
    run = lambda seed: samplers.sample_euler_ancestral(toy_denoiser, _start(sigmas), sigmas,  # noqa: E731
                                                       extra_args={"seed": seed})
    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


# --- sampling.py --------------------------------------------------------------------------------


def test_prepare_noise_is_comfyui_noise():
    torch.manual_seed(1234)
    expected = torch.randn([2, 4, 8, 8])
    got = prepare_noise((2, 4, 8, 8), 1234)
    assert got.dtype == torch.float32 and got.device.type == "cpu"
    assert torch.equal(got, expected)
    assert torch.equal(prepare_noise((2, 4, 8, 8), 1234), got)
    assert not torch.equal(prepare_noise((2, 4, 8, 8), 1235), got)
    prepare_noise((1, 4, 8, 8), 2 ** 64 - 1)  # the largest seed a node accepts


def test_prepare_noise_batch_indices():
    full = prepare_noise((3, 4, 8, 8), 7)
    assert torch.equal(prepare_noise((1, 4, 8, 8), 7, batch_indices=[2]), full[2:3])
    assert torch.equal(prepare_noise((2, 4, 8, 8), 7, batch_indices=[1, 0]), full[[1, 0]])


def test_cfg_math():
    calls = []

    def denoiser(x, sigma, scale):
        calls.append(x.shape[0])
        return x * scale.view(-1, 1, 1, 1)

    x, sigma = torch.ones(1, 4, 2, 2), torch.tensor([2.0])
    cfg = CFGDenoiser(denoiser, {"scale": torch.tensor([3.0])}, {"scale": torch.tensor([1.0])}, cfg=7.5)
    assert torch.allclose(cfg(x, sigma), torch.full_like(x, 1.0 + (3.0 - 1.0) * 7.5))
    assert calls == [2]  # cond and uncond in one batch of 2
    guided, uncond = cfg.with_uncond(x, sigma)
    assert torch.allclose(uncond, x)

    calls.clear()
    one = CFGDenoiser(denoiser, {"scale": torch.tensor([3.0])}, {"scale": torch.tensor([1.0])}, cfg=1.0)
    assert torch.allclose(one(x, sigma), 3 * x)
    assert calls == [1]  # cfg 1 skips the unconditional pass


def test_cfg_batches_nested_conditioning():
    seen = {}

    def denoiser(x, sigma, encoder_hidden_states, added_cond_kwargs):
        seen.update(ehs=encoder_hidden_states.shape, ids=added_cond_kwargs["time_ids"].shape)
        return x

    cond = {"encoder_hidden_states": torch.zeros(1, 77, 8), "added_cond_kwargs": {"time_ids": torch.zeros(1, 6)}}
    CFGDenoiser(denoiser, cond, cond, cfg=5.0)(torch.zeros(3, 4, 2, 2), torch.ones(3))
    assert seen == {"ehs": (6, 77, 8), "ids": (6, 6)}


def _fake_unet(output):
    calls = {}

    def unet(x_in, timestep, encoder_hidden_states):
        calls.update(x_in=x_in, timestep=timestep, ehs=encoder_hidden_states)
        return (output,)  # like diffusers with return_dict=False
    return unet, calls


def test_unet_wrapper_eps(sd):
    x, eps = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    sigma = sd.sigmas[[999, 500]]
    unet, calls = _fake_unet(eps)
    denoised = UNetDenoiser(unet, sd)(x, sigma, torch.zeros(2, 77, 8))
    s = sigma.view(-1, 1, 1, 1)
    assert torch.allclose(calls["x_in"], x / torch.sqrt(s ** 2 + 1))
    assert calls["timestep"].tolist() == [999.0, 500.0]
    assert torch.allclose(denoised, x - eps * s)


def test_unet_wrapper_v_prediction():
    sched = schedules.sd_schedule("v")
    x0, noise = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    sigma = sched.sigmas[[400]]
    s = sigma.view(-1, 1, 1, 1)
    alpha, sig = 1 / torch.sqrt(1 + s ** 2), s / torch.sqrt(1 + s ** 2)  # VP coefficients
    v = alpha * noise - sig * x0  # Salimans & Ho (2022)
    x = x0 + s * noise  # k-diffusion scale
    unet, _ = _fake_unet(v)
    assert torch.allclose(UNetDenoiser(unet, sched)(x, sigma), x0, atol=1e-5)


def test_unet_wrapper_with_a_diffusers_unet(sd):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                attention_head_dim=2, norm_num_groups=4).eval()
    denoiser = CFGDenoiser(UNetDenoiser(unet, sd), {"encoder_hidden_states": torch.randn(1, 5, 8)},
                           {"encoder_hidden_states": torch.zeros(1, 5, 8)}, cfg=4.0)
    sigmas = schedules.karras(sd, 2)
    out = sample(denoiser, torch.zeros(1, 4, 8, 8), prepare_noise((1, 4, 8, 8), 0), sigmas, "euler", seed=0)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()


def test_prepare_mask_resizes_to_the_latent():
    mask = torch.zeros(64, 64)
    mask[:, 32:] = 1
    m = prepare_mask(mask, (2, 4, 8, 8))
    assert m.shape == (2, 4, 8, 8)
    assert m[..., :4].max() == 0 and m[..., 4:].min() == 1


@pytest.mark.parametrize("name", ["euler", "dpmpp_2m", "euler_ancestral", "dpmpp_2m_sde", "ddim"])
def test_inpaint_keeps_the_unmasked_latent(sd, name):
    latent = torch.randn(1, 4, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    sigmas = schedules.karras(sd, 6)
    out = sample(toy_denoiser, latent, prepare_noise(latent.shape, 5), sigmas, name, seed=5, noise_mask=mask)
    keep = mask.expand_as(latent) == 0
    assert torch.allclose(out[keep], latent[keep], atol=1e-5)
    assert not torch.allclose(out[~keep], latent[~keep], atol=1e-3)


def test_sample_matches_the_reference_start(sd):
    """sample() scales the noise as ComfyUI does (max_denoise) and passes the seed on."""
    case = next(c for c in CASES if (c["sampler"], c["scheduler"], c["steps"]) == ("dpmpp_2m_sde", "karras", 10))
    sigmas = schedules.karras(sd, 10)
    steps = []
    out = sample(toy_denoiser, torch.zeros(TOY["shape"]), prepare_noise(TOY["shape"], TOY["seed"]), sigmas,
                 "dpmpp_2m_sde", seed=TOY["seed"], callback=lambda step, total, x, d: steps.append((step, total)))
    assert (out.flatten() - torch.tensor(case["final"])).abs().max() <= 1e-4
    assert steps == [(i, 10) for i in range(1, 11)]


def test_img2img_and_add_noise(sd):
    latent = torch.randn(1, 4, 8, 8)
    noise = prepare_noise(latent.shape, 1)
    seen = []

    def spy(x, sigma):
        seen.append(x.clone())
        return toy_denoiser(x, sigma)

    sigmas = schedules.calculate_sigmas(sd, "normal", 4, denoise=0.5)
    sample(spy, latent, noise, sigmas, "euler", seed=1)
    assert torch.allclose(seen[0], latent + noise * sigmas[0])  # not at sigma_max: noise * sigma
    seen.clear()
    sample(spy, latent, noise, sigmas, "euler", seed=1, add_noise=False)
    assert torch.equal(seen[0], latent)
    assert torch.equal(sample(spy, latent, noise, sigmas[:0], "euler", seed=1), latent)


def test_latent_preview():
    for kind in ("sd1", "sd2", "sdxl"):
        image = latent_preview(torch.randn(2, 4, 12, 10), kind)
        assert image.shape == (12, 10, 3) and image.dtype == torch.uint8
    with pytest.raises(ValueError, match="sdxl"):
        latent_preview(torch.zeros(1, 4, 2, 2), "flux")
    assert latent_preview(torch.zeros(1, 4, 2, 2))[0, 0].tolist() == [128, 128, 128]


def test_cfg_averages_several_conditionings_and_repeats_tokens():
    seen = []

    def denoiser(x, sigma, encoder_hidden_states):
        seen.append(encoder_hidden_states.shape)
        return x * encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1, 1)

    long = {"encoder_hidden_states": torch.full((1, 154, 4), 3.0)}
    short = {"encoder_hidden_states": torch.full((1, 77, 4), 1.0)}
    empty = {"encoder_hidden_states": torch.zeros(1, 77, 4)}
    x, sigma = torch.ones(2, 4, 2, 2), torch.ones(2)
    out = CFGDenoiser(denoiser, [long, short], [empty], cfg=2.0)(x, sigma)
    assert seen == [(6, 154, 4)]  # 3 conditionings x batch 2, tokens repeated to 154
    assert torch.allclose(out, torch.full_like(x, 0 + (2.0 - 0) * 2.0))  # mean(3, 1) = 2
