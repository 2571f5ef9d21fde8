"""Subgraphs in the file and as components: flattening, caching across the boundary, errors."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from nodeflow.engine.components import add_components
from nodeflow.errors import WorkflowError
from nodeflow.engine.executor import Executor
from nodeflow.registry import PackInfo, Registry
from nodeflow.engine.subgraphs import flatten
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from . import toy_flow, toy_nodes
from .conftest import link

ADD_SCALE = {
    "description": "(a + b) * factor",
    "inputs": {"a": {"type": "INT"}, "b": {"type": "INT", "default": 0},
               "factor": {"type": "FLOAT", "default": 2.0}},
    "outputs": {"result": link("scale", "float"), "sum": link("add", "int")},
    "nodes": {
        "add": {"type": "Add", "inputs": {"a": link("@inputs", "a"), "b": link("@inputs", "b")}},
        "scale": {"type": "Scale", "inputs": {"x": link("add", "int"),
                                              "factor": link("@inputs", "factor")}},
    },
}


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    reg.add_module(toy_flow, PackInfo("toyflow", "1.0.0", "tests", "custom"))
    return reg


def doc(nodes, subgraphs=None):
    data = {"nodeflow": 1, "nodes": nodes}
    if subgraphs is not None:
        data["subgraphs"] = subgraphs
    return parse_workflow(data)


def uses(a=3, b=None, factor=None):
    inputs = {"a": link("c", "int")}
    if b is not None:
        inputs["b"] = b
    if factor is not None:
        inputs["factor"] = factor
    return {"c": {"type": "Const", "inputs": {"value": a}},
            "sub": {"type": "Add and scale", "inputs": inputs},
            "show": {"type": "Show", "inputs": {"value": link("sub", "result")}},
            "show2": {"type": "Show", "inputs": {"value": link("sub", "sum")}}}


def test_a_subgraph_runs_as_its_nodes_with_namespaced_ids(executor, calls):
    result = executor.run(doc(uses(a=3, b=4), {"Add and scale": ADD_SCALE}))
    assert result.status == "success", result.error
    assert result.outputs["show"] == {"text": ["14.0"]} and result.outputs["show2"] == {
        "text": ["7"]}
    assert result.executed == ["c", "sub/add", "sub/scale", "show", "show2"]


def test_defaults_of_subgraph_inputs_apply(executor):
    result = executor.run(doc(uses(a=3), {"Add and scale": ADD_SCALE}))
    assert result.outputs["show"] == {"text": ["6.0"]}


def test_events_name_the_inner_node_and_the_node_the_user_sees(executor):
    events = []
    executor.run(doc(uses(), {"Add and scale": ADD_SCALE}), listener=events.append)
    started = {e.node: e.data.get("display_node") for e in events if e.kind == "node_started"}
    assert started["sub/add"] == "sub" and started["c"] is None


def test_cache_works_across_the_boundary_and_across_workflows(executor, calls):
    executor.run(doc(uses(a=3, b=4), {"Add and scale": ADD_SCALE}))
    calls.clear()
    # the same computation written out flat in another workflow: nothing runs but Show
    flat = doc({"k": {"type": "Const", "inputs": {"value": 3}},
                "x": {"type": "Add", "inputs": {"a": link("k", "int"), "b": 4}},
                "y": {"type": "Scale", "inputs": {"x": link("x", "int"), "factor": 2.0}},
                "s": {"type": "Show", "inputs": {"value": link("y", "float")}}})
    result = executor.run(flat)
    assert calls == [] and result.outputs["s"] == {"text": ["14.0"]}
    calls.clear()
    # a change inside re-runs only what changed
    changed = json.loads(json.dumps(ADD_SCALE))
    changed["nodes"]["scale"]["inputs"]["factor"] = 3.0
    executor.run(doc(uses(a=3, b=4), {"Add and scale": changed}))
    assert calls == ["Scale", "Show"]


def test_nested_subgraphs(executor):
    outer = {"inputs": {"n": {"type": "INT"}},
             "outputs": {"out": link("inner", "result")},
             "nodes": {"inner": {"type": "Add and scale",
                                 "inputs": {"a": link("@inputs", "n"), "b": 1}}}}
    result = executor.run(doc({
        "c": {"type": "Const", "inputs": {"value": 2}},
        "o": {"type": "Outer", "inputs": {"n": link("c", "int")}},
        "show": {"type": "Show", "inputs": {"value": link("o", "out")}},
    }, {"Add and scale": ADD_SCALE, "Outer": outer}))
    assert result.outputs["show"] == {"text": ["6.0"]}
    assert "o/inner/add" in result.executed


def test_a_subgraph_that_contains_itself_is_a_validation_error(registry):
    loop_a = {"inputs": {}, "outputs": {}, "nodes": {"x": {"type": "B"}}}
    loop_b = {"inputs": {}, "outputs": {}, "nodes": {"y": {"type": "A"}}}
    problems = validate(doc({"top": {"type": "A"},
                             "show": {"type": "Sink", "inputs": {"x": 1}}},
                            {"A": loop_a, "B": loop_b}), registry)
    [problem] = [p for p in problems if p.kind == "cycle"]
    assert problem.node == "top/x/y" and "A -> B -> A" in problem.message


def test_subgraph_interface_errors_name_the_node_and_input(registry):
    problems = validate(doc({
        "c": {"type": "Pick"},
        "sub": {"type": "Add and scale", "inputs": {"b": 1, "bogus": 2, "a": link("c", "string")}},
        "show": {"type": "Show", "inputs": {"value": link("sub", "nope")}},
    }, {"Add and scale": ADD_SCALE}), registry)
    found = {(p.node, p.input, p.kind) for p in problems}
    assert ("sub", "bogus", "unknown_input") in found
    assert ("sub", "a", "type_mismatch") in found
    assert ("show", "value", "missing_output") in found
    problems = validate(doc({"sub": {"type": "Add and scale"},
                             "show": {"type": "Show", "inputs": {"value": link("sub", "sum")}}},
                            {"Add and scale": ADD_SCALE}), registry)
    assert [(p.node, p.input, p.kind) for p in problems] == [("sub", "a", "missing_input")]


def test_errors_inside_a_subgraph_name_the_path(registry):
    bad = json.loads(json.dumps(ADD_SCALE))
    bad["nodes"]["scale"]["inputs"]["factor"] = 99.0
    problems = validate(doc(uses(), {"Add and scale": bad}), registry)
    assert [(p.node, p.input, p.kind) for p in problems] == [("sub/scale", "factor", "above_max")]


def test_a_file_with_subgraphs_round_trips():
    workflow = doc(uses(), {"Add and scale": ADD_SCALE})
    text = dump_workflow(workflow)
    assert parse_workflow(text) == workflow and dump_workflow(parse_workflow(text)) == text


# -- components ----------------------------------------------------------------------------

def write_component(folder, name, version, body=ADD_SCALE, file=None):
    folder.mkdir(exist_ok=True)
    data = {"nodeflow": 1, "component": name, "version": version, **body}
    (folder / (file or f"{name}-{version}.json")).write_text(json.dumps(data))


def test_components_are_node_types_used_by_name_and_version(registry, settings, calls, tmp_path):
    folder = tmp_path / "components"
    write_component(folder, "Add and scale", "1.0.0")
    newer = json.loads(json.dumps(ADD_SCALE))
    newer["inputs"]["factor"]["default"] = 10.0
    write_component(folder, "Add and scale", "1.1.0", newer)
    add_components(registry, folder)
    node_def = registry.get("Add and scale")
    assert node_def.version == "1.1.0" and node_def.pack == "components"
    schema = node_def.schema()
    assert schema["component"] is True
    assert [o["type"] for o in schema["outputs"]] == ["FLOAT", "INT"]
    executor = Executor(registry, settings)
    assert executor.run(doc(uses(a=1))).outputs["show"] == {"text": ["10.0"]}
    pinned = uses(a=1)
    pinned["sub"]["version"] = "1.0.0"
    assert executor.run(doc(pinned)).outputs["show"] == {"text": ["2.0"]}
    pinned["sub"]["version"] = "2.0.0"
    with pytest.raises(WorkflowError) as caught:
        executor.run(doc(pinned))
    [problem] = caught.value.problems
    assert problem.node == "sub" and "version 2.0.0 is not installed" in problem.message
    assert "1.0.0, 1.1.0" in problem.message


def test_a_component_that_uses_itself_through_another_is_an_error(registry, tmp_path):
    folder = tmp_path / "components"
    write_component(folder, "Ping", "1.0.0", {"nodes": {"p": {"type": "Pong"}}})
    write_component(folder, "Pong", "1.0.0", {"nodes": {"p": {"type": "Ping"}}})
    add_components(registry, folder)
    problems = validate(doc({"x": {"type": "Ping"}, "s": {"type": "Sink", "inputs": {"x": 1}}}),
                        registry)
    assert [(p.node, p.kind) for p in problems] == [("x/p/p", "cycle")]
    assert "Ping -> Pong -> Ping" in problems[0].message


def test_a_bad_component_file_is_reported_not_fatal(registry, tmp_path):
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "broken.json").write_text("{nope")
    write_component(folder, "Fine", "1.0.0")
    write_component(folder, "Fine", "1.0.0", file="copy.json")
    add_components(registry, folder)
    assert "Fine" in registry.nodes
    reasons = [f.reason for f in registry.failures]
    assert any("cannot read" in r for r in reasons) and any("defined twice" in r for r in reasons)


def test_a_missing_component_is_an_unknown_type(registry):
    problems = validate(doc({"x": {"type": "Not installed"},
                             "s": {"type": "Sink", "inputs": {"x": 1}}}), registry)
    assert [(p.node, p.kind) for p in problems] == [("x", "unknown_type")]


# -- the algebra: a subgraph runs the same as its nodes written out by hand -------------------

@hsettings(max_examples=40, deadline=None)
@given(a=st.integers(0, 50), b=st.integers(0, 50), factor=st.floats(0, 10, allow_nan=False),
       depth=st.integers(1, 3), give_b=st.booleans())
def test_a_subgraph_runs_the_same_as_its_nodes_written_out(a, b, factor, depth, give_b):
    registry = Registry()
    registry.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    subgraphs = {"L0": ADD_SCALE}
    for level in range(1, depth):
        subgraphs[f"L{level}"] = {
            "inputs": {"a": {"type": "INT"}, "b": {"type": "INT", "default": 0},
                       "factor": {"type": "FLOAT", "default": 2.0}},
            "outputs": {"result": link("in", "result"), "sum": link("in", "sum")},
            "nodes": {"in": {"type": f"L{level - 1}",
                             "inputs": {"a": link("@inputs", "a"), "b": link("@inputs", "b"),
                                        "factor": link("@inputs", "factor")}}}}
    inputs = {"a": link("c", "int"), "factor": factor}
    if give_b:
        inputs["b"] = b
    nodes = {"c": {"type": "Const", "inputs": {"value": a}},
             "sub": {"type": f"L{depth - 1}", "inputs": inputs},
             "show": {"type": "Show", "inputs": {"value": link("sub", "result")}}}
    with_subgraph = doc(nodes, subgraphs)
    by_hand = doc({"c": {"type": "Const", "inputs": {"value": a}},
                   "add": {"type": "Add", "inputs": {"a": link("c", "int"),
                                                     "b": b if give_b else 0}},
                   "scale": {"type": "Scale", "inputs": {"x": link("add", "int"),
                                                         "factor": factor}},
                   "show": {"type": "Show", "inputs": {"value": link("scale", "float")}}})
    flat = flatten(with_subgraph, registry).workflow
    assert len(flat.nodes) == 4
    first = Executor(registry).run(with_subgraph)
    second = Executor(registry).run(by_hand)
    assert first.outputs["show"] == second.outputs["show"]
    # and they are the same computations: one run's cache serves the other
    shared = Executor(registry)
    shared.run(by_hand)
    assert shared.run(with_subgraph).executed == []


def test_nodes_inside_subgraphs_are_migrated_on_load(registry):
    from nodeflow.migrations import upgrade_workflow

    workflow = doc({"s": {"type": "Blurry", "inputs": {"image": 1}},
                    "show": {"type": "Show", "inputs": {"value": link("s", "image")}}},
                   {"Blurry": {"inputs": {"image": {"type": "*"}},
                               "outputs": {"image": link("b", "value")},
                               "nodes": {"b": {"type": "Blur", "version": "1.0.0",
                                               "inputs": {"image": link("@inputs", "image"),
                                                          "size": 3.0}}}}})
    upgraded, notes = upgrade_workflow(workflow, registry)
    inner = upgraded.subgraphs["Blurry"].nodes["b"]
    assert inner.version == "2.0.0" and inner.inputs["radius"] == 3.0
    assert notes == ["subgraph 'Blurry', node 'b': Blur upgraded from 1.0.0 to 2.0.0"]


def test_a_bypassed_or_muted_subgraph_node_passes_its_mode_to_the_nodes_inside(executor, calls):
    nodes = uses(a=3, b=4)
    del nodes["show2"]
    nodes["sub"]["mode"] = "bypass"
    result = executor.run(doc(nodes, {"Add and scale": ADD_SCALE}))
    assert result.status == "success" and result.outputs["show"] == {"text": ["3"]}
    assert "Add" not in calls and "Scale" not in calls
    nodes["sub"]["mode"] = "mute"
    with pytest.raises(WorkflowError) as caught:
        executor.run(doc(nodes, {"Add and scale": ADD_SCALE}))
    assert [(p.node, p.input, p.kind) for p in caught.value.problems] == [
        ("show", "value", "inactive_input")]
    inner = json.loads(json.dumps(ADD_SCALE))
    inner["nodes"]["scale"]["mode"] = "bypass"  # a mode inside a subgraph works as anywhere
    nodes["sub"].pop("mode")
    assert executor.run(doc(nodes, {"Add and scale": inner})).outputs["show"] == {
        "text": ["7"]}
