"""Fan-out: one prompt run once per value of one input (a list of seeds), the runs spread
over the workers and merged into one history entry.

Opt-in in the prompt's ``extra_data``::

    {"fan_out": {"node": "sample", "input": "seed", "values": [1, 2, 3, 4]}}
    {"fan_out": {"node": "sample", "input": "seed", "count": 4}}   # seed, seed+1, ...

Each run ("shard") is the workflow with that one literal replaced. The merged outputs list
each output node's images shard by shard, in the order of the values.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError
from ..registry import Registry
from ..server.queue_store import Outcome, QueueItem, failed_outcome
from ..settings import Settings
from ..engine.validate import validate
from ..workflow import as_link, parse_workflow

MAX_SHARDS = 64
TERMINAL = frozenset({"execution_success", "execution_error", "execution_interrupted"})


class FanOutError(ValueError):
    """The fan_out request cannot be followed; the message names the node and input."""


@dataclass
class FanOut:
    node: str
    input: str
    values: list[Any]


def requested(extra_data: Any) -> Any:
    return extra_data.get("fan_out") if isinstance(extra_data, dict) else None


def parse(spec: Any, workflow: dict) -> FanOut:
    """Raises :class:`FanOutError` naming what is wrong."""
    if not isinstance(spec, dict) or not isinstance(spec.get("node"), str) \
            or not isinstance(spec.get("input"), str):
        raise FanOutError('extra_data.fan_out must be {"node": ID, "input": NAME, '
                          '"values": [...]} or {"node": ID, "input": NAME, "count": N}')
    node, name = spec["node"], spec["input"]
    nodes = workflow.get("nodes", {})
    if node not in nodes:
        raise FanOutError(f"fan_out: the workflow has no node {node!r}")
    current = nodes[node].get("inputs", {}).get(name)
    if as_link(current) is not None:
        raise FanOutError(f"fan_out: node {node}, input {name!r} is linked; fan out over a "
                          "value typed into the node")
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise FanOutError(f"fan_out: values for node {node}, input {name!r} must be a "
                              "non-empty list")
    elif isinstance(spec.get("count"), int) and not isinstance(spec["count"], bool):
        if not isinstance(current, int) or isinstance(current, bool):
            raise FanOutError(f"fan_out: count needs a whole number in node {node}, input "
                              f"{name!r} to count from; give values instead")
        if spec["count"] < 1:
            raise FanOutError("fan_out: count must be at least 1")
        values = [current + i for i in range(spec["count"])]
    else:
        raise FanOutError("fan_out needs values (a list) or count (a whole number)")
    if len(values) > MAX_SHARDS:
        raise FanOutError(f"fan_out: at most {MAX_SHARDS} values, not {len(values)}")
    return FanOut(node, name, values)


def shard_workflows(fan: FanOut, workflow: dict, registry: Registry,
                    settings: Settings) -> list[dict]:
    """One workflow per value, each validated (a value out of range is reported with the
    node and input, as for any prompt)."""
    shards = []
    for value in fan.values:
        shard = copy.deepcopy(workflow)
        shard["nodes"][fan.node].setdefault("inputs", {})[fan.input] = value
        try:
            problems = validate(parse_workflow(shard), registry, settings)
        except WorkflowError as exc:
            problems = exc.problems
        if problems:
            raise FanOutError(f"fan_out value {value!r}: " + "; ".join(map(str, problems)))
        shards.append(shard)
    return shards


def merge_outputs(per_shard: list[dict]) -> dict:
    """Each output node's lists joined shard by shard."""
    merged: dict[str, dict[str, list]] = {}
    for outputs in per_shard:
        for node, ui in outputs.items():
            target = merged.setdefault(node, {})
            for key, values in (ui or {}).items():
                if isinstance(values, list):
                    target.setdefault(key, []).extend(values)
                else:
                    target[key] = values
    return merged


@dataclass
class FanOutRun:
    """A fan-out prompt while its shards run: which shards still wait (scheduler jobs), what
    the finished ones gave, and the messages its clients see as one run's."""
    item: QueueItem
    shards: list[dict]
    waiting: dict[int, Any] = field(default_factory=dict)
    results: dict[int, Outcome] = field(default_factory=dict)
    messages: list[list[Any]] = field(default_factory=list)
    terminal: list[Any] | None = None
    started: bool = False

    def admit(self, kind: str, data: Any) -> bool:
        """Whether a shard's message goes on to the clients: one execution_start, no shard's
        own ending (the merged run ends once, in :meth:`outcome`)."""
        if kind == "execution_start":
            if self.started:
                return False
            self.started = True
        if kind in TERMINAL:
            if kind != "execution_success" and self.terminal is None:
                self.terminal = [kind, data]
            return False
        if kind == "executing" and isinstance(data, dict) and data.get("node") is None:
            return False
        if kind in ("execution_start", "execution_cached"):
            self.messages.append([kind, data])
        return True

    @property
    def ending(self) -> bool:
        """A shard failed or the prompt was interrupted: nothing more is started."""
        return self.terminal is not None or any(r.status != "success"
                                                for r in self.results.values())

    def record(self, shard: int, result: Outcome) -> bool:
        """Keep a shard's result; False when it failed (then no other shard starts)."""
        self.results[shard] = result
        if result.status != "success":
            self.waiting.clear()
            return False
        return True

    def cancel(self) -> None:
        """Interrupted: the shards not started yet never start."""
        self.waiting.clear()
        self.terminal = self.terminal or ["execution_interrupted", {
            "prompt_id": self.item.prompt_id, "node_id": None, "node_type": None,
            "executed": [], "timestamp": int(time.time() * 1000)}]

    def outcome(self) -> Outcome:
        """The one history entry: the outputs of every shard in value order, the first
        failure's status and error; its last message is how the run ended."""
        ordered = [self.results[i] for i in sorted(self.results)]
        failed = next((r for r in ordered if r.status != "success"), None)
        status = failed.status if failed else "interrupted" if self.terminal else "success"
        terminal = self.terminal
        if terminal is None and failed is not None:  # a shard lost too often
            error = failed.error or {}
            terminal = failed_outcome(self.item.prompt_id, error.get("type", "Error"),
                                      error.get("message", "")).messages[0]
        elif terminal is None:
            terminal = ["execution_success", {"prompt_id": self.item.prompt_id,
                                              "timestamp": int(time.time() * 1000)}]
        return Outcome(status, merge_outputs([r.outputs for r in ordered]),
                       self.messages + [terminal], failed.error if failed else None)
