"""Image filters and latent noise: an example nodeflow pack (public API only)."""
from .color import ColorAdjust
from .filters import GaussianBlur, Sharpen
from .noise import LatentNoise

__version__ = "1.0.0"
__all__ = ["ColorAdjust", "GaussianBlur", "LatentNoise", "Sharpen"]
