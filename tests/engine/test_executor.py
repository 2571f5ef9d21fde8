"""The executor: what runs, what comes from the cache, release, errors, interrupt, events."""
from __future__ import annotations

import gc
import threading
import weakref

import pytest

from nodeflow.engine import events as ev
from nodeflow.engine.cache import ResultCache
from nodeflow.errors import WorkflowError
from nodeflow.engine.executor import Executor
from nodeflow.settings import Settings

from . import toy_nodes
from .conftest import link, wf


def chain(value=3, b=4, factor=2.0):
    return wf({
        "c": {"type": "Const", "inputs": {"value": value}},
        "add": {"type": "Add", "inputs": {"a": link("c", "int"), "b": b}},
        "scale": {"type": "Scale", "inputs": {"x": link("add", "int"), "factor": factor}},
        "show": {"type": "Show", "inputs": {"value": link("scale", "float")}},
        "unused": {"type": "Pick"},
    })


def test_runs_only_what_outputs_need(executor, calls):
    result = executor.run(chain())
    assert result.status == "success"
    assert calls == ["Const", "Add", "Scale", "Show"]  # Pick feeds nothing
    assert result.outputs == {"show": {"text": ["14.0"]}}
    assert result.executed == ["c", "add", "scale", "show"]


def test_rerun_is_fully_cached(executor, calls):
    executor.run(chain())
    calls.clear()
    result = executor.run(chain())
    assert calls == [] and result.executed == []
    assert result.outputs == {"show": {"text": ["14.0"]}}


def test_changing_one_literal_reruns_that_node_and_what_follows(executor, calls):
    executor.run(chain())
    calls.clear()
    result = executor.run(chain(b=5))
    assert calls == ["Add", "Scale", "Show"]
    assert result.cached == ["c"]
    calls.clear()
    executor.run(chain(b=5, factor=3.0))
    assert calls == ["Scale", "Show"]


def test_cache_is_keyed_by_content_not_node_ids(executor, calls):
    executor.run(chain())
    calls.clear()
    renamed = wf({"k": {"type": "Const", "inputs": {"value": 3}},
                  "x": {"type": "Add", "inputs": {"a": link("k", "int"), "b": 4}},
                  "y": {"type": "Show", "inputs": {"value": link("x", "int")}}})
    executor.run(renamed)
    assert calls == ["Show"]  # Const and Add are the same computations as before


def test_default_and_explicit_default_share_a_key(executor, calls):
    executor.run(wf({"c": {"type": "Const"}, "s": {"type": "Show",
                                                  "inputs": {"value": link("c", "int")}}}))
    calls.clear()
    executor.run(wf({"c": {"type": "Const", "inputs": {"value": 1}},
                     "s": {"type": "Show", "inputs": {"value": link("c", "int")}}}))
    assert calls == []


def test_always_run_node_and_its_dependents_rerun(executor, calls):
    workflow = wf({"t": {"type": "Clock"},
                   "a": {"type": "Add", "inputs": {"a": link("t", "int")}},
                   "s": {"type": "Show", "inputs": {"value": link("a", "int")}}})
    first = executor.run(workflow)
    calls.clear()
    second = executor.run(workflow)
    assert calls == ["Clock", "Add", "Show"]
    assert first.outputs != second.outputs


def test_several_outputs_by_name(executor):
    result = executor.run(wf({
        "c": {"type": "Const", "inputs": {"value": 7}},
        "split": {"type": "Split", "inputs": {"value": link("c", "int")}},
        "n": {"type": "Show", "inputs": {"value": link("split", "number")}},
        "l": {"type": "Show", "inputs": {"value": link("split", "label")}}}))
    assert result.outputs == {"n": {"text": ["7"]}, "l": {"text": ["'#7'"]}}


def test_results_are_released_when_no_longer_needed(registry, tmp_path, monkeypatch):
    executor = Executor(registry, Settings(base_dir=tmp_path), cache=ResultCache(0))
    refs = []
    original_use = toy_nodes.UseBlob.fn

    def spy(blob):
        refs.append(weakref.ref(blob))
        return original_use(blob)

    monkeypatch.setattr(registry.nodes["UseBlob"], "fn", spy)
    alive_during_next = []
    original_show = registry.nodes["Show"].fn

    def show_spy(value, ctx):
        gc.collect()
        alive_during_next.append(refs[0]() is not None)
        return original_show(value, ctx=ctx)

    monkeypatch.setattr(registry.nodes["Show"], "fn", show_spy)
    result = executor.run(wf({"m": {"type": "MakeBlob"},
                              "u": {"type": "UseBlob", "inputs": {"blob": link("m", "value")}},
                              "s": {"type": "Show", "inputs": {"value": link("u", "value")}}}))
    assert result.status == "success"
    assert alive_during_next == [False]  # MakeBlob's result was dropped once UseBlob ran


def test_cache_budget_evicts_least_recently_used():
    cache = ResultCache(budget_bytes=2500)
    for key in "abc":
        cache.put(key, {"v": toy_nodes.Blob(1)}, {})  # 1000 bytes each
    assert "a" not in cache and "b" in cache and "c" in cache
    cache.get("b")
    cache.put("d", {"v": toy_nodes.Blob(1)}, {})
    assert "c" not in cache and "b" in cache and cache.total_bytes == 2000


