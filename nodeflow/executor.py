"""Runs a validated workflow: only what output nodes need, reusing cached results.

Planning first computes every needed node's content key, then walks back from the output
nodes: a node whose key is cached stops the walk (its ancestors need not run at all).
Results are released as soon as the last node that needs them has run.
"""
from __future__ import annotations

import hashlib
import json
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from . import events as ev
from .cache import CacheEntry, ResultCache
from .context import NodeContext
from .declare import NodeDef
from .errors import Interrupted, NodeError, WorkflowError
from .graph import build_graph, run_order
from .model_cache import ModelCache
from .modes import resolve_modes
from .registry import Registry
from .settings import Settings
from .validate import validate
from .workflow import Workflow, as_link


@dataclass
class RunResult:
    run_id: str
    status: str  # "success", "error" or "interrupted"
    outputs: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass
class _Plan:
    order: list[str]
    to_run: set[str]
    cached: dict[str, CacheEntry]
    keys: dict[str, str]
    literals: dict[str, dict[str, Any]]
    consumers: dict[str, int]


class Executor:
    """Runs workflows against one registry, keeping a result cache between runs."""

    def __init__(self, registry: Registry, settings: Settings | None = None,
                 cache: ResultCache | None = None, models: ModelCache | None = None):
        self.registry = registry
        self.settings = settings or Settings()
        self.cache = cache if cache is not None else ResultCache(self.settings.cache_budget_bytes)
        self.models = models if models is not None else ModelCache(
            self.settings.model_budget_bytes)

    def run(self, workflow: Workflow, *, listener: ev.Listener = ev.ignore,
            interrupt: threading.Event | None = None, run_id: str | None = None) -> RunResult:
        """Validate and run ``workflow``. Raises :class:`WorkflowError` if it cannot run;
        a node that fails or an interrupt ends the run with that status instead."""
        active, _ = resolve_modes(workflow, self.registry)
        graph = build_graph(active)
        problems = validate(workflow, self.registry, self.settings, graph)
        if problems:
            raise WorkflowError(problems)
        workflow = active
        run_id = run_id or uuid.uuid4().hex
        interrupt = interrupt or threading.Event()
        plan = self._plan(workflow, graph)
        result = RunResult(run_id, "success", cached=[n for n in plan.order if n in plan.cached])
        for node_id in result.cached:
            if plan.cached[node_id].ui:
                result.outputs[node_id] = plan.cached[node_id].ui
        listener(ev.Event(ev.RUN_STARTED, run_id, data={
            "nodes": [n for n in plan.order if n in plan.to_run]}))
        listener(ev.Event(ev.NODES_CACHED, run_id, data={
            "nodes": list(result.cached), "ui": dict(result.outputs)}))
        values = {n: entry.outputs for n, entry in plan.cached.items()}
        current = None
        try:
            for node_id in plan.order:
                if node_id not in plan.to_run:
                    continue
                current = node_id
                if interrupt.is_set():
                    raise Interrupted()
                ui = self._run_node(workflow, graph, plan, values, node_id, run_id, listener,
                                    interrupt)
                result.executed.append(node_id)
                if ui:
                    result.outputs[node_id] = ui
                self._release(graph, plan, values, node_id)
        except Interrupted:
            result.status = "interrupted"
            listener(ev.Event(ev.RUN_INTERRUPTED, run_id, current))
            return result
        except Exception as exc:  # any node failure ends this run, never the process
            result.status = "error"
            result.error = _error_info(workflow, current, exc)
            listener(ev.Event(ev.RUN_FAILED, run_id, current, dict(result.error)))
            return result
        listener(ev.Event(ev.RUN_SUCCEEDED, run_id))
        return result

    def _plan(self, workflow: Workflow, graph: nx.DiGraph) -> _Plan:
        outputs = [n for n, s in workflow.nodes.items() if self.registry.get(s.type).output_node]
        needed = set(outputs)
        for node_id in outputs:
            needed |= nx.ancestors(graph, node_id)
        order = run_order(graph, needed)
        nonce = uuid.uuid4().hex
        keys: dict[str, str] = {}
        literals: dict[str, dict[str, Any]] = {}
        for node_id in order:
            spec = workflow.nodes[node_id]
            node_def = self.registry.get(spec.type)
            literals[node_id] = literal_inputs(node_def, spec.inputs)
            keys[node_id] = node_key(node_def, spec.inputs, literals[node_id], keys,
                                     self.settings, nonce)
        to_run: set[str] = set()
        cached: dict[str, CacheEntry] = {}
        stack = list(reversed(outputs))
        while stack:
            node_id = stack.pop()
            if node_id in to_run or node_id in cached:
                continue
            node_def = self.registry.get(workflow.nodes[node_id].type)
            entry = None if node_def.always_run else self.cache.get(keys[node_id])
            if entry is not None:
                cached[node_id] = entry
            else:
                to_run.add(node_id)
                stack.extend(graph.predecessors(node_id))
        consumers = {n: 0 for n in order}
        for node_id in to_run:
            for source in graph.predecessors(node_id):
                consumers[source] += 1
        return _Plan(order, to_run, cached, keys, literals, consumers)

    def _run_node(self, workflow: Workflow, graph: nx.DiGraph, plan: _Plan,
                  values: dict[str, dict[str, Any]], node_id: str, run_id: str,
                  listener: ev.Listener, interrupt: threading.Event) -> dict[str, list[Any]]:
        spec = workflow.nodes[node_id]
        node_def = self.registry.get(spec.type)
        listener(ev.Event(ev.NODE_STARTED, run_id, node_id, {"type": spec.type}))
        kwargs = dict(plan.literals[node_id])
        for name, value in spec.inputs.items():
            link = as_link(value)
            if link is not None:
                kwargs[name] = values[link.node][link.output]
        ctx = None
        if node_def.wants_ctx:
            ctx = NodeContext(node_id=node_id, type_name=spec.type, run_id=run_id,
                              settings=self.settings, listener=listener, interrupt=interrupt,
                              workflow=workflow, models=self.models)
            kwargs["ctx"] = ctx
        outputs = node_def.outputs_from_result(node_def.fn(**kwargs))
        ui = ctx.ui if ctx is not None else {}
        if not node_def.always_run:
            self.cache.put(plan.keys[node_id], outputs, ui)
        values[node_id] = outputs
        listener(ev.Event(ev.NODE_FINISHED, run_id, node_id, {"ui": ui}))
        return ui

    @staticmethod
    def _release(graph: nx.DiGraph, plan: _Plan, values: dict[str, dict[str, Any]],
                 node_id: str) -> None:
        """Drop results that no node still to run needs (the cache may keep its own copy)."""
        for source in graph.predecessors(node_id):
            plan.consumers[source] -= 1
            if plan.consumers[source] == 0:
                values.pop(source, None)
        if plan.consumers[node_id] == 0:
            values.pop(node_id, None)


