"""ComfyUI's latent transforms, RepeatLatentBatch's batch_index, EmptyImage and
ConditioningSetAreaStrength: the exact numbers ComfyUI's nodes give, checked on small tensors
whose answers are written out by hand."""
from __future__ import annotations

import pytest
import torch

from nodeflow.diffusion.latent import LatentBatch

from .conftest import computed, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def fn(name):
    import nodes.sd as sd

    return getattr(sd, name).fn


def grid(h: int, w: int) -> torch.Tensor:
    return torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)


def test_rotate_turns_clockwise_by_quarters():
    latent = LatentBatch(grid(2, 3))  # [[0, 1, 2], [3, 4, 5]]
    rotate = fn("LatentRotate")
    assert torch.equal(rotate(latent, "none").samples, latent.samples)
    assert rotate(latent, "90 degrees").samples[0, 0].tolist() == [[3, 0], [4, 1], [5, 2]]
    assert rotate(latent, "180 degrees").samples[0, 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert rotate(latent, "270 degrees").samples[0, 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    mask = torch.ones(1, 1, 2, 3)
    turned = rotate(LatentBatch(grid(2, 3), noise_mask=mask), "90 degrees")
    assert turned.noise_mask is mask  # ComfyUI keeps the mask as it is


def test_flip_axes():
    latent = LatentBatch(grid(2, 3))
    flip = fn("LatentFlip")
    assert flip(latent, "x-axis: vertically").samples[0, 0].tolist() == [[3, 4, 5], [0, 1, 2]]
    assert flip(latent, "y-axis: horizontally").samples[0, 0].tolist() == [[2, 1, 0],
                                                                           [5, 4, 3]]


def test_crop_rounds_to_latent_pixels_and_keeps_eight():
    crop = fn("LatentCrop")
    latent = LatentBatch(grid(16, 16))
    inside = crop(latent, width=64, height=64, x=20, y=12)  # corner (2, 1) in latent pixels
    assert torch.equal(inside.samples, latent.samples[:, :, 1:9, 2:10])
    cut = crop(latent, width=100, height=64, x=0, y=0)  # 100 // 8 = 12 columns
    assert cut.samples.shape == (1, 1, 8, 12)
    small = LatentBatch(grid(12, 10))  # the corner moves back to keep 8 latent pixels
    moved = crop(small, width=64, height=64, x=72, y=200)
    assert torch.equal(moved.samples, small.samples[:, :, 4:12, 2:10])
    past = crop(small, width=512, height=512, x=0, y=0)  # a box past the edge is cut there
    assert torch.equal(past.samples, small.samples)


def test_repeat_batch_masks_and_batch_index():
    repeat = fn("RepeatLatentBatch")
    samples = torch.randn(2, 4, 3, 3)
    out = repeat(LatentBatch(samples), 3)
    assert torch.equal(out.samples, torch.cat([samples, samples, samples]))
    assert out.batch_index is None
    per_item = torch.rand(2, 1, 3, 3)
    one = torch.rand(1, 1, 3, 3)
    assert torch.equal(repeat(LatentBatch(samples, noise_mask=per_item), 2).noise_mask,
                       torch.cat([per_item, per_item]))
    assert repeat(LatentBatch(samples, noise_mask=one), 2).noise_mask is one
    indexed = repeat(LatentBatch(samples, batch_index=(2, 3)), 3)
    assert indexed.batch_index == (2, 3, 4, 5, 6, 7)
    spread = repeat(LatentBatch(samples, batch_index=(0, 4)), 3)
    assert spread.batch_index == (0, 4, 5, 9, 10, 14)  # offset = max - min + 1 = 5
    # a batch of another size forgets batch_index unless given one
    assert LatentBatch(samples, batch_index=(2, 3)).with_samples(samples[:1]).batch_index is None


def _sampled(executor, *between: tuple[str, dict]) -> LatentBatch:
    """txt2img from a VAE-encoded grey batch of 2, with ``between`` nodes before the sampler
    (an encoded latent has the tiny model's own shape)."""
    data = txt2img(steps=2, save=False)
    data["nodes"]["grey"] = {"type": "EmptyImage", "inputs": {
        "width": 32, "height": 32, "batch_size": 2, "color": 0x808080}}
    data["nodes"]["latent"] = {"type": "VAEEncode", "inputs": {
        "image": L("grey", "image"), "vae": L("ckpt", "vae")}}
    last = "latent"
    for name, inputs in between:
        data["nodes"][name] = {"type": name, "inputs": {"latent": L(last, "latent"), **inputs}}
        last = name
    data["nodes"]["sample"]["inputs"]["latent"] = L(last, "latent")
    return computed(executor, data, "sample", "latent")


def test_items_of_a_batch_keep_their_noise(executor):
    """LatentFromBatch and RepeatLatentBatch give the sampler ComfyUI's batch_index: item 1
    sampled alone is item 1 of the whole batch."""
    full = _sampled(executor).samples
    second = _sampled(executor, ("LatentFromBatch", {"index": 1, "length": 1}))
    assert second.batch_index == (1,)
    assert torch.allclose(second.samples[0], full[1], rtol=1e-4, atol=1e-3)
    assert not torch.allclose(full[0], full[1], rtol=1e-2, atol=1e-1)  # noise makes them differ
    repeated = _sampled(executor, ("LatentFromBatch", {"index": 0, "length": 1}),
                        ("RepeatLatentBatch", {"amount": 2}))
    assert repeated.batch_index == (0, 1)
    assert torch.allclose(repeated.samples, full, rtol=1e-4, atol=1e-3)


def test_items_of_an_empty_latent_stay_empty(executor):
    """Picking or repeating items of an untouched EmptyLatent keeps it empty, so the sampler
    still makes it at the model's own latent size (the tiny model's VAE shrinks by 2, not 8)
    and item 1 alone is item 1 of the whole batch."""
    data = txt2img(steps=2, save=False, batch=2)
    full = computed(executor, data, "sample", "latent").samples
    data["nodes"]["pick"] = {"type": "LatentFromBatch", "inputs": {
        "latent": L("latent", "latent"), "index": 1, "length": 1}}
    data["nodes"]["again"] = {"type": "RepeatLatentBatch", "inputs": {
        "latent": L("pick", "latent"), "amount": 2}}
    data["nodes"]["sample"]["inputs"]["latent"] = L("again", "latent")
    both = computed(executor, data, "sample", "latent")
    assert both.samples.shape[1:] == full.shape[1:] and both.batch_index == (1, 2)
    assert torch.allclose(both.samples[0], full[1], rtol=1e-4, atol=1e-3)


def test_empty_image_colour():
    image = fn("EmptyImage")(width=3, height=2, batch_size=2, color=0xFF8000)
    assert image.shape == (2, 2, 3, 3) and image.dtype == torch.float32
    assert image[1, 1, 2].tolist() == [1.0, torch.tensor(128 / 255).item(), 0.0]
    assert torch.equal(image, image[:1, :1, :1].expand(2, 2, 3, 3))
    assert fn("EmptyImage")(width=1, height=1, batch_size=1, color=0)[0, 0, 0].tolist() == [0, 0, 0]


def test_set_area_strength_changes_only_the_strength():
    from nodeflow.diffusion.conditioning import Conditioning

    cond = Conditioning.single(torch.zeros(1, 77, 8), area=(8, 8, 0, 0), strength=2.0)
    out = fn("ConditioningSetAreaStrength")(cond, strength=0.25)
    assert dict(out.entries[0].extra) == {"area": (8, 8, 0, 0), "strength": 0.25}
    assert out.entries[0].cond is cond.entries[0].cond


def test_bad_choices_name_the_input(executor):
    data = {"nodeflow": 1, "nodes": {
        "latent": {"type": "EmptyLatent", "inputs": {"width": 64, "height": 64}},
        "turn": {"type": "LatentRotate", "inputs": {"latent": L("latent", "latent"),
                                                    "rotation": "45 degrees"}}}}
    from nodeflow.errors import WorkflowError

    with pytest.raises(WorkflowError) as info:
        run(executor, data)
    problem = info.value.problems[0]
    assert (problem.node, problem.input) == ("turn", "rotation")
    assert "45 degrees" in problem.message
