"""Bypass and mute (ComfyUI's modes 4 and 2): saved on the node, honoured by validation and
the executor."""
from __future__ import annotations

import pytest

from nodeflow.errors import WorkflowError
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from .conftest import link, wf


def adder(mode=None, **more):
    nodes = {
        "c": {"type": "Const", "inputs": {"value": 3}},
        "add": {"type": "Add", "inputs": {"a": link("c", "int"), "b": 4}},
        "show": {"type": "Show", "inputs": {"value": link("add", "int")}},
        **more,
    }
    if mode:
        nodes["add"]["mode"] = mode
    return wf(nodes)


def test_a_bypassed_node_passes_its_first_input_of_the_same_type_on(executor, calls):
    result = executor.run(adder("bypass"))
    assert result.status == "success"
    assert result.outputs == {"show": {"text": ["3"]}}
    assert calls == ["Const", "Show"]


def test_bypassed_nodes_in_a_row_are_followed_back(executor, calls):
    doc = wf({
        "c": {"type": "Const", "inputs": {"value": 5}},
        "one": {"type": "Add", "inputs": {"a": link("c", "int"), "b": 1}, "mode": "bypass"},
        "two": {"type": "Add", "inputs": {"a": link("one", "int"), "b": 1}, "mode": "bypass"},
        "show": {"type": "Show", "inputs": {"value": link("two", "int")}},
    })
    assert executor.run(doc).outputs == {"show": {"text": ["5"]}}
    assert calls == ["Const", "Show"]


def test_a_muted_output_node_does_not_run_and_the_others_do(executor, calls):
    doc = adder(other={"type": "Show", "inputs": {"value": link("c", "int")}, "mode": "mute"})
    result = executor.run(doc)
    assert result.outputs == {"show": {"text": ["7"]}}
    assert "other" not in result.executed


def test_an_input_fed_by_a_muted_node_names_both_nodes(registry, executor):
    doc = adder("mute")
    problems = validate(doc, registry)
    assert [(p.node, p.input, p.kind) for p in problems] == [("show", "value", "inactive_input")]
    assert "'add', which is muted" in problems[0].message
    with pytest.raises(WorkflowError):
        executor.run(doc)


def test_bypass_with_nothing_of_that_type_to_pass_on_is_a_problem(registry):
    doc = wf({
        "c": {"type": "Const", "inputs": {"value": 5}},
        "split": {"type": "Split", "inputs": {"value": link("c", "int")}, "mode": "bypass"},
        "show": {"type": "Show", "inputs": {"value": link("split", "label")}},
        "num": {"type": "Show", "inputs": {"value": link("split", "number")}},
    })
    problems = validate(doc, registry)
    assert [(p.node, p.input) for p in problems] == [("show", "value")]
    assert "bypassed and has no linked input of type" in problems[0].message


def test_a_muted_node_that_nothing_needs_is_fine(registry, executor):
    doc = adder(spare={"type": "Pick", "mode": "mute"})
    assert validate(doc, registry) == []
    assert executor.run(doc).status == "success"


def test_modes_round_trip_and_unknown_modes_are_refused():
    text = dump_workflow(adder("bypass"))
    assert '"mode": "bypass"' in text
    assert dump_workflow(parse_workflow(text)) == text
    with pytest.raises(WorkflowError, match="mode"):
        parse_workflow({"nodeflow": 1, "nodes": {"x": {"type": "Const", "mode": "never"}}})


def test_unmuting_reuses_the_cache(executor, calls):
    executor.run(adder())
    calls.clear()
    assert executor.run(adder("bypass")).executed == ["show"]  # shows 3: Const was cached
    assert executor.run(adder()).executed == []  # back as it was: all from the cache
    assert calls == ["Show"]