def node_key(node_def: NodeDef, inputs: dict[str, Any], literals: dict[str, Any],
             upstream_keys: dict[str, str], settings: Settings, nonce: str) -> str:
    """The cache key of one node: its type, version, literal values (defaults included), the
    keys of the nodes feeding it and, if declared, its fingerprint. ``always_run`` nodes (and
    fingerprints that fail) get the run's ``nonce``, so they and what follows always run."""
    links = {}
    for name, value in inputs.items():
        link = as_link(value)
        if link is not None:
            links[name] = [upstream_keys[link.node], link.output]
    extra: Any = None
    if node_def.always_run:
        extra = nonce
    elif node_def.fingerprint is not None:
        try:
            extra = node_def.fingerprint(dict(literals), settings)
        except Exception:  # the node itself will report the problem when it runs
            extra = nonce
    payload = [node_def.type_name, node_def.version, literals, links, extra]
    text = json.dumps(payload, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def literal_inputs(node_def: NodeDef, inputs: dict[str, Any]) -> dict[str, Any]:
    """The literal values a node gets: what the file says, else the declared defaults."""
    literals = {}
    for name, spec in node_def.inputs.items():
        if name in inputs:
            if as_link(inputs[name]) is None:
                literals[name] = inputs[name]
        elif spec.field.has_default:
            literals[name] = spec.field.default
        elif spec.optional:
            literals[name] = None
    return literals


def _error_info(workflow: Workflow, node_id: str | None, exc: Exception) -> dict[str, Any]:
    user_error = isinstance(exc, NodeError)
    return {
        "node": node_id,
        "node_type": workflow.nodes[node_id].type if node_id else None,
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "input": getattr(exc, "input", None) if user_error else None,
        "traceback": None if user_error else "".join(traceback.format_exception(exc)),
    }
