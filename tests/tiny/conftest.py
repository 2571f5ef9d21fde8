"""Fixtures for the nodeflow-tiny tests: an executor over a fresh user folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nodeflow.engine.executor import Executor  # noqa: E402
from nodeflow.plugins import load_registry  # noqa: E402
from nodeflow.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def executor(base) -> Executor:
    settings = Settings(base_dir=base)
    return Executor(load_registry(settings), settings)