def test_cache_counts_a_tensor_held_by_several_entries_once():
    """A list node's per-call results and its merged result hold the same values."""
    from nodeflow.engine.lists import Items

    cache = ResultCache(budget_bytes=2500)
    blobs = [toy_nodes.Blob(i) for i in range(2)]
    cache.put("call:0", {"v": blobs[0]}, {})
    cache.put("call:1", {"v": blobs[1]}, {})
    cache.put("node", {"v": Items(list(blobs), [["call:0", "v"], ["call:1", "v"]])}, {})
    containers = cache.total_bytes - 2000
    assert len(cache) == 3 and 0 < containers < 500  # the two blobs once, plus the lists
    cache.put("other", {"v": toy_nodes.Blob(9)}, {})
    # dropping the calls frees nothing (the merged result still holds their blobs), so the
    # merged result goes too, and then its blobs and lists are freed
    assert [k for k in ("call:0", "call:1", "node", "other") if k in cache] == ["other"]
    assert cache.total_bytes == 1000


def test_a_raising_node_ends_the_run_and_the_next_run_works(executor, calls):
    seen = []
    bad = wf({"c": {"type": "Const"}, "f": {"type": "Fail", "inputs": {"x": link("c", "int")}},
              "s": {"type": "Show", "inputs": {"value": link("f", "int")}}})
    result = executor.run(bad, listener=seen.append)
    assert result.status == "error"
    assert result.error["node"] == "f" and result.error["node_type"] == "Fail"
    assert result.error["message"] == "something broke inside"
    assert "Traceback" in result.error["traceback"]
    assert seen[-1].kind == ev.RUN_FAILED and seen[-1].node == "f"
    assert "Show" not in calls
    assert executor.run(chain()).status == "success"


def test_node_error_is_a_user_error_without_traceback(executor):
    result = executor.run(wf({"r": {"type": "Refuse", "inputs": {"x": 1}},
                              "s": {"type": "Show", "inputs": {"value": link("r", "int")}}}))
    assert result.status == "error"
    assert result.error["input"] == "x" and result.error["traceback"] is None


def test_wrong_output_type_is_reported_as_the_node_failing(executor):
    result = executor.run(wf({"b": {"type": "BadOutput", "inputs": {"x": 1}},
                              "s": {"type": "Show", "inputs": {"value": link("b", "int")}}}))
    assert result.status == "error" and "should be INT" in result.error["message"]


def test_invalid_workflow_raises_before_anything_runs(executor, calls):
    with pytest.raises(WorkflowError):
        executor.run(wf({"c": {"type": "Const", "inputs": {"value": 1000}},
                         "s": {"type": "Show", "inputs": {"value": link("c", "int")}}}))
    assert calls == []


def test_events_in_order(executor):
    seen = []
    executor.run(wf({"c": {"type": "Const"},
                     "st": {"type": "Steps", "inputs": {"x": link("c", "int"), "steps": 2}},
                     "s": {"type": "Show", "inputs": {"value": link("st", "int")}}}),
                 listener=seen.append)
    kinds = [(e.kind, e.node) for e in seen]
    assert kinds == [
        (ev.RUN_STARTED, None), (ev.NODES_CACHED, None),
        (ev.NODE_STARTED, "c"), (ev.NODE_FINISHED, "c"),
        (ev.NODE_STARTED, "st"), (ev.PROGRESS, "st"), (ev.PROGRESS, "st"),
        (ev.NODE_FINISHED, "st"),
        (ev.NODE_STARTED, "s"), (ev.NODE_FINISHED, "s"), (ev.RUN_SUCCEEDED, None)]
    assert seen[0].data["nodes"] == ["c", "st", "s"]
    assert seen[5].data == {"value": 1, "max": 2}


def test_interrupt_takes_effect_within_one_step(executor, calls):
    interrupt = threading.Event()
    progress = []

    def listener(event):
        if event.kind == ev.PROGRESS:
            progress.append(event.data["value"])
            if event.data["value"] == 3:
                interrupt.set()

    result = executor.run(wf({"c": {"type": "Const"},
                              "st": {"type": "Steps", "inputs": {"x": link("c", "int"),
                                                                 "steps": 10}},
                              "s": {"type": "Show", "inputs": {"value": link("st", "int")}}}),
                          listener=listener, interrupt=interrupt)
    assert result.status == "interrupted"
    assert progress == [1, 2, 3]
    assert "Show" not in calls
    interrupt.clear()
    assert executor.run(chain()).status == "success"


def test_interrupt_before_a_node_starts(executor, calls):
    interrupt = threading.Event()
    interrupt.set()
    result = executor.run(chain(), interrupt=interrupt)
    assert result.status == "interrupted" and calls == []


def test_failed_node_leaves_no_cache_entry(executor, calls):
    bad = wf({"c": {"type": "Const"}, "f": {"type": "Fail", "inputs": {"x": link("c", "int")}},
              "s": {"type": "Show", "inputs": {"value": link("f", "int")}}})
    executor.run(bad)
    calls.clear()
    executor.run(bad)
    assert calls == ["Fail"]
