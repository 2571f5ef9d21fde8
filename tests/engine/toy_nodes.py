"""Tiny nodes for testing the engine without torch. ``CALLS`` records which types ran."""
from __future__ import annotations

import time
from typing import Literal, NamedTuple

from nodeflow import AnyType, Field, Image, Latent, NodeError, migration, node

CALLS: list[str] = []


class Blob:
    """A value that tests can hold a weak reference to."""

    def __init__(self, n: int):
        self.n = n

    def size_bytes(self) -> int:
        return 1000


BlobType = type("BlobType", (), {})


@node(category="test")
def Const(value: int = Field(1, ge=0, le=100)) -> int:
    CALLS.append("Const")
    return value


@node(category="test")
def Add(a: int, b: int = 0) -> int:
    """a + b."""
    CALLS.append("Add")
    return a + b


@node(category="test")
def Scale(x: float, factor: float = Field(1.0, ge=0.0, le=10.0)) -> float:
    CALLS.append("Scale")
    return x * factor


@node(category="test")
def Pick(mode: Literal["a", "b"] = "a", text: str = Field("", max_length=20)) -> str:
    CALLS.append("Pick")
    return mode + text


class Pair(NamedTuple):
    number: int
    label: str


@node(category="test")
def Split(value: int) -> Pair:
    CALLS.append("Split")
    return Pair(value, f"#{value}")


@node(category="test", output=True)
def Show(value: AnyType, *, ctx) -> None:
    """Report the value as text."""
    CALLS.append("Show")
    ctx.report(text=[repr(value)])


@node(category="test", output=True)
def Sink(x: int, flag: bool = False) -> None:
    CALLS.append("Sink")


@node(category="test", always_run=True)
def Clock() -> int:
    CALLS.append("Clock")
    return time.perf_counter_ns()


@node(category="test")
def Fail(x: int) -> int:
    CALLS.append("Fail")
    raise RuntimeError("something broke inside")


@node(category="test")
def Refuse(x: int) -> int:
    CALLS.append("Refuse")
    raise NodeError("x must be even", input="x")


@node(category="test")
def Steps(x: int, steps: int = 5, *, ctx) -> int:
    CALLS.append("Steps")
    for i in range(steps):
        ctx.progress(i + 1, steps)
    return x


@node(category="test")
def MakeLatent() -> Latent:
    CALLS.append("MakeLatent")
    return {"samples": [0.0]}


@node(category="test")
def Decode(latent: Latent) -> Image:
    CALLS.append("Decode")
    return [1.0]


@node(category="test")
def MakeBlob(n: int = 1) -> AnyType:
    CALLS.append("MakeBlob")
    return Blob(n)


@node(category="test")
def UseBlob(blob: AnyType) -> AnyType:
    CALLS.append("UseBlob")
    return Blob(blob.n + 1)


@node(category="test")
def BadOutput(x: int) -> int:
    """Declares INT, returns a string."""
    return "not an int"


@node(category="test", version="2.1.0")
def Blur(image: AnyType, radius: float = 2.0) -> AnyType:
    return image


@migration("Blur", from_version="1", to_version="2.0.0")
def blur_size_renamed(inputs: dict) -> dict:
    """Blur 1.x called the radius 'size' and defaulted it to 1.0; 2.x defaults to 2.0."""
    inputs["radius"] = inputs.pop("size", 1.0)
    return inputs
