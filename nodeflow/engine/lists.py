"""Lists: every output is a list of items, each with its own cache key.

The rule (the same as ComfyUI's): a node whose linked inputs carry several items runs once per
item. With inputs of different lengths it runs as many times as the longest; a shorter input
repeats its last item (zip, then pad with the last item; not a cartesian product). An input
annotated ``list[T]`` takes the whole list in one call instead. An output annotated
``list[T]`` adds each element as an item of its own; other outputs give one item per call.
Items of a list output that are plain numbers, strings or booleans are keyed by their value.
An input whose list is empty makes the node run zero times (ComfyUI fails there).
An :class:`~nodeflow.flow.ExecutionBlocker` among a call's inputs skips that call: its
outputs are the blocker (nothing downstream runs, and no error).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..declare import NodeDef
from ..flow import ExecutionBlocker


@dataclass
class Items:
    """An output's items and their keys (``[call key, output]`` or ``[..., index]``)."""

    values: list[Any]
    keys: list[Any] | None


@dataclass
class Call:
    kwargs: dict[str, Any]
    keys: dict[str, Any]
    """The item keys this call reads, by input name (what its cache key is made of)."""
    blocked: ExecutionBlocker | None = None


def calls_for(node_def: NodeDef, literals: dict[str, Any], inputs: dict[str, Items]
              ) -> list[Call]:
    """The calls of one node: one per item of its longest mapped input (see module doc)."""
    if all(len(items.values) == 1 and not node_def.inputs[name].is_list
           for name, items in inputs.items()) and node_def.check_lazy is None and not any(
               spec.is_list for spec in node_def.inputs.values()):
        return [_single(literals, inputs)]  # the common case: one value per input
    mapped = {name: items for name, items in inputs.items()
              if not node_def.inputs[name].is_list}
    count = max((len(items.values) for items in mapped.values()), default=1)
    if any(not items.values for items in mapped.values()):
        count = 0
    base = dict(literals)
    for name, spec in node_def.inputs.items():
        if spec.is_list and name in base:
            value = base[name]
            base[name] = list(value) if isinstance(value, list) else [value]
        elif name not in base and name not in inputs:
            base[name] = None  # a lazy input nobody asked for
    whole = {name: items for name, items in inputs.items() if name not in mapped}
    whole_values = {name: list(items.values) for name, items in whole.items()}
    whole_keys = {name: list(items.keys) for name, items in whole.items()}
    blocked_whole = next((v for items in whole.values() for v in items.values
                          if isinstance(v, ExecutionBlocker)), None)
    calls = []
    for index in range(count):
        kwargs = dict(base)
        kwargs.update(whole_values)
        keys: dict[str, Any] = dict(whole_keys)
        blocked = blocked_whole
        for name, items in mapped.items():
            at = min(index, len(items.values) - 1)
            value = items.values[at]
            kwargs[name] = value
            keys[name] = items.keys[at]
            if blocked is None and isinstance(value, ExecutionBlocker):
                blocked = value
        calls.append(Call(kwargs, keys, blocked))
    return calls


def _single(literals: dict[str, Any], inputs: dict[str, Items]) -> Call:
    kwargs = dict(literals)
    keys = {}
    blocked = None
    for name, items in inputs.items():
        value = kwargs[name] = items.values[0]
        keys[name] = items.keys[0]
        if blocked is None and isinstance(value, ExecutionBlocker):
            blocked = value
    return Call(kwargs, keys, blocked)


def item_key(base: str, output: str, index: int, value: Any) -> Any:
    """The key of one item of a list output. A number, string or boolean is keyed by its
    value, so a prompt list that grows by a line re-runs the work of that line only."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return ["=", value]
    return [base, output, index]


def merge_outputs(node_def: NodeDef, outcomes: list, node_key: str
                  ) -> tuple[dict[str, Items], dict[str, list]]:
    """Join the calls' outputs into one :class:`Items` per output, and their reports."""
    merged = {spec.name: Items([], []) for spec in node_def.outputs}
    ui: dict[str, list] = {}
    single = len(outcomes) == 1
    for index, done in enumerate(outcomes):
        base = done.key or (node_key if single else f"{node_key}#{index}")
        for spec in node_def.outputs:
            target = merged[spec.name]
            value = done.outputs[spec.name]
            if done.items:
                keys = value.keys or [[base, spec.name, k] for k in range(len(value.values))]
                target.values.extend(value.values)
                target.keys.extend(keys)
            elif spec.is_list:
                target.values.extend(value)
                target.keys.extend(item_key(base, spec.name, k, v) for k, v in enumerate(value))
            else:
                target.values.append(value)
                target.keys.append([base, spec.name])
        for kind, values in (done.ui or {}).items():
            ui.setdefault(kind, []).extend(values)
    return merged, ui
