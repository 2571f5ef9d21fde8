"""Validation: every kind of problem, all reported at once, each naming node and input."""
from __future__ import annotations

import pytest

from nodeflow.engine.validate import validate

from .conftest import link, wf


def problems(registry, nodes, **top):
    return [(p.node, p.input, p.message) for p in validate(wf(nodes, **top), registry)]


def test_a_good_workflow_has_no_problems(registry):
    nodes = {"c": {"type": "Const", "inputs": {"value": 3}},
             "s": {"type": "Sink", "inputs": {"x": link("c", "int")}}}
    assert problems(registry, nodes) == []


@pytest.mark.parametrize("node, expected_input, words", [
    ({"type": "Nope"}, None, "unknown node type 'Nope' (not installed)"),
    ({"type": "Sink", "inputs": {}}, "x", "missing required input"),
    ({"type": "Sink", "inputs": {"x": 1, "y": 2}}, "y", "unknown input (Sink has inputs: x, flag)"),
    ({"type": "Sink", "inputs": {"x": link("ghost", "int")}}, "x",
     "links to node 'ghost', which is not in the workflow"),
    ({"type": "Sink", "inputs": {"x": link("c", "float")}}, "x",
     "links to output 'float' of node 'c', but Const has no such output (its outputs: int)"),
    ({"type": "Decode", "inputs": {"latent": link("c", "int")}}, "latent",
     "type mismatch: output 'int' of node 'c' is INT, this input needs LATENT"),
    ({"type": "Sink", "inputs": {"x": "5"}}, "x", "expected an integer (INT), got '5'"),
    ({"type": "Sink", "inputs": {"x": 1.5}}, "x", "expected an integer"),
    ({"type": "Sink", "inputs": {"x": True}}, "x", "expected an integer"),
    ({"type": "Sink", "inputs": {"x": 1, "flag": 1}}, "flag", "expected true or false"),
    ({"type": "Const", "inputs": {"value": 101}}, "value", "101 is above the maximum 100"),
    ({"type": "Const", "inputs": {"value": -1}}, "value", "-1 is below the minimum 0"),
    ({"type": "Pick", "inputs": {"mode": "c"}}, "mode", "'c' is not one of the choices (a, b)"),
    ({"type": "Pick", "inputs": {"text": "x" * 21}}, "text", "longer than the maximum of 20"),
    ({"type": "Decode", "inputs": {"latent": 3}}, "latent",
     "needs a link from a LATENT output; a literal value (3) cannot be used here"),
    ({"type": "Sink", "inputs": {"x": {"node": "c"}}}, "x", "a link must be"),
])
def test_each_problem_kind(registry, node, expected_input, words):
    nodes = {"c": {"type": "Const"}, "n": node, "out": {"type": "Sink", "inputs": {"x": 1}}}
    found = problems(registry, nodes)
    assert len(found) == 1, found
    node_id, input_name, message = found[0]
    assert node_id == "n" and input_name == expected_input
    assert words in message


def test_problems_carry_a_machine_readable_kind(registry):
    nodes = {"u": {"type": "Nope"}, "m": {"type": "Sink"},
             "r": {"type": "Const", "inputs": {"value": 101, "extra": 1}},
             "l": {"type": "Decode", "inputs": {"latent": link("r", "int")}},
             "c": {"type": "Pick", "inputs": {"mode": "z"}},
             "g": {"type": "Sink", "inputs": {"x": link("ghost", "int")}}}
    kinds = {(p.node, p.input): p.kind for p in validate(wf(nodes), registry)}
    assert kinds == {("u", None): "unknown_type", ("m", "x"): "missing_input",
                     ("r", "value"): "above_max", ("r", "extra"): "unknown_input",
                     ("l", "latent"): "type_mismatch", ("c", "mode"): "not_a_choice",
                     ("g", "x"): "missing_node"}


def test_close_choice_is_suggested(registry):
    nodes = {"p": {"type": "Pick", "inputs": {"mode": "A"}},
             "s": {"type": "Show", "inputs": {"value": link("p", "string")}}}
    [(_, _, message)] = problems(registry, nodes)
    assert "did you mean 'a'?" in message


def test_int_links_into_float(registry):
    nodes = {"c": {"type": "Const"},
             "f": {"type": "Scale", "inputs": {"x": link("c", "int"), "factor": 2}},
             "s": {"type": "Show", "inputs": {"value": link("f", "float")}}}
    assert problems(registry, nodes) == []


def test_all_problems_are_reported_at_once(registry):
    nodes = {"a": {"type": "Nope"}, "b": {"type": "Const", "inputs": {"value": "x"}},
             "c": {"type": "Sink"}}
    found = problems(registry, nodes)
    assert {(n, i) for n, i, _ in found} == {("a", None), ("b", "value"), ("c", "x")}


def test_cycle_names_its_nodes(registry):
    nodes = {"a": {"type": "Add", "inputs": {"a": link("c", "int")}},
             "b": {"type": "Add", "inputs": {"a": link("a", "int")}},
             "c": {"type": "Add", "inputs": {"a": link("b", "int")}},
             "self": {"type": "Add", "inputs": {"a": link("self", "int")}},
             "s": {"type": "Sink", "inputs": {"x": link("c", "int")}}}
    found = problems(registry, nodes)
    assert ("a", None, "cycle: nodes 'a', 'b', 'c' depend on each other") in found
    assert ("self", None, "cycle: nodes 'self' depend on each other") in found


def test_no_output_node(registry):
    [(node_id, _, message)] = problems(registry, {"c": {"type": "Const"}})
    assert node_id is None and "no output node" in message


def test_missing_pack_is_named_from_requires(registry):
    requires = {"nodeflow": ">=0.1.0",
                "packs": {"image-filters": {"version": "1.2.0", "nodes": ["Sharpen"]}}}
    nodes = {"x": {"type": "Sharpen"}, "s": {"type": "Sink", "inputs": {"x": 1}}}
    [(_, _, message)] = problems(registry, nodes, requires=requires)
    assert "provided by pack 'image-filters' 1.2.0, which is not installed" in message


def test_versions(registry):
    base = {"s": {"type": "Sink", "inputs": {"x": 1}}}
    newer = problems(registry, {**base, "b": {"type": "Blur", "version": "3.0.0",
                                               "inputs": {"image": 1}}})
    assert "newer than the installed 2.1.0" in newer[0][2]
    older = problems(registry, {**base, "c": {"type": "Const", "version": "0.9.0"}})
    assert "registers no migration from 0.x" in older[0][2]
    same_major = problems(registry, {**base, "c": {"type": "Const", "version": "1.7.3"}})
    assert same_major == []
