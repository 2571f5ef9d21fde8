"""Areas, masks, strengths and timestep ranges as the sampler evaluates them, against
ComfyUI's calc_cond_batch/get_area_and_mult computed here one conditioning at a time."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from nodeflow.diffusion.cond_batch import SamplerCond, calc_cond_batch, resolve
from nodeflow.diffusion.sampling import CFGDenoiser, _cat_conds
from nodeflow.diffusion.schedules import sd_schedule


def toy(x, sigma, encoder_hidden_states=None, concat=None):
    """A position- and prompt-dependent 'denoiser': any mistake in windows or weights shows."""
    rows = torch.arange(x.shape[-2], dtype=x.dtype)[:, None]
    cols = torch.arange(x.shape[-1], dtype=x.dtype)[None, :]
    prompt = encoder_hidden_states.mean(dim=(1, 2)).reshape(-1, 1, 1, 1)
    return x * prompt + rows * 0.1 - cols * 0.05 + sigma.reshape(-1, 1, 1, 1)


def reference(conds, x, sigma):
    """ComfyUI's arithmetic, one conditioning at a time with explicit loops."""
    out, count = torch.zeros_like(x), torch.full_like(x, 1e-37)
    height, width = x.shape[-2:]
    for c in conds:
        s = float(sigma[0])
        if (c.sigma_start is not None and s > c.sigma_start) or \
                (c.sigma_end is not None and s < c.sigma_end):
            continue
        h, w, y, x0 = c.area or (height, width, 0, 0)
        h, w = min(height - y, h), min(width - x0, w)
        part = x[:, :, y:y + h, x0:x0 + w]
        if c.mask is not None:
            mult = c.mask[:, y:y + h, x0:x0 + w][:, None].expand_as(part) * c.mask_strength
        else:
            mult = torch.ones_like(part)
        mult = mult * c.strength
        if c.mask is None and c.area is not None:
            fade_h, fade_w = min(8, h // 4), min(8, w // 4)
            for t in range(fade_h):
                if y != 0:
                    mult[:, :, t] *= (t + 1) / fade_h
                if y + h < height:
                    mult[:, :, h - 1 - t] *= (t + 1) / fade_h
            for t in range(fade_w):
                if x0 != 0:
                    mult[:, :, :, t] *= (t + 1) / fade_w
                if x0 + w < width:
                    mult[:, :, :, w - 1 - t] *= (t + 1) / fade_w
        prediction = toy(part, sigma, **c.kwargs)
        out[:, :, y:y + h, x0:x0 + w] += prediction * mult
        count[:, :, y:y + h, x0:x0 + w] += mult
    return out / count


def prompt(value, tokens=77):
    return {"encoder_hidden_states": torch.full((1, tokens, 8), float(value))}


def test_areas_masks_and_strengths_match_comfyui():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 24, 40, generator=gen)
    sigma = torch.tensor([3.0, 3.0])
    mask = torch.rand(1, 24, 40, generator=gen)
    conds = [SamplerCond(prompt(1.0)),
             SamplerCond(prompt(2.0, 154), area=(16, 24, 0, 16), strength=0.7),
             SamplerCond(prompt(-1.0), area=(30, 10, 8, 4)),  # taller than the latent: cut
             SamplerCond(prompt(0.5), mask=mask, mask_strength=0.6, strength=1.5),
             SamplerCond(prompt(3.0), area=(8, 8, 4, 4), mask=mask)]
    [got] = calc_cond_batch(toy, [conds], x, sigma, _cat_conds)
    assert torch.allclose(got, reference(conds, x, sigma), atol=1e-5)


def test_timestep_ranges_follow_sigma():
    schedule = sd_schedule()
    start, end = schedule.percent_to_sigma(0.25), schedule.percent_to_sigma(0.75)
    assert start > end
    late = SamplerCond(prompt(2.0), sigma_start=start, sigma_end=end)
    early = SamplerCond(prompt(1.0), sigma_start=schedule.percent_to_sigma(0.0),
                        sigma_end=start)
    x = torch.randn(1, 4, 8, 8)
    for s in (start * 1.5, (start + end) / 2, end / 2):
        sigma = torch.tensor([s])
        [got] = calc_cond_batch(toy, [[early, late]], x, sigma, _cat_conds)
        assert torch.allclose(got, reference([early, late], x, sigma), atol=1e-6)
    # nothing applies: ComfyUI's zero prediction
    [none] = calc_cond_batch(toy, [[late]], x, torch.tensor([start * 2]), _cat_conds)
    assert torch.equal(none, torch.zeros_like(x))


def test_resolve_turns_comfyuis_keys_into_latent_windows():
    schedule = sd_schedule()
    shape = (1, 4, 12, 20)
    percent = resolve({"area": ("percentage", 0.5, 0.25, 0.5, 0.1)}, {}, shape, schedule)
    assert percent.area == (6, 5, 6, 2)
    mask = torch.zeros(1, 96, 160)
    mask[:, 8:40, 80:100] = 1.0
    bounds = resolve({"mask": mask, "set_area_to_bounds": True, "mask_strength": 0.5}, {}, shape,
                     schedule)
    expected = F.interpolate(mask[:, None], size=(12, 20), mode="bilinear")[:, 0]
    assert torch.equal(bounds.mask, expected) and bounds.mask_strength == 0.5
    rows, cols = torch.nonzero(expected[0], as_tuple=True)
    assert bounds.area == (max(8, int(rows.max() - rows.min() + 1)),
                           max(8, int(cols.max() - cols.min() + 1)),
                           int(rows.min()), int(cols.min()))
    empty = resolve({"mask": torch.zeros(12, 20), "set_area_to_bounds": True}, {}, shape, schedule)
    assert empty.area == (8, 8, 0, 0)
    timed = resolve({"start_percent": 0.2, "end_percent": 0.9}, {}, shape, schedule)
    assert (timed.sigma_start, timed.sigma_end) == (schedule.percent_to_sigma(0.2),
                                                    schedule.percent_to_sigma(0.9))


def test_plain_conditionings_still_average_their_predictions():
    x, sigma = torch.randn(1, 4, 8, 8), torch.tensor([2.0])
    guided = CFGDenoiser(toy, [prompt(1.0), prompt(3.0)], prompt(0.0), 4.0)(x, sigma)
    cond = (toy(x, sigma, **prompt(1.0)) + toy(x, sigma, **prompt(3.0))) / 2
    uncond = toy(x, sigma, **prompt(0.0))
    assert torch.allclose(guided, uncond + (cond - uncond) * 4.0, atol=1e-6)
