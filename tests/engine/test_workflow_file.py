"""Workflow format v1: load, save, round trip, placeholders, migrations, and garbage in."""
from __future__ import annotations

import json

import pytest

from nodeflow.errors import WorkflowError
from nodeflow.migrations import upgrade_workflow
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from .conftest import link

EXAMPLE = {
    "nodeflow": 1,
    "name": "sum",
    "description": "Adds two numbers and shows them",
    "requires": {"nodeflow": ">=0.1"},
    "nodes": {
        "a": {"type": "Const", "version": "1.0.0", "inputs": {"value": 2},
              "ui": {"pos": [10, 20], "size": [200, 80], "title": "Two"}},
        "sum": {"type": "Add", "inputs": {"a": link("a", "int"), "b": 40}},
        "fancy": {"type": "SomePackNode", "version": "3.1.0",
                  "inputs": {"x": link("sum", "int"), "mode": "wild", "extra": [1, {"k": None}]}},
        "show": {"type": "Show", "inputs": {"value": link("sum", "int")}},
    },
    "ui": {"groups": [], "view": {"offset": [0, 0], "scale": 1.0}},
}


def test_saving_a_loaded_file_reproduces_it():
    text = json.dumps(EXAMPLE, indent=2, ensure_ascii=False) + "\n"
    workflow = parse_workflow(text)
    assert dump_workflow(workflow) == text
    assert dump_workflow(parse_workflow(dump_workflow(workflow))) == text


def test_unicode_survives():
    data = {"nodeflow": 1, "name": "café ✓", "nodes": {"ñ": {"type": "Const"}}}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert dump_workflow(parse_workflow(text.encode())) == text


def test_unknown_types_stay_as_placeholders(registry):
    workflow = parse_workflow(EXAMPLE)
    assert workflow.nodes["fancy"].inputs["extra"] == [1, {"k": None}]
    found = validate(workflow, registry)
    assert [(p.node, p.message) for p in found] == [
        ("fancy", "unknown node type 'SomePackNode' (not installed)")]
    upgraded, notes = upgrade_workflow(workflow, registry)
    assert dump_workflow(upgraded) == dump_workflow(workflow) and notes == []


def test_migration_renames_an_input_and_keeps_the_old_default(registry):
    image = link("c", "int")
    old = parse_workflow({"nodeflow": 1, "nodes": {
        "c": {"type": "Const"},
        "b": {"type": "Blur", "version": "1.4.0", "inputs": {"image": image, "size": 3.0}},
        "d": {"type": "Blur", "version": "1.0.0", "inputs": {"image": image}},
        "s": {"type": "Show", "inputs": {"value": link("b", "value")}}}})
    new, notes = upgrade_workflow(old, registry)
    assert new.nodes["b"].inputs == {"image": image, "radius": 3.0}
    assert new.nodes["d"].inputs == {"image": image, "radius": 1.0}
    assert new.nodes["b"].version == "2.0.0"
    assert notes[0] == "node 'b': Blur upgraded from 1.4.0 to 2.0.0"
    assert validate(new, registry) == []
    assert validate(old, registry) != []  # unmigrated: 'size' is unknown to Blur 2.x
    saved = json.loads(dump_workflow(new))
    assert saved["nodes"]["b"] == {"type": "Blur", "version": "2.0.0",
                                   "inputs": {"image": image, "radius": 3.0}}


@pytest.mark.parametrize("source, words", [
    ("{", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    ("[]", "must be a JSON object, got a list"),
    ("{}", '"nodeflow" (the format version) is missing'),
    ('{"nodeflow": 2, "nodes": {}}', "unsupported format version 2"),
    ('{"nodeflow": 1}', "'nodes' is missing"),
    ('{"nodeflow": 1, "nodes": [], "x": 1}', "unknown key 'x'"),
    ('{"nodeflow": 1, "nodes": {"a": {"inputs": {}}}}', "'type' is missing"),
    ('{"nodeflow": 1, "nodes": {"a": {"type": 5}}}', "Input should be a valid string"),
    ('{"nodes": [], "links": []}', "ComfyUI editor workflow"),
    ('{"nodeflow": 1, "nodes": {"a": {"type": "S", "inputs": {"x": NaN}}}}',
     "nodes.a.inputs.x: NaN and infinity are not JSON numbers"),
    ('{"3": {"class_type": "KSampler", "inputs": {}}}', "ComfyUI API-format workflow"),
])
def test_bad_files_give_clear_errors(source, words):
    with pytest.raises(WorkflowError) as info:
        parse_workflow(source)
    assert any(words in str(p) for p in info.value.problems), info.value.problems


def test_node_level_file_errors_name_the_node():
    with pytest.raises(WorkflowError) as info:
        parse_workflow('{"nodeflow": 1, "nodes": {"a": {"type": "X", "inptus": {}}}}')
    [problem] = info.value.problems
    assert problem.node == "a" and problem.message == "unknown key 'inptus'"


def test_saving_stamps_requires_and_versions(registry):
    from nodeflow.registry import PackInfo
    from nodeflow.requires import with_requirements

    registry.packs["toy"] = PackInfo("toy", "1.2.3", "tests", "custom", ["Const"])
    workflow = parse_workflow({"nodeflow": 1, "requires": {"nodeflow": ">=0.0"}, "nodes": {
        "c": {"type": "Const"}, "x": {"type": "Unknown", "version": "9.0.0"},
        "s": {"type": "Show", "inputs": {"value": link("c", "int")}}}})
    stamped = with_requirements(workflow, registry)
    assert stamped.requires == {"nodeflow": ">=0.1",
                                "packs": {"toy": {"version": "1.2.3", "nodes": ["Const", "Show"]}}}
    assert stamped.nodes["c"].version == "1.0.0" and stamped.nodes["x"].version == "9.0.0"
    assert json.loads(dump_workflow(stamped))["requires"]["packs"]["toy"]["nodes"] == [
        "Const", "Show"]


def test_a_newer_nodeflow_requirement_is_reported(registry):
    workflow = parse_workflow({"nodeflow": 1, "requires": {"nodeflow": ">=99.0"}, "nodes": {
        "s": {"type": "Sink", "inputs": {"x": 1}}}})
    [problem] = validate(workflow, registry)
    assert problem.message.startswith("this workflow needs nodeflow >=99.0; this is nodeflow")
