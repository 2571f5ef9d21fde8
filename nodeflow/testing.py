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

from .contract_values import difference, range_problem, snapshot  # the run-time checks
from .declare import SEMVER, NodeDef
from .engine.context import NodeContext
from .engine.events import Event
from .engine.executor import literal_inputs, node_key
from .engine.validate import literal_problem
from .flow import ExecutionBlocker, Expansion
from .settings import Settings


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
    node_def = node_def.for_inputs(kwargs)
    result = node_def.fn(**node_def.ordered(kwargs))
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
    if node_def.fingerprint is not None:
        problems = fingerprint_problems(node_def, literals, settings)
        if problems:
            return problems
    if keys[0] != keys[1]:
        return ["the cache key differs between two runs with the same inputs"]
    for name, value in literals.items():
        changed = _another_value(node_def.inputs[name], value, settings)
        if changed is not None:
            other = node_key(node_def, {}, {**literals, name: changed}, {}, settings, nonce="0")
            if other == keys[0]:
                return [f"changing input '{name}' does not change the cache key (does its "
                        "fingerprint replace the inputs?)"]
    return []


def fingerprint_problems(node_def: NodeDef, literals: dict[str, Any], settings: Settings
                         ) -> list[str]:
    """A fingerprint must answer, with JSON data, the same twice while nothing changed."""
    values = []
    for _ in range(2):
        try:
            values.append(node_def.fingerprint(dict(literals), settings))
        except Exception as exc:  # noqa: BLE001 - reported as the finding
            return [f"its fingerprint raised {type(exc).__name__}: {exc}; the node then never "
                    "comes from the cache: make the fingerprint handle these inputs"]
    try:
        texts = [json.dumps(v, sort_keys=True) for v in values]
    except (TypeError, ValueError):
        return [f"its fingerprint returned a {type(values[0]).__name__}, not JSON data "
                "(numbers, strings, lists, dicts): the cache key would hold its repr, which "
                "can change from run to run; return plain values such as a file's mtime"]
    if texts[0] != texts[1]:
        return [f"its fingerprint gave {texts[0][:60]} then {texts[1][:60]} for the same "
                "inputs, so the node never comes from the cache: return what identifies the "
                "outside state (a file's mtime), or declare `@node(always_run=True)`"]
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
    """Every contract check on one node, each finding a sentence that starts with the node's
    type name. With ``sample_inputs`` (values for inputs that need links, and any literal you
    want) the node also runs: its outputs are checked against its declaration and their
    socket types' dtype and range, its inputs must be unchanged after the call, and a second
    run must give the same outputs (unless it is ``always_run`` or has no outputs: SaveImage
    saves once)."""
    settings = settings or Settings(base_dir=Path.cwd() / ".nodeflow-test")
    problems = static_problems(node_def)
    sample_inputs = dict(sample_inputs or {})
    problems += key_problems(node_def, sample_inputs, settings)
    named = [f"{node_def.type_name}: {p}" for p in problems]
    missing = [n for n, s in node_def.inputs.items()
               if s.required and n not in sample_inputs]
    if missing:
        if sample_inputs:
            named.append(f"{node_def.type_name}: no sample value for required input(s) "
                         f"{', '.join(missing)}, so its outputs could not be checked")
        return named
    before = {name: snapshot(value) for name, value in sample_inputs.items()}
    try:
        outputs, ui, _ = run_node(node_def, sample_inputs, settings)
    except TypeError as exc:
        return named + [f"{node_def.type_name}: its outputs do not match its declaration: {exc}"]
    runtime = purity_problems(node_def, before, sample_inputs)
    if set(outputs) != set(node_def.output_names):
        runtime.append(f"it returned outputs {sorted(outputs)}, declared "
                       f"{sorted(node_def.output_names)}")
    if not isinstance(ui, dict):
        runtime.append("what it reported is not a dict")
    runtime += value_problems(node_def, outputs)
    if (not runtime and node_def.outputs and not node_def.always_run
            and "expansion" not in outputs):  # a node with no outputs is not run twice
        again, _, _ = run_node(node_def, sample_inputs, settings)
        runtime += determinism_problems(node_def, outputs, again)
    return named + [f"{node_def.type_name}: {p}" for p in runtime]


def purity_problems(node_def: NodeDef, before: dict[str, Any], after: dict[str, Any]
                    ) -> list[str]:
    """Inputs the node changed in place (``before`` holds snapshots taken before the call)."""
    problems = []
    for name, copy in before.items():
        found = difference(copy, after[name], name)
        if found:
            problems.append(
                f"input '{name}' was changed in place ({found}); never modify an input, the "
                "cache hands the same value to other nodes: work on a copy (`x = x.clone()`) "
                "or use out-of-place operations (`x * 0.5`, not `x.mul_(0.5)`)")
    return problems


def _items(node_def: NodeDef, outputs: dict[str, Any]):
    """(output name, one value) for every value an output carries (each item of a list)."""
    for spec in node_def.outputs:
        value = outputs.get(spec.name)
        for item in (value if spec.is_list else [value]):
            if not isinstance(item, ExecutionBlocker):
                yield spec, item


def value_problems(node_def: NodeDef, outputs: dict[str, Any]) -> list[str]:
    """Outputs whose dtype or range breaks their socket type's promise (IMAGE: float32 in
    0..1, MASK the same, LATENT finite float samples, ...)."""
    problems = []
    for spec, item in _items(node_def, outputs):
        problem = range_problem(spec.socket.type_name, item)
        if problem:
            problems.append(f"output '{spec.name}' ({spec.socket.type_name}) {problem}")
    return problems


def determinism_problems(node_def: NodeDef, first: dict[str, Any], second: dict[str, Any]
                         ) -> list[str]:
    """Outputs that differ between two runs with the same inputs."""
    problems = []
    for spec in node_def.outputs:
        found = difference(snapshot(first.get(spec.name)), second.get(spec.name), spec.name)
        if found:
            problems.append(
                f"output '{spec.name}' differs between two runs with the same inputs "
                f"({found}), so a cached result would be wrong: draw random numbers from a "
                "generator seeded by a `seed` input (`torch.Generator().manual_seed(seed)`), "
                "or declare `@node(always_run=True)` if it must change on every run")
    return problems


def pack_problems(nodes: Iterable[Any], samples: dict[str, dict[str, Any]] | None = None,
                  settings: Settings | None = None) -> list[str]:
    """:func:`contract_problems` for every node among ``nodes`` (e.g. ``vars(module).values()``),
    each line prefixed with the node's type name."""
    samples = samples or {}
    problems = []
    for obj in nodes:
        if isinstance(obj, NodeDef):
            problems += contract_problems(obj, samples.get(obj.type_name), settings)
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
