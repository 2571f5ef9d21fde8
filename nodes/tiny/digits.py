"""DigitImage: a picture of the kind nodeflow-tiny was trained on, without any file."""
from __future__ import annotations

from nodeflow import Field, Image, NodeError, node
from nodeflow.tiny.palette import COLORS


@node(category="image/tiny", display_name="Digit Image")
def DigitImage(digit: int = Field(3, ge=0, le=9), index: int = Field(0, ge=0, le=173),
               color: str = Field("white", choices=list(COLORS)),
               background: str = Field("black", choices=list(COLORS))) -> Image:
    """The ``index``-th handwritten ``digit`` of scikit-learn's digits data (CC BY 4.0),
    upsampled to 32x32 and painted ``color`` on ``background``, exactly as nodeflow-tiny saw
    it in training: a start picture for img2img and the VAE nodes."""
    import torch

    from nodeflow.tiny import data

    if color == background:
        raise NodeError(f"the digit and the background are both {color}: it would not show",
                        input="background")
    mask = data.masks()[data.example_index(digit, index)]
    return torch.from_numpy(data.paint(mask, color, background)).float()[None]
