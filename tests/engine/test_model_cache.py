"""The model cache: load once, share between runs, evict least recently used past the budget."""
from __future__ import annotations

from nodeflow import Field, node
from nodeflow.engine import events as ev
from nodeflow.engine.executor import Executor
from nodeflow.engine.model_cache import ModelCache
from nodeflow.registry import PackInfo, Registry
from nodeflow.settings import Settings
from nodeflow.engine.validate import literal_problem
from nodeflow.workflow import parse_workflow

from .toy_nodes import Blob


def test_loads_once_and_evicts_lru():
    cache = ModelCache(budget_bytes=2500)
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return Blob(1)  # 1000 bytes
        return load

    a = cache.get("a", loader("a"))
    assert cache.get("a", loader("a")) is a and loads == ["a"]
    cache.get("b", loader("b"))
    cache.get("a", loader("a"))  # a is now the most recent
    cache.get("c", loader("c"))  # over budget: b goes
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.total_bytes == 2000 and cache.loads == 3


def test_a_model_larger_than_the_budget_is_still_returned():
    cache = ModelCache(budget_bytes=10)
    assert isinstance(cache.get("big", lambda: Blob(1)), Blob)


@node(category="test")
def Load(name: str, *, ctx) -> int:
    ctx.log(f"loading {name}")
    return ctx.models.get(("model", name), lambda: Blob(len(name))).n


@node(category="test", output=True)
def Use(n: int, size: int = Field(8, multiple_of=8)) -> None:
    return None


def test_nodes_share_models_across_runs_and_log(tmp_path):
    registry = Registry()
    registry.add_nodes([Load, Use], PackInfo("t", "0", "t", "custom"))
    executor = Executor(registry, Settings(base_dir=tmp_path))
    logs = []
    for name in ("abc", "abcd", "abc"):
        executor.run(parse_workflow({"nodeflow": 1, "nodes": {
            "l": {"type": "Load", "inputs": {"name": name}},
            "u": {"type": "Use", "inputs": {"n": {"node": "l", "output": "int"}}}}}),
            listener=lambda e: logs.append(e) if e.kind == ev.LOG else None)
    assert executor.models.loads == 2
    assert [e.data["message"] for e in logs] == ["loading abc", "loading abcd"]  # 3rd cached
    assert logs[0].node == "l"


def test_multiple_of_is_an_error_not_a_rounding():
    assert literal_problem(Use.inputs["size"], 1001) == "1001 is not a multiple of 8"
    assert literal_problem(Use.inputs["size"], 1000) is None
    assert Use.schema()["inputs"][1]["multiple_of"] == 8
