"""Fixtures for the SD node tests: a user folder holding tiny random-weight checkpoints."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "diffusion"))

import tiny_models  # noqa: E402  (tests/diffusion/tiny_models.py)

from nodeflow import AnyType, Mask, node  # noqa: E402
from nodeflow.engine.executor import Executor  # noqa: E402
from nodeflow.registry import PackInfo  # noqa: E402
from nodeflow.plugins import load_registry  # noqa: E402
from nodeflow.settings import Settings  # noqa: E402
from nodeflow.workflow import parse_workflow  # noqa: E402

FULL_VOCAB = 49408  # the real CLIP tokenizer's ids must fit the tiny text encoders


def install_tiny(base: Path, arch: str = "sd1", layout: str = "single_file", seed: int = 0,
                 name: str | None = None) -> str:
    """Put a tiny checkpoint in ``base``'s checkpoint folder; returns its model name."""
    work = base / "build" / f"{arch}-{layout}-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        for part in ("text_encoder", "text_encoder_2"):
            if part in tiny_models.CONFIGS[arch]:
                patch.setitem(tiny_models.CONFIGS[arch], part,
                              dict(tiny_models.CONFIGS[arch][part], vocab_size=FULL_VOCAB))
        built = tiny_models.make_tiny_checkpoint(work, arch, layout, seed)
        folder = base / "models" / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        if layout == "single_file":
            name = name or built.name
            shutil.copy(built, folder / name)
            configs = folder / (Path(name).stem + ".configs")
            shutil.copytree(tiny_models.tiny_config_root(work), configs, dirs_exist_ok=True)
            for part in ("text_encoder", "text_encoder_2"):
                cfg = configs / arch / part / "config.json"
                if cfg.exists():
                    import json
                    data = json.loads(cfg.read_text())
                    cfg.write_text(json.dumps(dict(data, vocab_size=FULL_VOCAB)))
        else:
            name = name or built.name
            shutil.copytree(built, folder / name)
    return name


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("home")
    install_tiny(base, "sd1", "single_file", name="tiny-sd1.safetensors")
    return base


CAPTURED: dict[str, object] = {}


@node(category="test", output=True, always_run=True)
def Capture(value: AnyType, key: str = "value") -> None:
    """Test-only output node: keeps what it receives in CAPTURED[key]."""
    CAPTURED[key] = value


@node(category="test")
def RightHalfMask(width: int = 32, height: int = 32) -> Mask:
    """Test-only: a mask that repaints the right half of an image."""
    import torch

    mask = torch.zeros((1, height, width))
    mask[:, :, width // 2:] = 1.0
    return mask


@pytest.fixture(scope="module")
def executor(base) -> Executor:
    settings = Settings(base_dir=base)
    registry = load_registry(settings)
    registry.add_nodes([Capture, RightHalfMask], PackInfo("test-nodes", "0", "tests", "custom"))
    return Executor(registry, settings)


def capture(data: dict, node: str, output: str, key: str = "value") -> dict:
    """``data`` with a Capture node reading ``node.output``."""
    nodes = dict(data["nodes"])
    nodes[f"capture-{key}"] = {"type": "Capture", "inputs": {"value": {"node": node,
                                                                     "output": output},
                                                           "key": key}}
    return dict(data, nodes=nodes)


def computed(executor, data: dict, node: str, output: str):
    """What ``node`` outputs on ``output`` when ``data`` runs."""
    result = run(executor, capture(data, node, output))
    assert result.status == "success", result.error
    return CAPTURED.pop("value")


def txt2img(checkpoint: str = "tiny-sd1.safetensors", *, seed: int = 1, steps: int = 3,
            width: int = 32, height: int = 32, sampler: str = "euler", cfg: float = 5.0,
            batch: int = 1, save: bool = True, **sampler_inputs) -> dict:
    """The default graph: checkpoint, two prompts, empty latent, KSampler, decode, save."""
    link = lambda node, out: {"node": node, "output": out}  # noqa: E731
    nodes = {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": checkpoint}},
        "pos": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"),
                                                 "text": "a red handwritten digit seven"}},
        "neg": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": ""}},
        "latent": {"type": "EmptyLatent", "inputs": {"width": width, "height": height,
                                                     "batch_size": batch}},
        "sample": {"type": "KSampler", "inputs": {
            "model": link("ckpt", "model"), "positive": link("pos", "conditioning"),
            "negative": link("neg", "conditioning"), "latent": link("latent", "latent"),
            "seed": seed, "steps": steps, "cfg": cfg, "sampler": sampler,
            "scheduler": "normal", **sampler_inputs}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("sample", "latent"),
                                                   "vae": link("ckpt", "vae")}},
    }
    if save:
        nodes["save"] = {"type": "SaveImage", "inputs": {"images": link("decode", "image"),
                                                         "prefix": "test"}}
    return {"nodeflow": 1, "name": "txt2img", "nodes": nodes}


def run(executor, data: dict, **kwargs):
    return executor.run(parse_workflow(data), **kwargs)
