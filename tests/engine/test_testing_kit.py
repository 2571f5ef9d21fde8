"""The contract test kit (nodeflow.testing), on toy nodes and on the built-in core pack."""
from __future__ import annotations

from nodeflow import Field, Image, node
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings
from nodeflow.testing import NodeContract, contract_problems, pack_problems, static_problems

from . import toy_nodes


class TestAddFollowsTheContract(NodeContract):
    node = toy_nodes.Add
    sample_inputs = {"a": 2}


class TestShowFollowsTheContract(NodeContract):
    node = toy_nodes.Show
    sample_inputs = {"value": 3}


def test_kit_catches_a_wrong_output_type(tmp_path):
    problems = contract_problems(toy_nodes.BadOutput, {"x": 1}, Settings(base_dir=tmp_path))
    assert problems == ["BadOutput: its outputs do not match its declaration: BadOutput "
                        "output 'int' should be INT: got str"]


@node(category="test")
def NotAnImage(size: int = 4) -> Image:
    """Claims IMAGE, returns a list."""
    return [[0.0] * size]


@node(category="", version="1.0.0")
def Undocumented(x: int = Field(3, ge=0)) -> int:
    return x


@node(category="test")
def IgnoresItsInput(x: int = 1) -> int:
    """Returns a constant."""
    return 0


def test_kit_catches_socket_shapes_metadata_and_keys(tmp_path):
    settings = Settings(base_dir=tmp_path)
    assert "should be IMAGE: got list, not a tensor" in contract_problems(
        NotAnImage, {"size": 2}, settings)[0]
    assert static_problems(Undocumented) == [  # the parts; contract_problems names the node
        "it has no category", "it has no description (give the function a docstring)"]
    assert contract_problems(IgnoresItsInput, {"x": 1}, settings) == []


def test_builtin_core_pack_passes(tmp_path):
    settings = Settings(base_dir=tmp_path)
    registry = load_registry(settings, entry_points=False, custom=False)
    core = [n for n in registry.nodes.values() if n.pack == "core"]
    samples = {"ShowValue": {"value": "hi"}}
    assert pack_problems(core, samples, settings) == []


def test_every_builtin_node_declaration_passes(tmp_path):
    registry = load_registry(Settings(base_dir=tmp_path), entry_points=False, custom=False)
    problems = [f"{n.type_name}: {p}" for n in registry.nodes.values() for p in static_problems(n)]
    assert problems == []
