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
    }
    problems = []
    for name, node_def in sd.items():
        found = (contract_problems(node_def, samples[name], settings) if name in samples
                 else static_problems(node_def))
        problems += [f"{name}: {p}" for p in found]
    assert problems == []
    assert len(list((tmp_path / "output").glob("*.png"))) == 2
