"""Fixtures for the sharing tests: a user folder where "nodeflow-tiny" resolves (the built-in
model once it ships, until then a tiny random-weight stand-in of the same name), its registry
and an executor."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nodeflow.executor import Executor
from nodeflow.paths import shipped_dir
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings

load_registry()  # imports the built-in packs, so their modules can be patched below

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = sorted((ROOT / "workflows").glob("*.json"))
BUILTIN_MODEL = "nodeflow-tiny"


def builtin_model_ships() -> bool:
    return (shipped_dir("models") / BUILTIN_MODEL / "model_index.json").is_file()


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("home")
    if builtin_model_ships():
        yield base
        return
    from tests.sd.conftest import install_tiny

    install_tiny(base, "sd1", "diffusers", name=BUILTIN_MODEL)
    with pytest.MonkeyPatch.context() as patch:
        # models/nodeflow-tiny/ may exist before its weights do (being trained); the loader
        # would take the empty folder over the stand-in in the user's checkpoints folder
        for module in [m for name, m in sys.modules.items()
                       if name.endswith("_sd.loaders") and hasattr(m, "_builtin_path")]:
            patch.setattr(module, "_builtin_path", lambda: None)
        yield base


@pytest.fixture(scope="session")
def settings(home) -> Settings:
    return Settings(base_dir=home)


@pytest.fixture(scope="session")
def registry(settings):
    return load_registry(settings)


@pytest.fixture(scope="session")
def executor(registry, settings) -> Executor:
    return Executor(registry, settings)
