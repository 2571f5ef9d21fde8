"""Fixtures for the sharing tests: a fresh user folder (where "nodeflow-tiny" is the built-in
model), its registry and an executor."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nodeflow.engine.executor import Executor
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = sorted((ROOT / "workflows").glob("*.json"))
@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def settings(home) -> Settings:
    return Settings(base_dir=home)


@pytest.fixture(scope="session")
def registry(settings):
    return load_registry(settings)


@pytest.fixture(scope="session")
def executor(registry, settings) -> Executor:
    return Executor(registry, settings)
