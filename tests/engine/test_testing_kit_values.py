"""The contract kit's run-time checks, each catching a deliberately broken node: an input
changed in place, outputs of the wrong dtype or range, a node that is not a function of its
inputs, an unstable fingerprint. Each finding names the node, the output or input, and what
to change. (The engine's own tests avoid torch; these need it, as image nodes do.)"""
from __future__ import annotations

import time

import pytest
import torch

from nodeflow import Image, Latent, Mask, node
from nodeflow.diffusion.latent import LatentBatch
from nodeflow.settings import Settings
from nodeflow.testing import contract_problems


@pytest.fixture
def settings(tmp_path):
    return Settings(base_dir=tmp_path)


def image():
    return torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(0))


@node(category="test")
def DarkenInPlace(image: Image) -> Image:
    """Halves the image, in place: the bug the kit must catch."""
    return image.mul_(0.5)


@node(category="test")
def Darken(image: Image) -> Image:
    """Halves the image on a copy."""
    return image * 0.5


@node(category="test")
def ShrinkMaskInPlace(latent: Latent) -> Latent:
    """Changes the noise mask of the latent it was given."""
    latent.noise_mask.zero_()
    return latent


@node(category="test")
def BytesImage(image: Image) -> Image:
    """Returns 0..255 uint8 pixels."""
    return (image * 255).to(torch.uint8)


@node(category="test")
def Overexposed(image: Image) -> Image:
    """Returns values above 1."""
    return image * 3


@node(category="test")
def NanMask(image: Image) -> Mask:
    """Returns a mask full of NaN."""
    return torch.full(image.shape[:3], float("nan"))


@node(category="test")
def MeanRatio(image: Image) -> float:
    """Divides by zero for a black image."""
    return float(image.mean() / image.min())


@node(category="test")
def Noisy(image: Image) -> Image:
    """Adds unseeded noise: not a function of its inputs."""
    return (image + torch.rand_like(image) * 0.1).clamp(0, 1)


@node(category="test")
def SeededNoise(image: Image, seed: int = 0) -> Image:
    """Adds noise drawn from a generator seeded by its input: deterministic."""
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed))
    return (image + noise * 0.1).clamp(0, 1)


@node(category="test", always_run=True)
def Camera(image: Image) -> Image:
    """Differs on every run on purpose, and says so."""
    return torch.rand_like(image)


@node(category="test", fingerprint=lambda inputs, settings: time.monotonic_ns())
def ClockFingerprint(x: int = 1) -> int:
    """Its fingerprint changes on every call."""
    return x


class Stamp:
    pass


@node(category="test", fingerprint=lambda inputs, settings: Stamp())
def ObjectFingerprint(x: int = 1) -> int:
    """Its fingerprint is an object whose repr holds its address."""
    return x


def test_an_input_changed_in_place_is_caught(settings):
    [problem] = contract_problems(DarkenInPlace, {"image": image()}, settings)
    assert problem.startswith("DarkenInPlace: input 'image' was changed in place (image "
                              "differs in 192 of 192 values)")
    assert "`x.mul_(0.5)`" in problem and "work on a copy" in problem
    assert contract_problems(Darken, {"image": image()}, settings) == []
    latent = LatentBatch(torch.zeros(1, 4, 2, 2), noise_mask=torch.ones(1, 1, 2, 2))
    [problem] = contract_problems(ShrinkMaskInPlace, {"latent": latent}, settings)
    assert problem.startswith("ShrinkMaskInPlace: input 'latent' was changed in place "
                              "(latent.noise_mask differs in 4 of 4 values)")


def test_output_dtypes_and_ranges_are_checked(settings):
    [problem] = contract_problems(BytesImage, {"image": image()}, settings)
    assert problem == ("BytesImage: output 'image' (IMAGE) is a torch.uint8 tensor; an IMAGE "
                       "is float32 in 0..1 (divide by 255 and convert: `x.float() / 255`)")
    [problem] = contract_problems(Overexposed, {"image": image()}, settings)
    assert problem.startswith("Overexposed: output 'image' (IMAGE) has values from ")
    assert problem.endswith("an IMAGE is 0..1 (clamp with `x.clamp(0, 1)`)")
    [problem] = contract_problems(NanMask, {"image": image()}, settings)
    assert problem == "NanMask: output 'mask' (MASK) holds NaN or infinite values"
    [problem] = contract_problems(MeanRatio, {"image": torch.zeros(1, 2, 2, 3)}, settings)
    assert problem == ("MeanRatio: output 'float' (FLOAT) is NaN; a FLOAT must be a number "
                       "(check for a division by zero)")


def test_a_node_that_is_not_a_function_of_its_inputs_is_caught(settings):
    [problem] = contract_problems(Noisy, {"image": image()}, settings)
    assert problem.startswith("Noisy: output 'image' differs between two runs with the same "
                              "inputs (image differs in ")
    assert "`torch.Generator().manual_seed(seed)`" in problem
    assert "`@node(always_run=True)`" in problem
    assert contract_problems(SeededNoise, {"image": image(), "seed": 3}, settings) == []
    assert contract_problems(Camera, {"image": image()}, settings) == []


def test_unstable_fingerprints_are_caught(settings):
    [problem] = contract_problems(ClockFingerprint, {"x": 1}, settings)
    assert problem.startswith("ClockFingerprint: its fingerprint gave ")
    assert "declare `@node(always_run=True)`" in problem
    [problem] = contract_problems(ObjectFingerprint, {"x": 1}, settings)
    assert problem.startswith("ObjectFingerprint: its fingerprint returned a Stamp, not JSON "
                              "data")


def test_builtin_image_mask_and_latent_nodes_pass_every_check(settings):
    """Every built-in node that runs on sample images, masks and latents alone."""
    from nodeflow import NodeError
    from nodeflow.plugins import load_registry

    registry = load_registry(settings, entry_points=False, custom=False)
    generator = torch.Generator().manual_seed(0)
    make = {"IMAGE": lambda: torch.rand(1, 16, 16, 3, generator=generator),
            "MASK": lambda: torch.rand(1, 16, 16, generator=generator),
            "LATENT": lambda: LatentBatch(torch.randn(1, 4, 2, 2, generator=generator))}
    checked, problems = [], []
    for node_def in registry.nodes.values():
        needed = {n: s for n, s in node_def.inputs.items() if s.required}
        if any(s.socket.type_name not in make or s.is_list for s in needed.values()):
            continue
        samples = {n: make[s.socket.type_name]() for n, s in needed.items()}
        try:
            problems += contract_problems(node_def, samples, settings)
        except NodeError:  # needs a wired graph (Switch): not a contract question
            continue
        checked.append(node_def.type_name)
    assert problems == []
    assert len(checked) >= 40 and {"ImageInvert", "MaskToImage", "LatentUpscale"} <= set(
        checked)
