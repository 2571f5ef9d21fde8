"""Custom sampling: the same run described with KSampler and with the custom nodes gives the
same numbers; the schedule nodes give ComfyUI's sigmas."""
from __future__ import annotations

import math

import pytest
import torch

from .conftest import computed, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def custom(advanced: bool, *, sampler="euler", scheduler="normal", steps=2, denoise=1.0,
           cfg=5.0, seed=1, guider="CFGGuider", img2img=False):
    graph = txt2img(steps=steps, cfg=cfg, seed=seed, sampler=sampler, save=False)
    nodes = graph["nodes"]
    if img2img:
        add_img2img(graph)
    latent = L("start", "latent") if img2img else L("latent", "latent")
    nodes["select"] = {"type": "KSamplerSelect", "inputs": {"sampler_name": sampler}}
    nodes["sigmas"] = {"type": "BasicScheduler", "inputs": {
        "model": L("ckpt", "model"), "scheduler": scheduler, "steps": steps, "denoise": denoise}}
    if advanced:
        nodes["noise"] = {"type": "RandomNoise", "inputs": {"noise_seed": seed}}
        nodes["guider"] = ({"type": "CFGGuider", "inputs": {
            "model": L("ckpt", "model"), "positive": L("pos", "conditioning"),
            "negative": L("neg", "conditioning"), "cfg": cfg}} if guider == "CFGGuider" else
            {"type": "BasicGuider", "inputs": {"model": L("ckpt", "model"),
                                               "conditioning": L("pos", "conditioning")}})
        nodes["custom"] = {"type": "SamplerCustomAdvanced", "inputs": {
            "noise": L("noise", "noise"), "guider": L("guider", "guider"),
            "sampler": L("select", "sampler"), "sigmas": L("sigmas", "sigmas"),
            "latent_image": latent}}
    else:
        nodes["custom"] = {"type": "SamplerCustom", "inputs": {
            "model": L("ckpt", "model"), "positive": L("pos", "conditioning"),
            "negative": L("neg", "conditioning"), "sampler": L("select", "sampler"),
            "sigmas": L("sigmas", "sigmas"), "latent_image": latent, "add_noise": True,
            "noise_seed": seed, "cfg": cfg}}
    return graph


def add_img2img(graph):
    """Start from a decoded first picture encoded again (img2img)."""
    graph["nodes"]["first"] = dict(graph["nodes"]["sample"], inputs=dict(
        graph["nodes"]["sample"]["inputs"], seed=99))
    graph["nodes"]["pixels"] = {"type": "VAEDecode", "inputs": {
        "latent": L("first", "latent"), "vae": L("ckpt", "vae")}}
    graph["nodes"]["start"] = {"type": "VAEEncode", "inputs": {
        "image": L("pixels", "image"), "vae": L("ckpt", "vae")}}
    graph["nodes"]["sample"]["inputs"]["latent"] = L("start", "latent")


def ksampler(executor, graph, **changes):
    graph["nodes"]["sample"]["inputs"].update(changes)
    return computed(executor, graph, "sample", "latent").samples


@pytest.mark.parametrize("advanced, sampler, scheduler", [
    (False, "euler", "normal"), (True, "dpmpp_2m", "karras"),
    (True, "euler_ancestral", "simple")])
def test_custom_samplers_give_ksamplers_numbers(executor, advanced, sampler, scheduler):
    graph = custom(advanced, sampler=sampler, scheduler=scheduler)
    got = computed(executor, graph, "custom", "output").samples
    assert torch.equal(got, ksampler(executor, graph, scheduler=scheduler))
    denoised = computed(executor, graph, "custom", "denoised_output").samples
    assert denoised.shape == got.shape


def test_img2img_denoise_and_cfg_1(executor):
    graph = custom(True, denoise=0.6, img2img=True)
    got = computed(executor, graph, "custom", "output").samples
    assert torch.equal(got, ksampler(executor, graph, denoise=0.6))
    basic = custom(True, guider="BasicGuider", cfg=1.0)
    assert torch.equal(computed(executor, basic, "custom", "output").samples,
                       ksampler(executor, basic, cfg=1.0))


def test_split_sigmas_then_continue_without_noise(executor):
    graph = custom(True, steps=4)
    nodes = graph["nodes"]
    nodes["split"] = {"type": "SplitSigmas", "inputs": {"sigmas": L("sigmas", "sigmas"),
                                                        "step": 2}}
    nodes["custom"]["inputs"]["sigmas"] = L("split", "high_sigmas")
    nodes["none"] = {"type": "DisableNoise", "inputs": {}}
    nodes["second"] = {"type": "SamplerCustomAdvanced", "inputs": {
        "noise": L("none", "noise"), "guider": L("guider", "guider"),
        "sampler": L("select", "sampler"), "sigmas": L("split", "low_sigmas"),
        "latent_image": L("custom", "output")}}
    two_parts = computed(executor, graph, "second", "output").samples
    assert torch.allclose(two_parts, ksampler(executor, graph, steps=4), atol=1e-5)


def test_schedules_and_sigma_tools(executor):
    reg = executor.registry
    karras = reg.get("KarrasScheduler").fn(4, 10.0, 0.1, 7.0)
    ramp = torch.linspace(0, 1, 4)
    expected = (10.0 ** (1 / 7) + ramp * (0.1 ** (1 / 7) - 10.0 ** (1 / 7))) ** 7
    assert torch.allclose(karras[:-1], expected) and karras[-1] == 0 and len(karras) == 5
    exponential = reg.get("ExponentialScheduler").fn(3, 10.0, 0.1)
    assert torch.allclose(exponential, torch.tensor([10.0, 1.0, 0.1, 0.0]), rtol=1e-5)
    high, low = reg.get("SplitSigmas").fn(exponential, 1)
    assert high.tolist() == pytest.approx([10.0, 1.0]) and low.tolist() == pytest.approx(
        [1.0, 0.1, 0.0], rel=1e-5)
    flipped = reg.get("FlipSigmas").fn(exponential)
    assert flipped.tolist() == pytest.approx([0.0001, 0.1, 1.0, 10.0], rel=1e-5)
    assert math.isclose(float(exponential[0]), 10.0, rel_tol=1e-6)
    assert reg.get("KSamplerSelect").fn("heun").name == "heun"
    assert reg.get("RandomNoise").fn(7).seed == 7 and reg.get("DisableNoise").fn().seed is None
