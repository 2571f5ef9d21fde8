"""List sources and converters. A node downstream of a list runs once per item."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import AnyType, Field, Image, NodeError, node


@node(category="lists", display_name="Prompt List")
def PromptList(text: str = Field("a red digit one\na blue digit two", multiline=True)
               ) -> list[str]:
    """One prompt per non-empty line; what follows runs once per prompt."""
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise NodeError("no prompts: write one per line", input="text")
    return prompts


@node(category="lists", display_name="Int Range")
def IntRange(start: int = Field(0, ge=-2**63, le=2**63 - 1), count: int = Field(4, ge=1, le=10000),
             step: int = Field(1, ge=-2**32, le=2**32)) -> list[int]:
    """``count`` integers: start, start + step, ..."""
    return [start + i * step for i in range(count)]


@node(category="lists", display_name="Float Range")
def FloatRange(start: float = 0.0, stop: float = 1.0, count: int = Field(5, ge=1, le=10000)
               ) -> list[float]:
    """``count`` evenly spaced numbers from start to stop (both included)."""
    if count == 1:
        return [float(start)]
    return [start + (stop - start) * i / (count - 1) for i in range(count)]


@node(category="lists", display_name="Seed List")
def SeedList(seed: int = Field(0, ge=0, le=2**64 - 1), count: int = Field(4, ge=1, le=10000)
             ) -> list[int]:
    """``count`` consecutive seeds from ``seed`` (as A1111's batch count does)."""
    if seed + count - 1 > 2**64 - 1:
        raise NodeError("the last seed would pass 2**64 - 1", input="count")
    return [seed + i for i in range(count)]


@node(category="lists", display_name="Image Batch To List")
def ImageBatchToList(images: Image) -> list[Image]:
    """Each image of a batch as an item of its own (a batch of one each)."""
    return [images[i:i + 1] for i in range(images.shape[0])]


@node(category="lists", display_name="Image List To Batch")
def ImageListToBatch(images: list[Image]) -> Image:
    """All the items in one batch; they must have one size."""
    import torch

    sizes = {tuple(image.shape[1:]) for image in images}
    if len(sizes) > 1:
        listed = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(sizes))
        raise NodeError(f"the images differ in size ({listed}); resize them first",
                        input="images")
    return torch.cat(list(images), dim=0)


class XY(NamedTuple):
    x: list[AnyType]
    y: list[AnyType]


@node(category="lists", display_name="XY Product")
def XYProduct(x: list[AnyType], y: list[AnyType]) -> XY:
    """Every pairing of an x value with a y value, row by row (y outer, x inner), as two
    lists of equal length: feed them to two inputs and the node runs once per grid cell."""
    return XY([value for _ in y for value in x], [value for value in y for _ in x])
