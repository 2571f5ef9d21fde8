"""nodeflow-tiny helpers: the model's training pictures as an image source, and a side-by-side
image for comparisons. A built-in pack; importing it imports neither torch nor NumPy."""
from .digits import DigitImage
from .images import SideBySide

__all__ = ["DigitImage", "SideBySide"]
