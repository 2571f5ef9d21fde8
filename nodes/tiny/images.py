"""SideBySide: two image batches in one picture, to compare them at a glance."""
from __future__ import annotations

from nodeflow import Image, NodeError, node


@node(category="image", display_name="Side By Side")
def SideBySide(left: Image, right: Image) -> Image:
    """``left`` and ``right`` joined along the width (chain it for more). Heights must match;
    a batch of one is repeated to the other's batch size."""
    import torch

    if left.ndim != 4 or right.ndim != 4:
        raise NodeError("expected IMAGE batches [batch, height, width, channels]", input="right")
    if left.shape[1] != right.shape[1] or left.shape[3] != right.shape[3]:
        raise NodeError(f"heights or channels differ: {tuple(left.shape)} and {tuple(right.shape)}",
                        input="right")
    batch = max(left.shape[0], right.shape[0])
    if {left.shape[0], right.shape[0]} - {1, batch}:
        raise NodeError(f"batch sizes {left.shape[0]} and {right.shape[0]} do not match", input="right")
    return torch.cat([left.expand(batch, -1, -1, -1), right.expand(batch, -1, -1, -1)], dim=2)
