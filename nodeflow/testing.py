"""A contract test kit for node packs: the checks every node must pass, for any pack's tests.

Subclass :class:`NodeContract` in a pytest file and name the node and sample values for its
link-only inputs; pytest then runs every check on it::

    from nodeflow.testing import NodeContract
    from my_pack import Blur

    class TestBlur(NodeContract):
        node = Blur
        sample_inputs = {"image": torch.rand(1, 16, 16, 3)}

Or call :func:`contract_problems` on a node (or :func:`pack_problems` on a whole pack module)
and assert that the list is empty. Nothing here imports torch or pytest.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import threading
from pathlib import Path
from typing import Any, Iterable

from .engine.context import NodeContext
from .declare import SEMVER, NodeDef
from .engine.events import Event
from .engine.executor import literal_inputs, node_key
from .flow import Expansion
from .settings import Settings
from .engine.validate import literal_problem


def static_problems(node_def: NodeDef) -> list[str]:
    """What is wrong with a declaration itself: schema, defaults, version, metadata."""
    problems = []
    try:
        json.dumps(node_def.schema())
    except (TypeError, ValueError) as exc:
        problems.append(f"its schema is not JSON: {exc}")
    if not SEMVER.match(node_def.version):
        problems.append(f"version {node_def.version!r} is not semver")
    if not node_def.category.strip():
        problems.append("it has no category")
    if not node_def.description.strip():
        problems.append("it has no description (give the function a docstring)")
    for name, spec in node_def.inputs.items():
        if spec.field.has_default and spec.accepts_literal:
            # Choices from a callable depend on the user's folders: only their type is checked.
            dynamic = callable(spec.field.choices)
            problem = literal_problem(spec, spec.field.default, check_choices=not dynamic)
            if problem:
                problems.append(f"the default of input '{name}' does not validate: {problem}")
    return problems


def run_node(node_def: NodeDef, inputs: dict[str, Any], settings: Settings | None = None
             ) -> tuple[dict[str, Any], dict[str, list], list[Event]]:
    """Call the node as the executor would (defaults filled in, a real ``ctx``) and return
    (outputs by name, reported results, events it emitted). Raises what the node raises.
    An ``async def`` node is awaited; a node that expands returns ``{"expansion": Expansion}``
    (check its ``nodes`` and ``outputs``). Inputs are passed as given: a ``list[T]`` input
    takes a list, a lazy input you leave out is None."""
    settings = settings or Settings(base_dir=Path.cwd() / ".nodeflow-test")
    kwargs = {**literal_inputs(node_def, inputs), **inputs}
    events: list[Event] = []
    ctx = NodeContext(node_id="node", type_name=node_def.type_name, run_id="test",
                      settings=settings, listener=events.append, interrupt=threading.Event())
    if node_def.wants_ctx:
        kwargs["ctx"] = ctx
    for name in node_def.inputs:
        kwargs.setdefault(name, None)
    result = node_def.fn(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    if isinstance(result, Expansion):
        return {"expansion": result}, ctx.ui, events
    outputs = node_def.outputs_from_result(result)
    return outputs, ctx.ui, events


async def _awaited(awaitable):
    return await awaitable


def key_problems(node_def: NodeDef, inputs: dict[str, Any], settings: Settings) -> list[str]:
    """Cache keys must be stable for equal inputs and change when a literal changes."""
    literals = literal_inputs(node_def, {k: v for k, v in inputs.items()
                                         if k in node_def.inputs and node_def.inputs[k].accepts_literal})
    keys = [node_key(node_def, {}, literals, {}, settings, nonce=str(i)) for i in range(2)]
    if node_def.always_run:
        return [] if keys[0] != keys[1] else ["an always_run node got the same key twice"]
    if keys[0] != keys[1]:
        return ["the cache key differs between two runs with the same inputs"]
    for name, value in literals.items():
        changed = _another_value(node_def.inputs[name], value, settings)
        if changed is not None:
            other = node_key(node_def, {}, {**literals, name: changed}, {}, settings, nonce="0")
            if other == keys[0]:
                return [f"changing input '{name}' does not change the cache key"]
    return []


def _another_value(spec, value: Any, settings: Settings) -> Any:
    choices = spec.field.choice_list(settings)
    if choices:
        return next((c for c in choices if c != value), None)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        candidate = value + 1
        return candidate if literal_problem(spec, candidate) is None else value - 1
    if isinstance(value, str):
        return value + "x"
    return None


def contract_problems(node_def: NodeDef, sample_inputs: dict[str, Any] | None = None,
                      settings: Settings | None = None) -> list[str]:
    """Every contract check on one node; with ``sample_inputs`` (values for inputs that need
    links, and any literal you want) the node also runs and its outputs are checked against
    its declaration."""
    settings = settings or Settings(base_dir=Path.cwd() / ".nodeflow-test")
    problems = static_problems(node_def)
    sample_inputs = dict(sample_inputs or {})
    problems += key_problems(node_def, sample_inputs, settings)
    missing = [n for n, s in node_def.inputs.items()
               if s.required and n not in sample_inputs]
    if missing:
        return problems + [f"no sample value for required input(s) {', '.join(missing)}, so "
                           "its outputs could not be checked"] if sample_inputs else problems
    try:
        outputs, ui, _ = run_node(node_def, sample_inputs, settings)
    except TypeError as exc:
        return problems + [f"its outputs do not match its declaration: {exc}"]
    if set(outputs) != set(node_def.output_names):
        problems.append(f"it returned outputs {sorted(outputs)}, declared "
                        f"{sorted(node_def.output_names)}")
    if not isinstance(ui, dict):
        problems.append("what it reported is not a dict")
    return problems


def pack_problems(nodes: Iterable[Any], samples: dict[str, dict[str, Any]] | None = None,
                  settings: Settings | None = None) -> list[str]:
    """:func:`contract_problems` for every node among ``nodes`` (e.g. ``vars(module).values()``),
    each line prefixed with the node's type name."""
    samples = samples or {}
    problems = []
    for obj in nodes:
        if isinstance(obj, NodeDef):
            for line in contract_problems(obj, samples.get(obj.type_name), settings):
                problems.append(f"{obj.type_name}: {line}")
    return problems


class NodeContract:
    """Mixin for pytest classes (named ``Test...``): set ``node`` and ``sample_inputs``."""

    node: NodeDef
    sample_inputs: dict[str, Any] = {}

    def test_declaration(self) -> None:
        assert static_problems(self.node) == []

    def test_cache_keys(self, tmp_path) -> None:
        settings = Settings(base_dir=tmp_path)
        assert key_problems(self.node, dict(self.sample_inputs), settings) == []

    def test_outputs_match_declaration(self, tmp_path) -> None:
        settings = Settings(base_dir=tmp_path)
        assert contract_problems(self.node, dict(self.sample_inputs), settings) == []
