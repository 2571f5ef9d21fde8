"""Conditioning, inpainting and latent-compositing nodes: ComfyUI's arithmetic, and the sampler
honouring areas, masks and timestep ranges on a tiny model (an inpainting model included)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import tiny_models
from nodeflow.diffusion.conditioning import CondEntry, Conditioning
from nodeflow.diffusion.latent import LatentBatch
from nodeflow.testing import contract_problems

from .conftest import computed, install_tiny, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


@pytest.fixture(scope="module")
def nodes(executor):
    return lambda name: executor.registry.get(name)


def cond(value, tokens=77, pooled=None, **extra):
    return Conditioning((CondEntry(torch.full((1, tokens, 8), float(value)), pooled, extra),))


def test_set_area_mask_and_range_store_comfyuis_keys(nodes):
    [area] = nodes("ConditioningSetArea").fn(cond(1), 200, 96, 40, 17, 0.6).entries
    assert dict(area.extra) == {"area": (12, 25, 2, 5), "strength": 0.6,
                                "set_area_to_bounds": False}
    [percent] = nodes("ConditioningSetAreaPercentage").fn(cond(1), 0.5, 0.25, 0.1, 0.2, 1.0)
    assert percent.extra["area"] == ("percentage", 0.25, 0.5, 0.2, 0.1)
    mask = torch.rand(16, 16)
    [masked] = nodes("ConditioningSetMask").fn(cond(1), mask, 0.4, "mask bounds")
    assert masked.extra["mask"].shape == (1, 16, 16) and masked.extra["set_area_to_bounds"]
    assert masked.extra["mask_strength"] == 0.4
    [timed] = nodes("ConditioningSetTimestepRange").fn(cond(1), 0.2, 0.7)
    assert (timed.extra["start_percent"], timed.extra["end_percent"]) == (0.2, 0.7)


def test_average_concat_and_zero_out(nodes, executor):
    class Ctx:
        logged = []

        def log(self, text):
            self.logged.append(text)

    to = cond(2.0, 154, pooled=torch.full((1, 4), 1.0), strength=0.5)
    source = cond(-1.0, 77, pooled=torch.full((1, 4), 3.0))
    [mixed] = nodes("ConditioningAverage").fn(to, source, 0.25, ctx=Ctx())
    assert torch.allclose(mixed.cond[:, :77], torch.full((1, 77, 8), 2.0 * 0.25 - 0.75))
    assert torch.allclose(mixed.cond[:, 77:], torch.full((1, 77, 8), 0.5))  # zeros beyond from
    assert torch.allclose(mixed.pooled, torch.full((1, 4), 0.25 + 2.25))
    assert mixed.extra["strength"] == 0.5
    [joined] = nodes("ConditioningConcat").fn(to, source, ctx=Ctx())
    assert joined.cond.shape == (1, 231, 8) and torch.equal(joined.cond[:, 154:], source.entries[0].cond)
    [zero] = nodes("ConditioningZeroOut").fn(to)
    assert zero.cond.abs().sum() == 0 and zero.pooled.abs().sum() == 0
    assert zero.extra["strength"] == 0.5


def latent_composite_reference(to, source, x, y, feather):
    """ComfyUI's LatentComposite with its loops."""
    x, y, feather = x // 8, y // 8, feather // 8
    out = to.clone()
    source = source[:, :, :to.shape[2] - y, :to.shape[3] - x]
    h, w = source.shape[2:]
    mask = torch.ones_like(source)
    for t in range(feather):
        for cond_, index, axis in ((y != 0, t, 2), (y + h < to.shape[2], h - 1 - t, 2),
                                   (x != 0, t, 3), (x + w < to.shape[3], w - 1 - t, 3)):
            if cond_:
                mask.narrow(axis, index, 1).mul_((1.0 / feather) * (t + 1))
    out[:, :, y:y + h, x:x + w] = source * mask + out[:, :, y:y + h, x:x + w] * (1 - mask)
    return out


@pytest.mark.parametrize("x, y, feather", [(16, 8, 0), (16, 8, 16), (0, 0, 24), (40, 72, 8)])
def test_latent_composite_matches_comfyui(nodes, x, y, feather):
    gen = torch.Generator().manual_seed(1)
    to, source = torch.randn(2, 4, 12, 10, generator=gen), torch.randn(2, 4, 6, 7, generator=gen)
    out = nodes("LatentComposite").fn(LatentBatch(to), LatentBatch(source), x, y, feather)
    assert torch.allclose(out.samples, latent_composite_reference(to, source, x, y, feather),
                          atol=1e-6)


