"""Tiny nodes for lists, lazy inputs, blocking, async and expansion (no torch).
``CALLS`` records (type, value) for each call, so tests count executions per item."""
from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from nodeflow import (AnyType, ExecutionBlocker, Field, GraphBuilder, NodeError, node)

CALLS: list[tuple[str, object]] = []


@node(category="test")
def Numbers(start: int = 0, count: int = Field(3, ge=0, le=100)) -> list[int]:
    """start, start+1, ... (count items)."""
    CALLS.append(("Numbers", start))
    return list(range(start, start + count))


@node(category="test")
def Words(text: str = "a\nb") -> list[str]:
    """One item per line."""
    CALLS.append(("Words", text))
    return text.splitlines()


@node(category="test")
def Inc(x: int, by: int = 1) -> int:
    CALLS.append(("Inc", x))
    return x + by


@node(category="test")
def Label(word: str, n: int) -> str:
    CALLS.append(("Label", (word, n)))
    return f"{word}{n}"


@node(category="test")
def Total(xs: list[int]) -> int:
    """Sum of the whole list, in one call."""
    CALLS.append(("Total", tuple(xs)))
    return sum(xs)


@node(category="test", output=True)
def Collect(value: AnyType, *, ctx) -> None:
    """Report each item it gets (it runs once per item)."""
    CALLS.append(("Collect", value))
    ctx.report(values=[value])


@node(category="test", output=True)
def CollectAll(values: list[AnyType], *, ctx) -> None:
    CALLS.append(("CollectAll", tuple(values)))
    ctx.report(values=[list(values)])


def _pick_needs(which: bool, yes=None, no=None):
    return ["yes"] if which else ["no"]


@node(category="test", check_lazy=_pick_needs)
def Choose(which: bool, yes: AnyType = Field(lazy=True), no: AnyType = Field(lazy=True)
         ) -> AnyType:
    """yes if which else no; only the branch picked runs."""
    CALLS.append(("Choose", which))
    return yes if which else no


def _greedy(x: int = None, extra: int = None):
    return ["extra"]


@node(category="test", check_lazy=_greedy)
def NeedsExtra(x: int, extra: int | None = Field(None, lazy=True)) -> int:
    return x + (extra or 0)


def _wrong_name(**kwargs):
    return ["nope"]


@node(category="test", check_lazy=_wrong_name)
def AsksWrong(x: AnyType = Field(lazy=True)) -> AnyType:
    return x


@node(category="test")
def Gate(value: AnyType, open: bool = True, message: str = "") -> AnyType:
    """Pass the value on, or block what follows."""
    CALLS.append(("Gate", open))
    return value if open else ExecutionBlocker(message or None)


@node(category="test")
async def Sleep(x: int, seconds: float = 0.2) -> int:
    CALLS.append(("Sleep", x))
    await asyncio.sleep(seconds)
    return x


@node(category="test")
def Busy(x: int, seconds: float = 0.2) -> int:
    """Blocks its thread (a sync node) for ``seconds``."""
    CALLS.append(("Busy", x))
    time.sleep(seconds)
    return x


@node(category="test")
async def AsyncFail(x: int) -> int:
    await asyncio.sleep(0)
    raise NodeError("async node refused", input="x")


@node(category="test")
def RepeatInc(x: int, times: int = Field(3, ge=0, le=50)) -> int:
    """x + times, as a chain of Inc nodes made at run time."""
    CALLS.append(("RepeatInc", times))
    if times == 0:
        return x
    g = GraphBuilder()
    current: object = x
    for _ in range(times):
        current = g.node("Inc", x=current).out("int")
    return g.finish(int=current)


@node(category="test")
def Halve(x: int, depth: int = Field(3, ge=0, le=200)) -> int:
    """Expands into itself ``depth`` times (nested expansion), adding 1 each level."""
    CALLS.append(("Halve", depth))
    if depth == 0:
        return x
    g = GraphBuilder()
    inner = g.node("Halve", x=g.node("Inc", x=x).out("int"), depth=depth - 1)
    return g.finish(int=inner.out("int"))


@node(category="test")
def Forever(x: int) -> int:
    """Expands into itself without end."""
    g = GraphBuilder()
    return g.finish(int=g.node("Forever", x=x).out("int"))


@node(category="test")
def BadExpansion(x: int, kind: str = "unknown") -> int:
    g = GraphBuilder()
    if kind == "unknown":
        return g.finish(int=g.node("NoSuchType", x=x).out("int"))
    a = g.node("Inc", id="a", x={"node": "b", "output": "int"})
    g.node("Inc", id="b", x=a.out("int"))
    return g.finish(int=a.out("int"))


class Both(NamedTuple):
    first: list[int]
    count: int


@node(category="test")
def Stats(xs: list[int]) -> Both:
    return Both(list(xs), len(xs))


@node(category="test", name="Mask Morphology+ | x")
def OddName(x: int = 1) -> int:
    CALLS.append(("OddName", x))
    return x * 10


def _always_extra(**_):
    return ["extra"]


@node(category="test", check_lazy=_always_extra)
def WantsExtra(x: int, extra: int | None = Field(lazy=True)) -> int:
    """An optional lazy input without a default, always asked for."""
    return x + (extra or 0)
