"""nodeflow-tiny: the small text-to-image model that ships with nodeflow, and how it is made.

Stable Diffusion's architecture (VAE, UNet with cross-attention, CLIP text encoder) at toy
size, trained here on scikit-learn's handwritten digits painted in named colours, so that the
example workflows make a real picture offline. Modules: `palette` (prompt words), `data`
(the coloured digits and their captions), `configs` (component sizes), `train` (reproduce the
model), `judge` (an independent digit and colour classifier), `quality` (the numbers).

Importing this package imports neither torch nor NumPy.
"""
from ..diffusion.checkpoint_paths import BUILTIN_CHECKPOINT as MODEL_NAME
from .palette import COLORS, PALETTE, WORDS

__all__ = ["COLORS", "MODEL_NAME", "PALETTE", "WORDS"]
