"""Lists, lazy inputs, blocking, async nodes, expansion and odd type names, on toy nodes."""
from __future__ import annotations

import time

import pytest

from nodeflow.errors import WorkflowError
from nodeflow.engine.executor import Executor
from nodeflow.registry import PackInfo, Registry
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow

from . import toy_flow, toy_nodes
from .conftest import link, wf


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    reg.add_module(toy_flow, PackInfo("toyflow", "1.0.0", "tests", "custom"))
    return reg


@pytest.fixture(autouse=True)
def flow_calls():
    toy_flow.CALLS.clear()
    yield toy_flow.CALLS
    toy_flow.CALLS.clear()


def ran(calls, kind):
    return [value for name, value in calls if name == kind]


# -- lists ---------------------------------------------------------------------------------

def test_a_list_output_runs_the_next_node_once_per_item(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"start": 5, "count": 3}},
        "inc": {"type": "Inc", "inputs": {"x": link("nums", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
    }))
    assert result.status == "success", result.error
    assert ran(flow_calls, "Inc") == [5, 6, 7]
    assert result.outputs["out"] == {"values": [6, 7, 8]}


def test_mismatched_lengths_zip_and_repeat_the_last_item(executor, flow_calls):
    """ComfyUI's rule: as many calls as the longest input; shorter ones repeat their last."""
    result = executor.run(wf({
        "words": {"type": "Words", "inputs": {"text": "a\nb"}},
        "nums": {"type": "Numbers", "inputs": {"start": 1, "count": 4}},
        "label": {"type": "Label", "inputs": {"word": link("words", "string"),
                                              "n": link("nums", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("label", "string")}},
    }))
    assert result.outputs["out"]["values"] == ["a1", "b2", "b3", "b4"]


def test_a_literal_next_to_a_list_is_used_by_every_call(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"count": 2}},
        "inc": {"type": "Inc", "inputs": {"x": link("nums", "int"), "by": 10}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
    }))
    assert result.outputs["out"]["values"] == [10, 11]


def test_a_list_input_gets_the_whole_list_in_one_call(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"start": 1, "count": 4}},
        "total": {"type": "Total", "inputs": {"xs": link("nums", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("total", "int")}},
    }))
    assert ran(flow_calls, "Total") == [(1, 2, 3, 4)]
    assert result.outputs["out"]["values"] == [10]


def test_a_single_value_reaches_a_list_input_as_a_list_of_one(executor, flow_calls):
    result = executor.run(wf({
        "c": {"type": "Const", "inputs": {"value": 7}},
        "total": {"type": "Total", "inputs": {"xs": link("c", "int")}},
        "lit": {"type": "Total", "inputs": {"xs": [1, 2, 3]}},
        "out": {"type": "Collect", "inputs": {"value": link("total", "int")}},
        "out2": {"type": "Collect", "inputs": {"value": link("lit", "int")}},
    }))
    assert result.outputs["out"]["values"] == [7]
    assert result.outputs["out2"]["values"] == [6]


def test_an_empty_list_runs_nothing_downstream(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"count": 0}},
        "inc": {"type": "Inc", "inputs": {"x": link("nums", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
        "all": {"type": "CollectAll", "inputs": {"values": link("inc", "int")}},
    }))
    assert result.status == "success"
    assert ran(flow_calls, "Inc") == [] and ran(flow_calls, "Collect") == []
    assert ran(flow_calls, "CollectAll") == [()]


def test_cache_keys_are_per_item(executor, flow_calls):
    """Growing the list by one item runs the downstream node for that item only."""
    def graph(count):
        return wf({
            "nums": {"type": "Numbers", "inputs": {"start": 0, "count": count}},
            "inc": {"type": "Inc", "inputs": {"x": link("nums", "int")}},
            "out": {"type": "CollectAll", "inputs": {"values": link("inc", "int")}},
        })
    executor.run(graph(3))
    flow_calls.clear()
    result = executor.run(graph(4))
    assert ran(flow_calls, "Inc") == [3]
    assert result.outputs["out"]["values"] == [[1, 2, 3, 4]]
    flow_calls.clear()
    executor.run(graph(4))
    assert flow_calls == []


