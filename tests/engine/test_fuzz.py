"""Property: any JSON fed to the loader, migrator, validator and executor yields documented
problems (WorkflowError / Problem) or a run result, never another exception."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from nodeflow.errors import Problem, WorkflowError
from nodeflow.engine.executor import Executor
from nodeflow.migrations import upgrade_workflow
from nodeflow.registry import PackInfo, Registry
from nodeflow.settings import Settings
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from . import toy_nodes

SAFE_TYPES = ["Const", "Add", "Scale", "Pick", "Split", "Show", "Sink", "Decode", "MakeLatent",
              "Blur"]
REGISTRY = Registry()
REGISTRY.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
NAMES = st.sampled_from(["a", "b", "c", "value", "x", "int", "float", "latent", "mode", "",
                         "number", "label", "image", "size"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                      children, max_size=3),
    max_leaves=12)

links = st.builds(lambda n, o: {"node": n, "output": o}, NAMES, NAMES)
node_specs = st.fixed_dictionaries(
    {"type": st.sampled_from(SAFE_TYPES + ["Unknown"]) | st.text(max_size=5)},
    optional={"inputs": st.dictionaries(NAMES, links | json_values, max_size=4),
              "version": st.sampled_from(["1.0.0", "2.0.0", "0.1.0", "9.9.9", "x"]),
              "ui": st.dictionaries(st.text(max_size=3), json_values, max_size=2)})
near_workflows = st.fixed_dictionaries(
    {"nodeflow": st.just(1), "nodes": st.dictionaries(NAMES, node_specs, max_size=6)},
    optional={"name": st.text(max_size=5) | st.integers(),
              "requires": json_values, "ui": json_values, "extra": json_values})




@st.composite
def chains(draw):
    """Mostly-valid chains Const -> Add/Scale... -> Show, with drawn literal values."""
    nodes = {"n0": {"type": "Const", "inputs": {"value": draw(st.integers(-5, 120))}}}
    previous = ("n0", "int")
    for i in range(1, draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["Add", "Scale"]))
        inputs = {"a" if kind == "Add" else "x": {"node": previous[0], "output": previous[1]}}
        if draw(st.booleans()):
            inputs["b" if kind == "Add" else "factor"] = draw(json_values)
        nodes[f"n{i}"] = {"type": kind, "inputs": inputs}
        previous = (f"n{i}", "int" if kind == "Add" else "float")
    nodes["out"] = {"type": "Show", "inputs": {"value": {"node": previous[0],
                                                         "output": previous[1]}}}
    return {"nodeflow": 1, "nodes": nodes}


def check(data) -> None:
    try:
        workflow = parse_workflow(data)
    except WorkflowError as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        assert all(str(p) for p in exc.problems)
        return
    assert parse_workflow(dump_workflow(workflow)) == workflow
    workflow, notes = upgrade_workflow(workflow, REGISTRY)
    assert all(isinstance(n, str) for n in notes)
    problems = validate(workflow, REGISTRY)
    assert all(isinstance(p, Problem) and str(p) for p in problems)
    if not problems:
        result = Executor(REGISTRY, Settings()).run(workflow)
        assert result.status in ("success", "error")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json(data):
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_workflows)
def test_near_valid_workflows(data):
    check(data)


@settings(max_examples=200, deadline=None)
@given(chains())
def test_chains_validate_or_run(data):
    check(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.binary(max_size=40))
def test_arbitrary_text(text):
    check(text)


@settings(max_examples=100, deadline=None)
@given(near_workflows)
def test_as_json_text(data):
    check(json.dumps(data))
