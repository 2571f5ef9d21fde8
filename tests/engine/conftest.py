from __future__ import annotations

import pytest

from nodeflow.engine.executor import Executor
from nodeflow.registry import PackInfo, Registry
from nodeflow.settings import Settings
from nodeflow.workflow import parse_workflow

from . import toy_nodes


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    return reg


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(base_dir=tmp_path)


@pytest.fixture
def executor(registry, settings) -> Executor:
    return Executor(registry, settings)


@pytest.fixture(autouse=True)
def calls():
    toy_nodes.CALLS.clear()
    yield toy_nodes.CALLS
    toy_nodes.CALLS.clear()


def wf(nodes: dict, **top):
    return parse_workflow({"nodeflow": 1, **top, "nodes": nodes})


def link(node: str, output: str) -> dict:
    return {"node": node, "output": output}