def test_a_list_literal_where_no_list_is_allowed_is_a_validation_error(registry):
    problems = validate(wf({
        "inc": {"type": "Inc", "inputs": {"x": [1, 2]}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
    }), registry)
    assert [(p.node, p.input, p.kind) for p in problems] == [("inc", "x", "list_not_allowed")]
    assert "PromptList" in problems[0].message


def test_list_outputs_are_declared_in_the_schema(registry):
    schema = registry.get("Numbers").schema()
    assert schema["outputs"][0]["is_list"] is True
    assert registry.get("Total").schema()["inputs"][0]["is_list"] is True
    assert registry.get("Choose").schema()["inputs"][1]["lazy"] is True


# -- lazy inputs and blocking ----------------------------------------------------------------

def _switch(which: bool):
    return wf({
        "a": {"type": "Numbers", "inputs": {"start": 100, "count": 1}},
        "b": {"type": "Numbers", "inputs": {"start": 200, "count": 1}},
        "ia": {"type": "Inc", "inputs": {"x": link("a", "int")}},
        "ib": {"type": "Inc", "inputs": {"x": link("b", "int")}},
        "pick": {"type": "Choose", "inputs": {"which": which, "yes": link("ia", "int"),
                                            "no": link("ib", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("pick", "value")}},
    })


def test_lazy_inputs_run_exactly_the_branch_picked(executor, flow_calls):
    result = executor.run(_switch(True))
    assert result.outputs["out"]["values"] == [101]
    assert ran(flow_calls, "Numbers") == [100] and ran(flow_calls, "Inc") == [100]
    assert sorted(result.executed) == ["a", "ia", "out", "pick"]
    flow_calls.clear()
    result = executor.run(_switch(False))
    assert result.outputs["out"]["values"] == [201]
    assert ran(flow_calls, "Numbers") == [200] and ran(flow_calls, "Inc") == [200]


def test_a_lazy_branch_that_already_ran_for_another_node_is_reused(executor, flow_calls):
    # 'a' runs first for 'early' (file order), its result is released, then 'pick' asks for
    # it lazily: it comes back from the cache and the run ends well (it used to end with
    # "nodes wait on each other")
    result = executor.run(wf({
        "a": {"type": "Numbers", "inputs": {"start": 7, "count": 1}},
        "early": {"type": "Collect", "inputs": {"value": link("a", "int")}},
        "pick": {"type": "Choose", "inputs": {"which": True, "yes": link("a", "int"),
                                            "no": link("a", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("pick", "value")}},
    }))
    assert result.status == "success", result.error
    assert result.outputs["out"]["values"] == [7] and ran(flow_calls, "Numbers") == [7]


def test_the_branch_not_picked_is_not_even_in_the_plan(executor):
    events = []
    executor.run(_switch(True), listener=events.append)
    assert events[0].data["nodes"] == ["pick", "out"]


def test_a_lazy_branch_from_the_cache_is_reused(executor, flow_calls):
    executor.run(_switch(True))
    executor.run(_switch(False))
    flow_calls.clear()
    result = executor.run(_switch(True))
    assert flow_calls == [] and "ia" not in result.executed


def test_a_requested_lazy_input_with_nothing_connected_is_a_run_error(executor):
    result = executor.run(wf({
        "c": {"type": "Const"},
        "n": {"type": "NeedsExtra", "inputs": {"x": link("c", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("n", "int")}},
    }))
    assert result.status == "success"  # extra has a default (None): asking for it is fine
    result = executor.run(wf({
        "c": {"type": "Const"},
        "n": {"type": "AsksWrong", "inputs": {"x": link("c", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("n", "value")}},
    }))
    assert result.status == "error" and result.error["node"] == "n"
    assert "'nope'" in result.error["message"] and result.error["traceback"] is None


def test_a_required_lazy_input_left_unconnected_is_a_validation_error(registry):
    problems = validate(wf({
        "pick": {"type": "Choose", "inputs": {"which": True, "no": 1}},
        "out": {"type": "Collect", "inputs": {"value": link("pick", "value")}},
    }), registry)
    assert {(p.node, p.input, p.kind) for p in problems} == {
        ("pick", "yes", "missing_input"), ("pick", "no", "link_required")}


def test_a_blocked_output_stops_what_follows_without_an_error(executor, flow_calls):
    events = []
    result = executor.run(wf({
        "c": {"type": "Const", "inputs": {"value": 3}},
        "gate": {"type": "Gate", "inputs": {"value": link("c", "int"), "open": False}},
        "inc": {"type": "Inc", "inputs": {"x": link("gate", "value")}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
    }), listener=events.append)
    assert result.status == "success"
    assert ran(flow_calls, "Inc") == [] and ran(flow_calls, "Collect") == []
    assert "out" not in result.outputs
    blocked = [e.node for e in events if e.kind == "node_finished" and e.data.get("blocked")]
    assert blocked == ["inc", "out"]  # the editor can draw them as not run


def test_a_blocker_in_a_list_blocks_only_its_item(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"start": 0, "count": 3}},
        "big": {"type": "Gate", "inputs": {"value": link("nums", "int"), "open": True}},
        "inc": {"type": "Inc", "inputs": {"x": link("big", "value")}},
        "out": {"type": "Collect", "inputs": {"value": link("inc", "int")}},
    }))
    assert result.outputs["out"]["values"] == [1, 2, 3]


def test_a_blocker_with_a_message_is_logged(executor):
    events = []
    executor.run(wf({
        "c": {"type": "Const"},
        "gate": {"type": "Gate", "inputs": {"value": link("c", "int"), "open": False,
                                            "message": "switched off"}},
        "out": {"type": "Collect", "inputs": {"value": link("gate", "value")}},
    }), listener=events.append)
    assert any(e.kind == "log" and "switched off" in e.data["message"] for e in events)


# -- async ---------------------------------------------------------------------------------

def test_async_nodes_run_concurrently(executor, flow_calls):
    nodes = {f"c{i}": {"type": "Const", "inputs": {"value": i}} for i in range(4)}
    for i in range(4):
        nodes[f"s{i}"] = {"type": "Sleep", "inputs": {"x": link(f"c{i}", "int"),
                                                      "seconds": 0.3}}
        nodes[f"o{i}"] = {"type": "Collect", "inputs": {"value": link(f"s{i}", "int")}}
    start = time.perf_counter()
    result = executor.run(wf(nodes))
    elapsed = time.perf_counter() - start
    assert result.status == "success", result.error
    assert [result.outputs[f"o{i}"]["values"] for i in range(4)] == [[0], [1], [2], [3]]
    assert elapsed < 0.9, elapsed  # four 0.3 s sleeps, one after another, would take 1.2 s


def test_sync_nodes_run_while_an_async_node_waits(executor, flow_calls):
    start = time.perf_counter()
    result = executor.run(wf({
        "c": {"type": "Const"},
        "sleep": {"type": "Sleep", "inputs": {"x": link("c", "int"), "seconds": 0.4}},
        "busy": {"type": "Busy", "inputs": {"x": link("c", "int"), "seconds": 0.4}},
        "a": {"type": "Collect", "inputs": {"value": link("sleep", "int")}},
        "b": {"type": "Collect", "inputs": {"value": link("busy", "int")}},
    }))
    assert result.status == "success"
    assert time.perf_counter() - start < 0.75


def test_an_async_node_over_a_list_and_its_errors(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"count": 3}},
        "sleep": {"type": "Sleep", "inputs": {"x": link("nums", "int"), "seconds": 0.01}},
        "out": {"type": "CollectAll", "inputs": {"values": link("sleep", "int")}},
    }))
    assert result.outputs["out"]["values"] == [[0, 1, 2]]
    result = executor.run(wf({
        "c": {"type": "Const"},
        "bad": {"type": "AsyncFail", "inputs": {"x": link("c", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("bad", "int")}},
    }))
    assert result.status == "error" and result.error["node"] == "bad"
    assert result.error["message"] == "async node refused" and result.error["input"] == "x"


def test_run_works_inside_a_running_event_loop(executor):
    import asyncio

    async def main():
        return executor.run(wf({"c": {"type": "Const"},
                                "out": {"type": "Collect", "inputs": {"value": link("c", "int")}}}))
    assert asyncio.run(main()).status == "success"


# -- expansion -----------------------------------------------------------------------------

def _repeat(times, x=1):
    return wf({
        "c": {"type": "Const", "inputs": {"value": x}},
        "rep": {"type": "RepeatInc", "inputs": {"x": link("c", "int"), "times": times}},
        "out": {"type": "Collect", "inputs": {"value": link("rep", "int")}},
    })


def test_expansion_runs_the_graph_a_node_returns(executor, flow_calls):
    result = executor.run(_repeat(4))
    assert result.status == "success", result.error
    assert result.outputs["out"]["values"] == [5]
    assert ran(flow_calls, "Inc") == [1, 2, 3, 4]
    assert [n for n in result.executed if n.startswith("rep/")] == [
        "rep/1", "rep/2", "rep/3", "rep/4"]


def test_expanded_nodes_report_the_node_the_user_sees(executor):
    events = []
    executor.run(_repeat(2), listener=events.append)
    started = [e for e in events if e.kind == "node_started" and e.node.startswith("rep/")]
    assert [e.data["display_node"] for e in started] == ["rep", "rep"]


def test_expansion_is_cached_and_shares_work(executor, flow_calls):
    executor.run(_repeat(3))
    flow_calls.clear()
    assert executor.run(_repeat(3)).executed == []
    result = executor.run(_repeat(5))
    # the first three Incs of the new chain are the same computations as before
    assert ran(flow_calls, "Inc") == [4, 5]
    assert result.outputs["out"]["values"] == [6]


def test_nested_expansion(executor, flow_calls):
    result = executor.run(wf({
        "c": {"type": "Const", "inputs": {"value": 0}},
        "h": {"type": "Halve", "inputs": {"x": link("c", "int"), "depth": 3}},
        "out": {"type": "Collect", "inputs": {"value": link("h", "int")}},
    }))
    assert result.status == "success", result.error
    assert result.outputs["out"]["values"] == [3]
    assert ran(flow_calls, "Halve") == [3, 2, 1, 0]
    assert "h/2/2/2" in result.executed


def test_expansion_over_a_list(executor, flow_calls):
    result = executor.run(wf({
        "nums": {"type": "Numbers", "inputs": {"start": 10, "count": 2}},
        "rep": {"type": "RepeatInc", "inputs": {"x": link("nums", "int"), "times": 2}},
        "out": {"type": "CollectAll", "inputs": {"values": link("rep", "int")}},
    }))
    assert result.outputs["out"]["values"] == [[12, 13]]


@pytest.mark.parametrize("kind, words", [("unknown", "unknown type 'NoSuchType'"),
                                         ("cycle", "cycle")])
def test_bad_expansions_are_run_errors_naming_the_node(executor, kind, words):
    result = executor.run(wf({
        "c": {"type": "Const"},
        "bad": {"type": "BadExpansion", "inputs": {"x": link("c", "int"), "kind": kind}},
        "out": {"type": "Collect", "inputs": {"value": link("bad", "int")}},
    }))
    assert result.status == "error" and result.error["node"] == "bad"
    assert words in result.error["message"] and result.error["traceback"] is None


def test_an_expansion_without_end_stops_with_an_error(executor):
    result = executor.run(wf({
        "c": {"type": "Const"},
        "f": {"type": "Forever", "inputs": {"x": link("c", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("f", "int")}},
    }))
    assert result.status == "error" and "nested more than" in result.error["message"]


# -- type names ----------------------------------------------------------------------------

NAME = "Mask Morphology+ | x"


def test_any_type_name_runs_and_round_trips(executor, registry, flow_calls):
    data = {"nodeflow": 1, "nodes": {
        "odd node": {"type": NAME, "inputs": {"x": 4}},
        "out": {"type": "Collect", "inputs": {"value": link("odd node", "int")}}}}
    workflow = parse_workflow(data)
    assert parse_workflow(dump_workflow(workflow)) == workflow
    assert validate(workflow, registry) == []
    assert executor.run(workflow).outputs["out"]["values"] == [40]
    assert registry.get(NAME).schema()["type"] == NAME


def test_control_characters_are_refused_in_type_names():
    from nodeflow import node
    from nodeflow.errors import DeclarationError

    with pytest.raises(DeclarationError, match="control character"):
        node(name="a\tb")(lambda x: x)


def test_an_unknown_odd_type_name_is_reported_by_name(registry):
    with pytest.raises(WorkflowError, match=r"unknown node type 'CR Prompt Text\+'"):
        Executor(registry).run(wf({"n": {"type": "CR Prompt Text+"},
                                   "out": {"type": "Collect", "inputs": {"value": 1}}}))


# -- the list rule as a property -------------------------------------------------------------

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


def comfy_rule(a: list, b: list) -> list:
    """ComfyUI's mapping, written out: as many runs as the longest input, a shorter input
    repeating its last item."""
    runs = max(len(a), len(b))
    return [(a[i if len(a) > i else -1], b[i if len(b) > i else -1]) for i in range(runs)]


@hsettings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from("abcxyz"), min_size=1, max_size=6),
       count=st.integers(1, 6), start=st.integers(0, 9))
