"""Growing input families (``**value: int``: value_1, value_2, ...): declaration, schema,
validation and execution, with tiny nodes (no torch)."""
from __future__ import annotations

from typing import Annotated

import pytest

from nodeflow import Field, node
from nodeflow.errors import DeclarationError, WorkflowError
from nodeflow.registry import PackInfo, Registry

from . import toy_nodes
from .conftest import link, wf


@node(category="test")
def Join(separator: str = ",", **value: int) -> str:
    """Joins every connected value_N, in order."""
    return separator.join(f"{name}={v}" for name, v in value.items())


@node(category="test")
def Pair(**side: Annotated[int, Field(min_items=2, max_items=3, tooltip="a side")]) -> int:
    """Needs two sides, takes three at most."""
    return sum(side.values())


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    reg.add_nodes([Join, Pair], PackInfo("families", "1.0.0", "tests", "custom"))
    return reg


def consts(*values: int) -> dict:
    return {f"c{i}": {"type": "Const", "inputs": {"value": v}} for i, v in enumerate(values)}


def test_schema_declares_the_family():
    assert Join.schema()["families"] == [{"name": "value", "type": "INT", "min": 1, "max": 50}]
    assert Pair.schema()["families"] == [{"name": "side", "type": "INT", "min": 2, "max": 3,
                                          "tooltip": "a side"}]
    assert [i["name"] for i in Join.schema()["inputs"]] == ["separator"]


def test_members_run_in_number_order_with_gaps(executor):
    nodes = {**consts(5, 6, 7),
             "j": {"type": "Join", "inputs": {"value_3": link("c2", "int"),
                                              "value_1": link("c0", "int"),
                                              "value_10": link("c1", "int")}},
             "show": {"type": "Show", "inputs": {"value": link("j", "string")}}}
    result = executor.run(wf(nodes))
    assert result.status == "success", result.error
    assert result.outputs["show"]["text"] == ["'value_1=5,value_3=7,value_10=6'"]


def test_members_are_part_of_the_cache_key(executor):
    nodes = {**consts(5, 6),
             "j": {"type": "Join", "inputs": {"value_1": link("c0", "int")}},
             "show": {"type": "Show", "inputs": {"value": link("j", "string")}}}
    assert executor.run(wf(nodes)).outputs["show"]["text"] == ["'value_1=5'"]
    nodes["j"]["inputs"]["value_2"] = link("c1", "int")
    assert executor.run(wf(nodes)).outputs["show"]["text"] == ["'value_1=5,value_2=6'"]


def test_validation_of_members(executor):
    nodes = {**consts(1),
             "p": {"type": "Pair", "inputs": {"side_1": link("c0", "int"),
                                              "side_4": link("c0", "int")}},
             "j": {"type": "Join", "inputs": {"value_1": "x", "value_2": link("c0", "int")}},
             "s": {"type": "Sink", "inputs": {"x": link("p", "int")}}}
    with pytest.raises(WorkflowError) as raised:
        executor.run(wf(nodes))
    found = {(p.node, p.input, p.message) for p in raised.value.problems}
    assert found == {
        ("p", "side_4", "unknown input (Pair has inputs: side_1..side_3)"),
        ("p", "side_2", "needs at least 2 of side_1, side_2, ... connected (has 1; type INT)"),
        ("j", "value_1", "expected an integer (INT), got 'x'"),
    }


def test_declaration_errors():
    with pytest.raises(DeclarationError, match=r"\*\*value needs a socket type annotation"):
        @node(category="test")
        def Bare(**value) -> int:
            return 0
    with pytest.raises(DeclarationError, match="clashes with the input family"):
        @node(category="test")
        def Clash(value_1: int = 0, **value: int) -> int:
            return 0
    with pytest.raises(DeclarationError, match="min_items 3 and max_items 2"):
        @node(category="test")
        def Bounds(**v: Annotated[int, Field(min_items=3, max_items=2)]) -> int:
            return 0


def test_comfyui_shape_lists_the_members_to_connect_and_one_more():
    from nodeflow.server.object_info import node_info

    info = node_info(Pair.schema(), "families")
    assert info["input"]["required"] == {"side_1": ["INT", {}], "side_2": ["INT", {}]}
    assert info["input"]["optional"] == {"side_3": ["INT", {}]}
    assert node_info(Join.schema(), "families")["input"]["optional"] == {
        "value_2": ["INT", {}]}
