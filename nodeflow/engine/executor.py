"""Runs a validated workflow: only what output nodes need, reusing cached results.

Planning first expands subgraphs, computes every needed node's content key, then walks back
from the output nodes: a node whose key is cached stops the walk (its ancestors need not run
at all), and so does a lazy input (what feeds it runs only when its node asks for it).
Running is a ready queue in file order on an event loop: ``async def`` nodes are awaited while
other ready nodes run, a node that returns a graph (an expansion) waits for that graph.
Every output is a list of items with one key each (see nodeflow/engine/lists.py); a node runs once
per item of its inputs. Results are released as soon as the last node that needs them has run.
"""
from __future__ import annotations

import asyncio
import hashlib
import heapq
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
from ..declare import NodeDef
from ..errors import Interrupted, NodeError, Problem, WorkflowError
from ..flow import ExecutionBlocker, Expansion
from .graph import build_graph, run_order
from .heap import released_after_long_node
from .lists import Items, calls_for, merge_outputs
from .model_cache import ModelCache
from .modes import resolve_modes
from ..registry import Registry
from ..settings import Settings
from .subgraphs import flatten
from .validate import flat_problems
from ..workflow import NodeSpec, Workflow, as_link

MAX_EXPANSION_DEPTH = 64
MAX_EXPANDED_NODES = 20000


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
    nonce: str
    links: dict[str, dict[str, tuple[str, str]]]


class ExpansionError(NodeError):
    """A node returned a graph that cannot run (unknown type, bad link, cycle, too deep)."""


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
            interrupt: threading.Event | None = None, run_id: str | None = None,
            extra: dict[str, Any] | None = None) -> RunResult:
        """Validate and run ``workflow``. Raises :class:`WorkflowError` if it cannot run;
        a node that fails or an interrupt ends the run with that status instead.
        Called from inside a running event loop, the run happens on a thread of its own.
        ``extra``: metadata of the run that nodes read as ``ctx.extra`` (a client's
        ``extra_pnginfo``, which SaveImage-like nodes write into their PNGs)."""
        coro = self.run_async(workflow, listener=listener, interrupt=interrupt, run_id=run_id,
                              extra=extra)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = asyncio.run(coro)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc
        thread = threading.Thread(target=target, name="nodeflow-run")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    async def run_async(self, workflow: Workflow, *, listener: ev.Listener = ev.ignore,
                        interrupt: threading.Event | None = None,
                        run_id: str | None = None,
                        extra: dict[str, Any] | None = None) -> RunResult:
        """:meth:`run` on the caller's event loop."""
        flat = flatten(workflow, self.registry)
        original = workflow
        active, _ = resolve_modes(flat.workflow, self.registry)
        graph = build_graph(active)
        problems = flat.problems + flat_problems(flat, self.registry, self.settings, graph)
        if problems:
            raise WorkflowError(problems)
        workflow = active
        run_id = run_id or uuid.uuid4().hex
        interrupt = interrupt or threading.Event()
        plan = self._plan(workflow, graph)
        run = _Run(self, workflow, original, plan, flat.display, run_id, listener, interrupt)
        run.extra = dict(extra or {})
        return await run.execute()

    def _plan(self, workflow: Workflow, graph: nx.DiGraph) -> _Plan:
        outputs = [n for n, s in workflow.nodes.items() if self.registry.get(s.type).output_node]
        needed = set(outputs)
        for node_id in outputs:
            needed |= nx.ancestors(graph, node_id)
        order = run_order(graph, needed)
        nonce = uuid.uuid4().hex
        keys: dict[str, str] = {}
        literals: dict[str, dict[str, Any]] = {}
        links: dict[str, dict[str, tuple[str, str]]] = {}
        for node_id in order:
            spec = workflow.nodes[node_id]
            node_def = self.registry.for_node(spec)
            links[node_id] = links_of(spec)
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
            spec = workflow.nodes[node_id]
            node_def = self.registry.for_node(spec)
            entry = None if node_def.always_run else self.cache.get(keys[node_id])
            if entry is not None:
                cached[node_id] = entry
            else:
                to_run.add(node_id)
                stack.extend(eager_sources(node_def, spec, links[node_id]))
        return _Plan(order, to_run, cached, keys, literals, nonce, links)