def test_list_mapping_is_comfyuis_rule(words, count, start):
    registry = Registry()
    registry.add_module(toy_nodes, PackInfo("toy", "1.0.0", "tests", "custom"))
    registry.add_module(toy_flow, PackInfo("toyflow", "1.0.0", "tests", "custom"))
    result = Executor(registry).run(wf({
        "words": {"type": "Words", "inputs": {"text": "\n".join(words)}},
        "nums": {"type": "Numbers", "inputs": {"start": start, "count": count}},
        "label": {"type": "Label", "inputs": {"word": link("words", "string"),
                                              "n": link("nums", "int")}},
        "all": {"type": "CollectAll", "inputs": {"values": link("label", "string")}},
    }))
    expected = [f"{w}{n}" for w, n in comfy_rule(words, list(range(start, start + count)))]
    assert result.outputs["all"]["values"] == [expected]


def test_a_lazy_input_asked_for_with_nothing_connected_and_no_default_is_a_run_error(executor):
    result = executor.run(wf({
        "c": {"type": "Const"},
        "w": {"type": "WantsExtra", "inputs": {"x": link("c", "int")}},
        "out": {"type": "Collect", "inputs": {"value": link("w", "int")}},
    }))
    assert result.status == "error" and result.error["node"] == "w"
    assert result.error["input"] == "extra" and "nothing is connected" in result.error["message"]


def test_interrupt_cancels_an_async_node_that_is_waiting(executor):
    import threading

    interrupt = threading.Event()
    threading.Timer(0.2, interrupt.set).start()
    start = time.perf_counter()
    result = executor.run(wf({
        "c": {"type": "Const"},
        "s": {"type": "Sleep", "inputs": {"x": link("c", "int"), "seconds": 5.0}},
        "out": {"type": "Collect", "inputs": {"value": link("s", "int")}},
    }), interrupt=interrupt)
    assert result.status == "interrupted"
    assert time.perf_counter() - start < 2.0
