"""Schedules and schedulers against ComfyUI's own sigma tables (shared/reference)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodeflow.diffusion import names, schedules
from nodeflow.diffusion.schedules import DiscreteSchedule, advanced_sigmas, calculate_sigmas, sd_schedule

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
SIGMAS = json.loads((REFERENCE / "comfy_sigmas_sd1.json").read_text())


@pytest.fixture(scope="module")
def sd():
    return sd_schedule()


@pytest.mark.parametrize("key", sorted(SIGMAS))
def test_scheduler_matches_comfyui(sd, key):
    name, steps = key.split("/")
    got = schedules.SCHEDULERS[name](sd, int(steps))
    want = torch.tensor(SIGMAS[key])
    assert got.dtype == torch.float32
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4  # the file is rounded to 6 decimals


def test_reference_covers_every_scheduler():
    assert {key.split("/")[0] for key in SIGMAS} == set(names.SCHEDULER_NAMES)


def test_table_and_names_agree():
    assert tuple(schedules.SCHEDULERS) == names.SCHEDULER_NAMES


def test_names_module_does_not_import_torch():
    code = "import sys, nodeflow.diffusion.names; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_sd_schedule_bounds(sd):
    # ComfyUI's ModelSamplingDiscrete for SD 1.x: sigma_min 0.0291672, sigma_max 14.6146412
    assert float(sd.sigma_min) == pytest.approx(0.029167158529162407, abs=1e-9)
    assert float(sd.sigma_max) == pytest.approx(14.614641189575195, abs=1e-6)
    assert len(sd.sigmas) == 1000 and sd.sigmas.dtype == torch.float32


def test_timestep_sigma_round_trip(sd):
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    assert torch.equal(sd.timestep(sd.sigma(t)), t)
    assert torch.allclose(sd.sigma(t.float()), sd.sigmas[t])


def test_sigma_interpolates_in_log_space(sd):
    mid = sd.sigma(torch.tensor(10.5))
    expected = ((sd.log_sigmas[10] + sd.log_sigmas[11]) / 2).exp()
    assert torch.allclose(mid, expected)
    assert sd.sigmas[10] < mid < sd.sigmas[11]


def test_timestep_is_nearest_in_log_sigma(sd):
    between = (sd.log_sigmas[100] * 0.6 + sd.log_sigmas[101] * 0.4).exp()
    assert sd.timestep(between).item() == 100


def test_percent_to_sigma(sd):
    assert sd.percent_to_sigma(0.0) > 1e8
    assert sd.percent_to_sigma(1.0) == 0.0
    assert sd.percent_to_sigma(0.5) == pytest.approx(float(sd.sigma(torch.tensor(499.5))))


def test_v_prediction_shares_the_schedule():
    v = sd_schedule("v")
    assert v.prediction == "v"
    assert torch.equal(v.sigmas, sd_schedule().sigmas)
    with pytest.raises(ValueError, match="prediction"):
        DiscreteSchedule.scaled_linear(prediction="x0")


def test_unknown_scheduler_raises_with_valid_names(sd):
    with pytest.raises(ValueError) as err:
        calculate_sigmas(sd, "nope", 10)
    message = str(err.value)
    assert "'nope'" in message and all(n in message for n in names.SCHEDULER_NAMES)


@pytest.mark.parametrize("scheduler", names.SCHEDULER_NAMES)
def test_full_denoise_is_the_plain_schedule(sd, scheduler):
    assert torch.equal(calculate_sigmas(sd, scheduler, 7), schedules.SCHEDULERS[scheduler](sd, 7))


@pytest.mark.parametrize("steps,denoise", [(10, 0.5), (20, 0.75), (4, 0.3), (7, 0.99)])
def test_denoise_takes_the_tail_of_a_longer_schedule(sd, steps, denoise):
    got = calculate_sigmas(sd, "karras", steps, denoise)
    longer = schedules.karras(sd, int(steps / denoise))
    assert len(got) == steps + 1
    assert torch.equal(got, longer[-(steps + 1):])
    assert got[-1] == 0
    # int() truncates: 7 steps at denoise 0.99 schedule int(7.07) = 7 steps, i.e. a full denoise
    assert (got[0] < sd.sigma_max) == (int(steps / denoise) > steps)


def test_denoise_zero_gives_nothing_to_sample(sd):
    assert len(calculate_sigmas(sd, "normal", 10, 0.0)) == 0


def test_discard_penultimate_for_dpm_2(sd):
    got = calculate_sigmas(sd, "normal", 10, sampler="dpm_2")
    plain = schedules.normal(sd, 11)
    assert len(got) == 11
    assert torch.equal(got, torch.cat([plain[:-2], plain[-1:]]))
    assert torch.equal(calculate_sigmas(sd, "normal", 10, sampler="euler"), schedules.normal(sd, 10))


def test_advanced_window(sd):
    sigmas = schedules.normal(sd, 10)
    # full range: unchanged
    assert torch.equal(advanced_sigmas(sigmas, 0, 10000), sigmas)
    # first half, fully denoised at the end
    head = advanced_sigmas(sigmas, 0, 5, return_with_leftover_noise=False)
    assert torch.equal(head[:-1], sigmas[:5]) and head[-1] == 0 and len(head) == 6
    # first half, leftover noise kept for a second sampler
    noisy = advanced_sigmas(sigmas, 0, 5, return_with_leftover_noise=True)
    assert torch.equal(noisy, sigmas[:6])
    # the second sampler continues from step 5
    assert torch.equal(advanced_sigmas(sigmas, 5, 10000), sigmas[5:])
    # starting past the end leaves nothing to do
    assert len(advanced_sigmas(sigmas, 10, 10000)) == 0
    # the input is not modified
    assert sigmas[5] > 0
