"""Switches that run only the branch they pick, a blocker, and a loop made by expansion."""
from __future__ import annotations

import json

from nodeflow import AnyType, ExecutionBlocker, Field, GraphBuilder, NodeError, node

SLOTS = ("input0", "input1", "input2", "input3")


def _switch_needs(index: int, **_: object) -> list[str]:
    return [SLOTS[index]]


@node(category="flow", display_name="Switch", check_lazy=_switch_needs)
def Switch(index: int = Field(0, ge=0, le=3),
           input0: AnyType | None = Field(None, lazy=True),
           input1: AnyType | None = Field(None, lazy=True),
           input2: AnyType | None = Field(None, lazy=True),
           input3: AnyType | None = Field(None, lazy=True)) -> AnyType:
    """Pass on input ``index``; only what feeds that input runs."""
    value = (input0, input1, input2, input3)[index]
    if value is None:
        raise NodeError(f"input{index} is selected but nothing is connected to it",
                        input=SLOTS[index])
    return value


def _if_needs(condition: bool, **_: object) -> list[str]:
    return ["if_true" if condition else "if_false"]


@node(category="flow", display_name="If", check_lazy=_if_needs)
def If(condition: bool, if_true: AnyType = Field(lazy=True),
       if_false: AnyType = Field(lazy=True)) -> AnyType:
    """``if_true`` when the condition holds, else ``if_false``; only that branch runs."""
    return if_true if condition else if_false


@node(category="flow", display_name="Block")
def Block(value: AnyType, block: bool = False, message: str = Field("", max_length=200)
          ) -> AnyType:
    """Pass the value on, or (``block``) stop every node that depends on it, without an error.
    A message is shown in the run's log."""
    return ExecutionBlocker(message or None) if block else value


@node(category="flow", display_name="Repeat")
def Repeat(value: AnyType, node_type: str = Field("LatentUpscaleBy", max_length=200),
           input: str = Field("latent", max_length=100),
           output: str = Field("latent", max_length=100),
           times: int = Field(2, ge=0, le=64),
           inputs: str = Field("{}", multiline=True, max_length=10000)) -> AnyType:
    """Apply ``node_type`` ``times`` times, each run's ``output`` fed to the next one's
    ``input`` (e.g. upscale a latent twice). ``inputs`` is a JSON object of the node's other
    inputs. The chain is made at run time (an expansion) and cached step by step."""
    try:
        others = json.loads(inputs)
    except ValueError as exc:
        raise NodeError(f"not JSON: {exc}", input="inputs") from None
    if not isinstance(others, dict):
        raise NodeError("must be a JSON object such as {\"scale_by\": 1.5}", input="inputs")
    if times == 0:
        return value
    g = GraphBuilder()
    current: object = value
    for _ in range(times):
        current = g.node(node_type, **{**others, input: current}).out(output)
    return g.finish(value=current)