def eager_sources(node_def: NodeDef, spec: NodeSpec,
                  links: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """The nodes feeding ``spec`` through inputs that are not lazy."""
    if links is None:
        links = links_of(spec)
    return [source for name, (source, _) in links.items()
            if name not in node_def.inputs or not node_def.inputs[name].lazy]


def links_of(spec: NodeSpec) -> dict[str, tuple[str, str]]:
    """The linked inputs of a node: name -> (source node, output)."""
    links = {}
    for name, value in spec.inputs.items():
        link = as_link(value)
        if link is not None:
            links[name] = (link.node, link.output)
    return links


class _Run:
    """The state of one run: a ready queue, nodes waiting on others, async tasks in flight."""

    def __init__(self, executor: Executor, workflow: Workflow, original: Workflow, plan: _Plan,
                 display: dict[str, str], run_id: str, listener: ev.Listener,
                 interrupt: threading.Event):
        self.ex = executor
        self.registry = executor.registry
        self.cache = executor.cache
        self.specs: dict[str, NodeSpec] = dict(workflow.nodes)
        self.links = plan.links
        self.original = original
        self.plan = plan
        self.keys = plan.keys
        self.literals = plan.literals
        self.display = dict(display)
        self.run_id = run_id
        self.listener = listener
        self.interrupt = interrupt
        self.priority: dict[str, tuple] = {n: (i,) for i, n in enumerate(plan.order)}
        self.values: dict[str, dict[str, Items]] = {}
        self.scheduled: set[str] = set()
        self.waiting: dict[str, set[str]] = {}
        self.dependents: dict[str, set[str]] = {}
        self.users: dict[str, set[str]] = {}
        self.reads: dict[str, set[str]] = {}
        self.done: set[str] = set()
        self.requested: dict[str, set[str]] = {}
        self.pending_expansion: dict[str, list] = {}
        self.depth: dict[str, int] = {}
        self.injected: dict[str, dict[str, str]] = {}
        self.ready: list[tuple[tuple, str]] = []
        self.in_flight: dict[asyncio.Task, str] = {}
        self.expanded_count = 0
        self.calls: dict[str, list] = {}
        self.result = RunResult(run_id, "success")
        self.extra: dict[str, Any] = {}

    # -- the main loop -------------------------------------------------------------------

    async def execute(self) -> RunResult:
        plan, result = self.plan, self.result
        result.cached = [n for n in plan.order if n in plan.cached]
        for node_id in result.cached:
            self.values[node_id] = plan.cached[node_id].outputs
            if plan.cached[node_id].ui:
                result.outputs[node_id] = plan.cached[node_id].ui
        self.listener(ev.Event(ev.RUN_STARTED, self.run_id, data={
            "nodes": [n for n in plan.order if n in plan.to_run]}))
        self.listener(ev.Event(ev.NODES_CACHED, self.run_id, data={
            "nodes": list(result.cached), "ui": dict(result.outputs)}))
        for node_id in plan.order:
            if node_id in plan.to_run:
                self._wait_for(node_id, eager_sources(self._def(node_id), self.specs[node_id],
                                                      self.links[node_id]))
        current: str | None = None
        try:
            while self.ready or self.in_flight:
                if self.interrupt.is_set():
                    raise Interrupted()
                if self.ready:
                    _, current = heapq.heappop(self.ready)
                    await self._step(current)
                    continue
                done, _ = await asyncio.wait(list(self.in_flight), timeout=0.05,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    current = self.in_flight.pop(task)
                    self._finish(current, task.result())
            stuck = sorted(n for n in self.scheduled - self.done if n not in self.values)
            if stuck:
                current = stuck[0]
                raise RuntimeError("nodes wait on each other and cannot run: "
                                   + ", ".join(stuck[:10]))
        except Interrupted:
            await self._cancel_in_flight()
            result.status = "interrupted"
            self.listener(ev.Event(ev.RUN_INTERRUPTED, self.run_id, current))
            return result
        except Exception as exc:  # any node failure ends this run, never the process
            await self._cancel_in_flight()
            result.status = "error"
            result.error = self._error_info(current, exc)
            self.listener(ev.Event(ev.RUN_FAILED, self.run_id, current, dict(result.error)))
            return result
        self.listener(ev.Event(ev.RUN_SUCCEEDED, self.run_id))
        return result

    async def _cancel_in_flight(self) -> None:
        for task in self.in_flight:
            task.cancel()
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        self.in_flight.clear()

    # -- scheduling ----------------------------------------------------------------------

    def _def(self, node_id: str) -> NodeDef:
        return self.registry.for_node(self.specs[node_id])

    def _wait_for(self, node_id: str, sources: list[str]) -> None:
        """Make ``node_id`` wait until every source has values, scheduling those that do not."""
        self.scheduled.add(node_id)
        self._reads(node_id, sources)
        missing = set()
        for source in sources:
            if source not in self.values:
                missing.add(source)
        self.waiting[node_id] = missing
        for source in missing:
            self.dependents.setdefault(source, set()).add(node_id)
        if not missing:
            heapq.heappush(self.ready, (self.priority[node_id], node_id))
            return
        for source in list(missing):
            self._schedule(source)  # the last one to become available queues node_id

    def _reads(self, node_id: str, sources: list[str]) -> None:
        reads = self.reads.setdefault(node_id, set())
        for source in sources:
            self.users.setdefault(source, set()).add(node_id)
            reads.add(source)

    def _schedule(self, node_id: str) -> None:
        """Bring ``node_id`` into the run (a lazy input asked for it, or an expansion made it):
        from the cache if its key is there, else queued with what it needs. A node that ran
        and whose result was released is brought back the same way."""
        if node_id in self.values or (node_id in self.scheduled and node_id not in self.done):
            return
        self.done.discard(node_id)
        node_def = self._def(node_id)
        entry = None if node_def.always_run else self.cache.get(self.keys[node_id])
        if entry is not None:
            self.values[node_id] = entry.outputs
            self.done.add(node_id)  # complete again (it may have run and been released)
            self.result.cached.append(node_id)
            if entry.ui:
                self.result.outputs[node_id] = entry.ui
            self.listener(ev.Event(ev.NODES_CACHED, self.run_id, data={
                "nodes": [node_id], "ui": {node_id: entry.ui} if entry.ui else {}}))
            self._available(node_id)
            return
        self._wait_for(node_id, eager_sources(node_def, self.specs[node_id],
                                              self.links[node_id]))

    def _available(self, node_id: str) -> None:
        for dependent in self.dependents.pop(node_id, ()):
            waiting = self.waiting.get(dependent)
            if waiting is None or node_id not in waiting:
                continue
            waiting.discard(node_id)
            if not waiting:
                heapq.heappush(self.ready, (self.priority[dependent], dependent))

    # -- running one node ----------------------------------------------------------------

    async def _step(self, node_id: str) -> None:
        if node_id in self.pending_expansion:
            self._resolve_expansion(node_id)
            return
        node_def = self._def(node_id)
        spec = self.specs[node_id]
        if node_def.check_lazy is not None and self._request_lazy(node_id, node_def, spec):
            return
        inputs = self._gather(node_id, node_def, spec)
        calls = calls_for(node_def, self.literals[node_id], inputs)
        self.calls[node_id] = calls
        self.listener(ev.Event(ev.NODE_STARTED, self.run_id, node_id,
                               self._event_data({"type": spec.type}, node_id)))
        links = self.links[node_id]
        static = all(len(items.keys) == 1 and name in links
                     and items.keys[0] == [self.keys[links[name][0]], links[name][1]]
                     for name, items in inputs.items())
        if node_def.is_async:
            task = asyncio.ensure_future(self._call_all_async(node_id, node_def, calls, static))
            self.in_flight[task] = node_id
            for _ in range(2):  # let it start (and reach its first await) right away:
                await asyncio.sleep(0)  # once for the task, once for gather's per-item tasks
            return
        self._finish(node_id, [self._call(node_id, node_def, c, static) for c in calls])

    def _request_lazy(self, node_id: str, node_def: NodeDef, spec: NodeSpec) -> bool:
        """Ask the node which lazy inputs it needs; True when it must wait for some."""
        requested = self.requested.setdefault(node_id, set())
        inputs = self._gather(node_id, node_def, spec)
        needs: set[str] = set()
        for call in calls_for(node_def, self.literals[node_id], inputs):
            if call.blocked is not None:
                continue
            asked = node_def.check_lazy(**call.kwargs)
            for name in asked or ():
                inp = node_def.inputs.get(name)
                if inp is None or not inp.lazy:
                    raise NodeError(f"check_lazy asked for '{name}', which is not a lazy "
                                    f"input of {node_def.type_name}", input=name)
                needs.add(name)
        sources = []
        for name in sorted(needs - requested):
            requested.add(name)
            link = self.links[node_id].get(name)
            if link is None:
                if name not in spec.inputs and not node_def.inputs[name].field.has_default:
                    raise NodeError(f"lazy input '{name}' is needed but nothing is connected "
                                    "and it has no default", input=name)
                continue
            sources.append(link[0])
        if not any(s not in self.values for s in sources):
            self._reads(node_id, sources)
            return False
        self._wait_for(node_id, sources)
        return True

    def _gather(self, node_id: str, node_def: NodeDef, spec: NodeSpec) -> dict[str, Items]:
        """The linked inputs' items (lazy inputs only once asked for)."""
        inputs: dict[str, Items] = {}
        requested = self.requested.get(node_id, ())
        for name, (node, output) in self.links[node_id].items():
            inp = node_def.inputs.get(name)
            if inp is not None and inp.lazy and name not in requested:
                continue
            source = self.values.get(node)
            if source is None:
                continue  # a lazy input asked for during check_lazy, not there yet
            inputs[name] = source[output]
        for name, value in self.injected.get(node_id, {}).items():
            inputs[name] = value
        return inputs

    def _ctx(self, node_id: str, node_def: NodeDef) -> NodeContext:
        return NodeContext(node_id=node_id, type_name=node_def.type_name, run_id=self.run_id,
                           settings=self.ex.settings, listener=self._node_listener(node_id),
                           interrupt=self.interrupt, workflow=self.original,
                           models=self.ex.models, extra=self.extra, registry=self.ex.registry)

    def _node_listener(self, node_id: str) -> ev.Listener:
        display = self.display.get(node_id)
        if display is None:
            return self.listener

        def relay(event: ev.Event) -> None:
            self.listener(ev.Event(event.kind, event.run_id, event.node,
                                   {**event.data, "display_node": display}))
        return relay

    def _event_data(self, data: dict[str, Any], node_id: str) -> dict[str, Any]:
        display = self.display.get(node_id)
        return {**data, "display_node": display} if display is not None else data

    def _prepare(self, node_id: str, node_def: NodeDef, call, static: bool) -> tuple:
        """One call before it runs: (its result, when blocked or cached and nothing is to
        run; else None, then its cache key, arguments and context)."""
        if call.blocked is not None:
            return self._blocked(node_id, node_def, call), None, None, None
        key = self._call_key(node_id, node_def, call, static)
        if key is not None:
            entry = self.cache.get(key)
            if entry is not None:
                return _Done(entry.outputs, entry.ui, key), None, None, None
        ctx = self._ctx(node_id, node_def) if node_def.wants_ctx else None
        kwargs = node_def.ordered(call.kwargs)
        if ctx is not None:
            kwargs = dict(kwargs, ctx=ctx)
        return None, key, kwargs, ctx

    def _call(self, node_id: str, node_def: NodeDef, call, static: bool) -> Any:
        done, key, kwargs, ctx = self._prepare(node_id, node_def, call, static)
        if done is not None:
            return done
        with released_after_long_node():
            return self._outcome(node_def, node_def.fn(**kwargs), ctx, key)

    async def _call_all_async(self, node_id: str, node_def: NodeDef, calls: list,
                              static: bool) -> list:
        async def one(call) -> Any:
            done, key, kwargs, ctx = self._prepare(node_id, node_def, call, static)
            if done is not None:
                return done
            with released_after_long_node():
                return self._outcome(node_def, await node_def.fn(**kwargs), ctx, key)
        if len(calls) == 1:
            return [await one(calls[0])]
        return list(await asyncio.gather(*(one(c) for c in calls)))

    def _blocked(self, node_id: str, node_def: NodeDef, call) -> "_Done":
        blocker: ExecutionBlocker = call.blocked
        if blocker.message is not None:
            self.listener(ev.Event(ev.LOG, self.run_id, node_id, self._event_data(
                {"message": f"blocked: {blocker.message}"}, node_id)))
        quiet = ExecutionBlocker(None)
        return _Done({o.name: ([quiet] if o.is_list else quiet) for o in node_def.outputs}, {},
                     None, blocked=True)

    def _call_key(self, node_id: str, node_def: NodeDef, call, static: bool) -> str | None:
        """The cache key of one call, or None when it is the node's own key (one call on
        plain inputs: the plan already looked it up)."""
        if static or node_def.always_run:
            return None
        # the fingerprint's value, not the node's key: the key also covers the whole lists
        # feeding the node, and a list that grows must not re-run the items it had
        payload = [node_def.type_name, node_def.version, self.literals[node_id], call.keys,
                   outside_state(node_def, self.literals[node_id], self.ex.settings,
                                 self.plan.nonce)]
        return "call:" + _digest(payload)

    def _outcome(self, node_def: NodeDef, returned: Any, ctx: NodeContext | None,
                 key: str | None) -> Any:
        if isinstance(returned, Expansion):
            return returned
        outputs = node_def.outputs_from_result(returned)
        ui = ctx.ui if ctx is not None else {}
        if key is not None:
            self.cache.put(key, outputs, ui)
        return _Done(outputs, ui, key)

    def _finish(self, node_id: str, outcomes: list) -> None:
        """Record a node's calls: its outputs, or the graphs it expanded into."""
        calls = self.calls.pop(node_id, [])  # not kept: they hold the inputs' values
        if any(isinstance(o, Expansion) for o in outcomes):
            self._expand(node_id, outcomes, calls)
            return
        node_def = self._def(node_id)
        outputs, ui = merge_outputs(node_def, outcomes, self.keys[node_id])
        blocked = bool(outcomes) and all(getattr(o, "blocked", False) for o in outcomes)
        self._complete(node_id, node_def, outputs, ui, blocked)

    def _complete(self, node_id: str, node_def: NodeDef, outputs: dict[str, Items],
                  ui: dict[str, list], blocked: bool = False) -> None:
        if not node_def.always_run:
            self.cache.put(self.keys[node_id], outputs, ui)
        self.values[node_id] = outputs
        self.done.add(node_id)
        self.result.executed.append(node_id)
        if ui:
            self.result.outputs[node_id] = ui
        data = {"ui": ui, "blocked": True} if blocked else {"ui": ui}
        self.listener(ev.Event(ev.NODE_FINISHED, self.run_id, node_id,
                               self._event_data(data, node_id)))
        self._release(node_id)
        self._available(node_id)

    def _release(self, node_id: str) -> None:
        """Drop results that no node still to run needs (the cache may keep its own copy)."""
        for source in self.reads.pop(node_id, ()):
            users = self.users.get(source)
            if users is None:
                continue
            users.discard(node_id)
            if not users:
                del self.users[source]
                if source != node_id:
                    self.values.pop(source, None)
        if node_id not in self.users and not self.dependents.get(node_id):
            self.values.pop(node_id, None)

    # -- expansion -----------------------------------------------------------------------

    def _expand(self, node_id: str, outcomes: list, calls: list) -> None:
        depth = self.depth.get(node_id, 0) + 1
        if depth > MAX_EXPANSION_DEPTH:
            raise ExpansionError(f"expansions nested more than {MAX_EXPANSION_DEPTH} deep "
                                 "(does the node expand into itself without end?)")
        many = len(outcomes) > 1
        targets: list[str] = []
        for index, outcome in enumerate(outcomes):
            if not isinstance(outcome, Expansion):
                continue
            prefix = f"{node_id}/{index}/" if many else f"{node_id}/"
            call = calls[index]
            targets.extend(self._add_expansion(node_id, prefix, outcome, depth, call))
        self.pending_expansion[node_id] = outcomes
        self.priority[node_id] = self.priority[node_id] + (float("inf"),)
        self._wait_for(node_id, list(dict.fromkeys(targets)))

    def _add_expansion(self, parent: str, prefix: str, expansion: Expansion,
                       depth: int, call) -> list[str]:
        """Validate the new nodes, key them by content and schedule what the outputs need.
        A Python value handed to a new node is keyed by the expanding node's input it is
        (so a longer chain over the same input shares its first steps), else by the
        expanding node's own key."""
        from .validate import literal_issue

        parent_def = self._def(parent)
        self.expanded_count += len(expansion.nodes)
        if self.expanded_count > MAX_EXPANDED_NODES:
            raise ExpansionError(f"expansion made more than {MAX_EXPANDED_NODES} nodes")
        for name in expansion.outputs:
            if name not in parent_def.output_names:
                raise ExpansionError(f"the expansion sets output '{name}', which "
                                     f"{parent_def.type_name} does not declare")
        graph = nx.DiGraph()
        defs: dict[str, NodeDef] = {}
        for local, raw in expansion.nodes.items():
            full = prefix + local
            type_name = raw.get("type")
            node_def = self.registry.get(type_name)
            if node_def is not None:
                node_def = node_def.for_inputs(raw.get("inputs", {}))
            if node_def is None or node_def.subgraph is not None:
                raise ExpansionError(f"the expansion's node '{full}' has unknown type "
                                     f"{type_name!r}")
            defs[local] = node_def
            graph.add_node(local)
            for name, value in raw.get("inputs", {}).items():
                inp = node_def.inputs.get(name)
                if inp is None:
                    raise ExpansionError(f"the expansion's node '{full}' ({type_name}) has no "
                                         f"input '{name}'")
                link = _builder_link(value)
                if link is not None:
                    source = expansion.nodes.get(link[0])
                    if source is None:
                        raise ExpansionError(f"the expansion's node '{full}' links to "
                                             f"'{link[0]}', which the expansion does not have")
                    source_def = self.registry.get(source.get("type"))
                    if source_def is not None and link[1] not in source_def.output_names:
                        raise ExpansionError(f"the expansion's node '{full}' links to output "
                                             f"'{link[1]}' of '{prefix + link[0]}', which "
                                             f"{source_def.type_name} does not have")
                    graph.add_edge(link[0], local)
                elif _is_json(value):
                    issue = literal_issue(inp, value, self.ex.settings)
                    if issue is not None:
                        raise ExpansionError(f"the expansion's node '{full}' input '{name}': "
                                             f"{issue[1]}")
            for name, inp in node_def.inputs.items():
                if inp.required and name not in raw.get("inputs", {}):
                    raise ExpansionError(f"the expansion's node '{full}' ({type_name}) misses "
                                         f"required input '{name}'")
        cycle = next((c for c in nx.simple_cycles(graph)), None)
        if cycle is not None:
            names = ", ".join(f"'{prefix + n}'" for n in cycle)
            raise ExpansionError(f"the expansion has a cycle: nodes {names} depend on each other")
        parent_key = self.keys[parent]
        base = self.priority[parent]
        for position, local in enumerate(nx.lexicographical_topological_sort(
                graph, key=list(expansion.nodes).index)):
            full = prefix + local
            raw = expansion.nodes[local]
            node_def = defs[local]
            inputs, literal_values, injected, key_inputs = {}, {}, {}, {}
            for name, value in raw.get("inputs", {}).items():
                link = _builder_link(value)
                if link is not None:
                    inputs[name] = {"node": prefix + link[0], "output": link[1]}
                elif _is_json(value):
                    inputs[name] = value
                else:
                    source = next((n for n, v in call.kwargs.items() if v is value
                                   and n in call.keys), None)
                    token = (_digest(["input", call.keys[source]]) if source is not None
                             else f"{parent_key}:{full}:{name}")
                    injected[name] = Items([value], [token])
                    key_inputs[name] = token
            spec = NodeSpec.model_construct(type=node_def.type_name, version=None,
                                            inputs=inputs, ui=None)
            literal_values = literal_inputs(node_def, inputs)
            for name in injected:
                literal_values.pop(name, None)
            self.specs[full] = spec
            self.links[full] = links_of(spec)
            self.literals[full] = literal_values
            self.injected[full] = injected
            self.keys[full] = node_key(node_def, inputs, {**literal_values, **key_inputs},
                                       self.keys, self.ex.settings, self.plan.nonce)
            self.priority[full] = base + (position,)
            self.depth[full] = depth
            self.display[full] = self.display.get(parent, parent)
        targets = []
        for name, value in expansion.outputs.items():
            link = _builder_link(value)
            if link is not None:
                if link[0] not in expansion.nodes:
                    raise ExpansionError(f"output '{name}' links to '{link[0]}', which the "
                                         "expansion does not have")
                targets.append(prefix + link[0])
        return targets

    def _resolve_expansion(self, node_id: str) -> None:
        outcomes = self.pending_expansion.pop(node_id)
        node_def = self._def(node_id)
        many = len(outcomes) > 1
        resolved = []
        for index, outcome in enumerate(outcomes):
            if not isinstance(outcome, Expansion):
                resolved.append(outcome)
                continue
            prefix = f"{node_id}/{index}/" if many else f"{node_id}/"
            outputs: dict[str, Any] = {}
            for spec in node_def.outputs:
                value = outcome.outputs.get(spec.name)
                link = _builder_link(value)
                if link is not None:
                    outputs[spec.name] = self.values[prefix + link[0]][link[1]]
                elif spec.name in outcome.outputs:
                    outputs[spec.name] = Items(list(value) if spec.is_list else [value], None)
                else:
                    raise ExpansionError(f"the expansion does not set output '{spec.name}'")
            resolved.append(_Done(outputs, {}, None, items=True))
        outputs, ui = merge_outputs(node_def, resolved, self.keys[node_id])
        self._complete(node_id, node_def, outputs, ui)

    def _error_info(self, node_id: str | None, exc: Exception) -> dict[str, Any]:
        user_error = isinstance(exc, NodeError)
        info = {
            "node": node_id,
            "node_type": self.specs[node_id].type if node_id in self.specs else None,
            "type": type(exc).__name__,
            "message": str(exc) or type(exc).__name__,
            "input": getattr(exc, "input", None) if user_error else None,
            "traceback": None if user_error else "".join(traceback.format_exception(exc)),
        }
        if node_id in self.display:
            info["display_node"] = self.display[node_id]
        return info


@dataclass
class _Done:
    """One call's outputs (by name), what it reported, and its cache key."""

    outputs: dict[str, Any]
    ui: dict[str, list]
    key: str | None
    blocked: bool = False
    items: bool = False
    """``outputs`` already hold :class:`Items` (an expansion's resolved outputs)."""


def _builder_link(value: Any) -> tuple[str, str] | None:
    if (isinstance(value, dict) and set(value) == {"node", "output"}
            and all(isinstance(v, str) for v in value.values())):
        return value["node"], value["output"]
    return None


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
    return _digest([node_def.type_name, node_def.version, literals, links,
                    outside_state(node_def, literals, settings, nonce)])


def outside_state(node_def: NodeDef, literals: dict[str, Any], settings: Settings,
                  nonce: str) -> Any:
    """What a key holds besides the inputs: the node's fingerprint of the outside world (a
    file's mtime), or the run's nonce for nodes that must always run."""
    if node_def.always_run:
        return nonce
    if node_def.fingerprint is None:
        return None
    try:
        return node_def.fingerprint(dict(literals), settings)
    except Exception:  # the node itself will report the problem when it runs
        return nonce


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


__all__ = ["Executor", "RunResult", "node_key", "literal_inputs", "Problem"]