def test_latent_composite_masked_and_blend(nodes):
    gen = torch.Generator().manual_seed(2)
    destination, source = torch.randn(1, 4, 8, 8, generator=gen), torch.randn(1, 4, 4, 4, generator=gen)
    mask = torch.rand(1, 32, 32, generator=gen)
    out = nodes("LatentCompositeMasked").fn(LatentBatch(destination), LatentBatch(source), 16, 48,
                                            False, mask).samples
    m = F.interpolate(mask[:, None], size=(4, 4), mode="bilinear")[:, :, :2, :4]
    expected = destination.clone()
    expected[:, :, 6:8, 2:6] = m * source[:, :, :2, :4] + (1 - m) * destination[:, :, 6:8, 2:6]
    assert torch.allclose(out, expected, atol=1e-6)
    a, b = LatentBatch(destination, noise_mask=torch.ones(1, 1, 8, 8)), LatentBatch(source)
    blended = nodes("LatentBlend").fn(a, LatentBatch(destination * 3), 0.25)
    assert torch.allclose(blended.samples, destination * 0.25 + destination * 3 * 0.75)
    assert blended.noise_mask is not None
    resized = nodes("LatentBlend").fn(a, b, 0.5).samples
    up = F.interpolate(source, size=(8, 8), mode="bicubic")
    assert torch.allclose(resized, destination * 0.5 + up * 0.5, atol=1e-6)


def area_workflow(**area):
    graph = txt2img(steps=1, width=32, height=16, save=False)
    graph["nodes"]["left"] = {"type": "TextEncode", "inputs": {"clip": L("ckpt", "clip"),
                                                               "text": "a blue digit one"}}
    graph["nodes"]["area"] = {"type": "ConditioningSetAreaPercentage", "inputs": {
        "conditioning": L("left", "conditioning"), "width": 0.5, "height": 1.0, **area}}
    graph["nodes"]["both"] = {"type": "ConditioningCombine", "inputs": {
        "a": L("pos", "conditioning"), "b": L("area", "conditioning")}}
    graph["nodes"]["sample"]["inputs"]["positive"] = L("both", "conditioning")
    return graph


def test_area_composition_changes_only_its_area_first(executor):
    plain = txt2img(steps=1, width=32, height=16, save=False)
    base = computed(executor, plain, "sample", "latent").samples
    with_area = computed(executor, area_workflow(), "sample", "latent").samples
    zero = computed(executor, area_workflow(strength=0.0), "sample", "latent").samples
    assert torch.allclose(zero, base, atol=1e-5)  # strength 0: the area prompt weighs nothing
    changed = (with_area - base).abs().mean(dim=(0, 1, 2))
    assert changed[:6].mean() > changed[-4:].mean() * 1.5  # the left half moved most


def test_timestep_range_outside_the_run_changes_nothing(executor):
    graph = txt2img(steps=1, save=False)
    base = computed(executor, graph, "sample", "latent").samples
    graph["nodes"]["other"] = {"type": "TextEncode", "inputs": {"clip": L("ckpt", "clip"),
                                                                "text": "a green digit two"}}
    graph["nodes"]["late"] = {"type": "ConditioningSetTimestepRange", "inputs": {
        "conditioning": L("other", "conditioning"), "start": 1.0, "end": 1.0}}
    graph["nodes"]["both"] = {"type": "ConditioningCombine", "inputs": {
        "a": L("pos", "conditioning"), "b": L("late", "conditioning")}}
    graph["nodes"]["sample"]["inputs"]["positive"] = L("both", "conditioning")
    assert torch.allclose(computed(executor, graph, "sample", "latent").samples, base, atol=1e-6)
    graph["nodes"]["late"]["inputs"]["start"] = 0.0
    assert not torch.allclose(computed(executor, graph, "sample", "latent").samples, base,
                              atol=1e-4)


