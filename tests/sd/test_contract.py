"""The built-in SD pack through the contract kit: every declaration, and every node that runs
without a model on sample tensors (the model nodes run end to end in the other tests)."""
from __future__ import annotations

import torch

from nodeflow.diffusion.latent import LatentBatch
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings
from nodeflow.testing import contract_problems, static_problems


def test_sd_pack_contract(tmp_path):
    settings = Settings(base_dir=tmp_path)
    registry = load_registry(settings, entry_points=False, custom=False)
    sd = {n.type_name: n for n in registry.nodes.values() if n.pack == "sd"}
    latent = LatentBatch(torch.randn(2, 4, 4, 4))
    image = torch.rand(2, 32, 32, 3)
    samples = {
        "EmptyLatent": {"width": 64, "height": 32},
        "LatentUpscale": {"latent": latent, "width": 64, "height": 64},
        "LatentUpscaleBy": {"latent": latent},
        "LatentInterpolate": {"a": latent, "b": LatentBatch(torch.randn(2, 4, 4, 4))},
        "LatentSweep": {"a": latent, "b": latent, "frames": 3},
        "LatentBatchJoin": {"a": latent, "b": latent},
        "LatentFromBatch": {"latent": latent, "index": 1},
        "SetLatentNoiseMask": {"latent": latent, "mask": torch.ones(1, 32, 32)},
        "SaveImage": {"images": image},
        "PreviewImage": {"images": image},
        "SaveAnimation": {"images": image},
        "ImageFidelity": {"reference": image, "image": image},
    }
    problems = []
    for name, node_def in sd.items():
        problems += (contract_problems(node_def, samples[name], settings) if name in samples
                     else [f"{name}: {p}" for p in static_problems(node_def)])
    assert problems == []
    assert len(list((tmp_path / "output").glob("*.png"))) == 2


def test_mask_nodes():
    from nodeflow.testing import contract_problems

    registry = load_registry(None, entry_points=False, custom=False)
    image = torch.zeros(1, 4, 4, 3)
    image[..., 0] = 1.0
    assert torch.equal(registry.get("ImageToMask").fn(image, "red"), torch.ones(1, 4, 4))
    solid = registry.get("SolidMask").fn(0.0, 8, 6)
    assert solid.shape == (1, 6, 8) and solid.sum() == 0
    square = registry.get("MaskComposite").fn(solid, torch.ones(1, 2, 3), 6, 4, "add")
    assert square.sum() == 4  # 3x2 placed at (6, 4) is cut to 2x2 by the 8x6 destination
    assert square[0, 4, 6] == 1 and square[0, 0, 0] == 0
    xor = registry.get("MaskComposite").fn(square, torch.ones(1, 6, 8), 0, 0, "xor")
    assert xor.sum() == 44
    for name, samples in {"ImageToMask": {"image": image}, "SolidMask": {},
                          "MaskComposite": {"destination": solid, "source": solid}}.items():
        assert contract_problems(registry.get(name), samples) == []
