"""The built-in flow pack (lists, Switch, If, Block, Repeat) through the contract kit and
through the executor on toy nodes; its image nodes are tested in tests/tiny."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from nodeflow.engine.executor import Executor
from nodeflow.plugins import shipped_dir
from nodeflow.registry import PackInfo, Registry
from nodeflow.testing import contract_problems, run_node

from . import toy_flow, toy_nodes
from .conftest import link, wf


def _flow_pack():
    path = shipped_dir("nodes") / "flow" / "__init__.py"
    spec = importlib.util.spec_from_file_location("flow_pack_under_test", path,
                                                  submodule_search_locations=[str(path.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FLOW = _flow_pack()


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    reg.add_module(toy_flow, PackInfo("toyflow", "1.0.0", "tests", "custom"))
    reg.add_module(FLOW, PackInfo("flow", "1.0.0", "nodes", "builtin"))
    return reg


@pytest.fixture
def executor(registry, settings) -> Executor:
    return Executor(registry, settings)


@pytest.mark.parametrize("name, samples", [
    ("PromptList", {}), ("IntRange", {}), ("FloatRange", {}), ("SeedList", {}),
    ("XYProduct", {"x": [1, 2], "y": ["a"]}), ("Switch", {"input0": 5}),
    ("If", {"condition": True, "if_true": 1, "if_false": 2}), ("Block", {"value": 1}),
    ("Repeat", {"value": 1, "times": 0}),
])
def test_contract(name, samples, settings):
    assert contract_problems(getattr(FLOW, name), samples, settings) == []


def test_list_sources():
    assert run_node(FLOW.PromptList, {"text": " a \n\n b\n"})[0] == {"string": ["a", "b"]}
    assert run_node(FLOW.IntRange, {"start": 3, "count": 3, "step": -2})[0] == {
        "int": [3, 1, -1]}
    assert run_node(FLOW.FloatRange, {"start": 0.0, "stop": 1.0, "count": 3})[0] == {
        "float": [0.0, 0.5, 1.0]}
    assert run_node(FLOW.SeedList, {"seed": 7, "count": 2})[0] == {"int": [7, 8]}
    assert run_node(FLOW.XYProduct, {"x": [1, 2, 3], "y": ["a", "b"]})[0] == {
        "x": [1, 2, 3, 1, 2, 3], "y": ["a", "a", "a", "b", "b", "b"]}


def test_repeat_expands_into_a_chain(executor, calls):
    result = executor.run(wf({
        "c": {"type": "Const", "inputs": {"value": 1}},
        "rep": {"type": "Repeat", "inputs": {"value": link("c", "int"), "node_type": "Add",
                                             "input": "a", "output": "int", "times": 3,
                                             "inputs": '{"b": 10}'}},
        "show": {"type": "Show", "inputs": {"value": link("rep", "value")}},
    }))
    assert result.status == "success", result.error
    assert result.outputs["show"] == {"text": ["31"]}
    assert calls.count("Add") == 3


def test_repeat_reports_a_bad_step_by_name(executor):
    result = executor.run(wf({
        "c": {"type": "Const"},
        "rep": {"type": "Repeat", "inputs": {"value": link("c", "int"), "node_type": "Nope",
                                             "input": "x", "output": "int"}},
        "show": {"type": "Show", "inputs": {"value": link("rep", "value")}},
    }))
    assert result.status == "error" and result.error["node"] == "rep"
    assert "unknown type 'Nope'" in result.error["message"]


@pytest.mark.parametrize("index, expected", [(0, 100), (1, 200)])
def test_switch_runs_only_the_selected_branch(executor, index, expected):
    toy_flow.CALLS.clear()
    result = executor.run(wf({
        "a": {"type": "Numbers", "inputs": {"start": 100, "count": 1}},
        "b": {"type": "Numbers", "inputs": {"start": 200, "count": 1}},
        "sw": {"type": "Switch", "inputs": {"index": index, "input0": link("a", "int"),
                                            "input1": link("b", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("sw", "value")}},
    }))
    assert result.outputs["out"]["values"] == [expected]
    assert [v for k, v in toy_flow.CALLS if k == "Numbers"] == [expected]


def test_switch_to_an_empty_input_names_it(executor):
    result = executor.run(wf({
        "a": {"type": "Const"},
        "sw": {"type": "Switch", "inputs": {"index": 2, "input0": link("a", "int")}},
        "out": {"type": "Show", "inputs": {"value": link("sw", "value")}},
    }))
    assert result.status == "error" and result.error["input"] == "input2"


@pytest.mark.parametrize("condition", [True, False])
def test_if_runs_one_branch(executor, condition, calls):
    result = executor.run(wf({
        "t": {"type": "Const", "inputs": {"value": 1}},
        "f": {"type": "Clock"},
        "if": {"type": "If", "inputs": {"condition": condition, "if_true": link("t", "int"),
                                        "if_false": link("f", "int")}},
        "out": {"type": "Show", "inputs": {"value": link("if", "value")}},
    }))
    assert result.status == "success"
    assert ("Clock" in calls) is (not condition)
    assert ("Const" in calls) is condition