def inpaint_graph(checkpoint, node, **inputs):
    graph = txt2img(checkpoint, steps=2, save=False)
    graph["nodes"]["pixels"] = {"type": "VAEDecode", "inputs": {
        "latent": L("sample", "latent"), "vae": L("ckpt", "vae")}}
    graph["nodes"]["mask"] = {"type": "RightHalfMask", "inputs": {}}
    if node == "VAEEncodeForInpaint":
        graph["nodes"]["enc"] = {"type": node, "inputs": {
            "pixels": L("pixels", "image"), "vae": L("ckpt", "vae"), "mask": L("mask", "mask"),
            **inputs}}
        latent, positive, negative = L("enc", "latent"), L("pos", "conditioning"), L("neg", "conditioning")
    else:
        graph["nodes"]["enc"] = {"type": node, "inputs": {
            "positive": L("pos", "conditioning"), "negative": L("neg", "conditioning"),
            "pixels": L("pixels", "image"), "vae": L("ckpt", "vae"), "mask": L("mask", "mask"),
            **inputs}}
        latent, positive, negative = L("enc", "latent"), L("enc", "positive"), L("enc", "negative")
    graph["nodes"]["again"] = {"type": "KSampler", "inputs": {
        "model": L("ckpt", "model"), "positive": positive, "negative": negative,
        "latent": latent, "seed": 5, "steps": 2, "cfg": 4.0, "sampler": "euler",
        "scheduler": "normal"}}
    return graph


def test_vae_encode_for_inpaint(executor):
    graph = inpaint_graph("tiny-sd1.safetensors", "VAEEncodeForInpaint", grow_mask_by=6)
    latent = computed(executor, graph, "enc", "latent")
    # the right half (x >= 16) grown by a 6x6 box padded by 3: from x = 14 on
    assert latent.noise_mask.shape == (1, 1, 32, 32)
    assert latent.noise_mask[0, 0, 0, :].tolist() == [0.0] * 14 + [1.0] * 18
    # the masked half is grey before encoding: the same as encoding that picture
    graph["nodes"].update({
        "solid": {"type": "SolidMask", "inputs": {"value": 0.5, "width": 32, "height": 32}},
        "grey": {"type": "MaskToImage", "inputs": {"mask": L("solid", "mask")}},
        "greyed": {"type": "ImageCompositeMasked", "inputs": {
            "destination": L("pixels", "image"), "source": L("grey", "image"),
            "mask": L("mask", "mask")}},
        "plain": {"type": "VAEEncode", "inputs": {"image": L("greyed", "image"),
                                                  "vae": L("ckpt", "vae")}}})
    plain = computed(executor, graph, "plain", "latent")
    assert torch.allclose(plain.samples, latent.samples, atol=1e-6)
    assert computed(executor, graph, "again", "latent").samples.shape == (1, 4, 16, 16)


@pytest.fixture(scope="module")
def inpaint_model(base):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(tiny_models.CONFIGS["sd1"], "unet",
                      dict(tiny_models.CONFIGS["sd1"]["unet"], in_channels=9))
        return install_tiny(base, "sd1", seed=9, name="tiny-inpainting.safetensors")


def test_inpaint_model_conditioning_feeds_an_inpainting_model(executor, inpaint_model):
    graph = inpaint_graph(inpaint_model, "InpaintModelConditioning", noise_mask=True)
    positive = computed(executor, graph, "enc", "positive")
    [entry] = positive.entries
    assert entry.extra["concat_latent_image"].shape == (1, 4, 16, 16)  # the tiny VAE's factor 2
    assert entry.extra["concat_mask"].shape == (1, 1, 32, 32)
    before = computed(executor, graph, "enc", "latent")
    after = computed(executor, graph, "again", "latent")
    assert after.samples.shape == (1, 4, 16, 16)
    kept = (after.samples - before.samples)[..., :7].abs().max()  # left half: not masked
    assert kept < 1e-4 < (after.samples - before.samples)[..., 9:].abs().max()
    # the same 9-channel model also samples from a plain latent (a mask of ones, blank image)
    plain = txt2img(inpaint_model, steps=2, save=False)
    assert computed(executor, plain, "sample", "latent").samples.shape == (1, 4, 16, 16)


def test_contracts(nodes):
    c, mask = cond(1.0), torch.rand(1, 16, 16)
    latent = LatentBatch(torch.randn(1, 4, 8, 8))
    samples = {
        "ConditioningSetArea": {"conditioning": c},
        "ConditioningSetAreaPercentage": {"conditioning": c},
        "ConditioningSetMask": {"conditioning": c, "mask": mask},
        "ConditioningSetTimestepRange": {"conditioning": c},
        "ConditioningZeroOut": {"conditioning": c},
        "LatentComposite": {"samples_to": latent, "samples_from": latent, "feather": 8},
        "LatentCompositeMasked": {"destination": latent, "source": latent, "mask": mask},
        "LatentBlend": {"samples1": latent, "samples2": latent},
    }
    problems = {name: contract_problems(nodes(name), inputs) for name, inputs in samples.items()}
    assert problems == {name: [] for name in samples}
