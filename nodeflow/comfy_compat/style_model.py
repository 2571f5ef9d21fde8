"""ComfyUI's STYLE_MODEL as packs see it: an object with ``get_cond(clip_vision_output)``
(each picture's style tokens, [pictures, tokens, dim]), run by nodeflow's style model
(:mod:`nodeflow.diffusion.style_model`). Packs that build their own conditioning from the
tokens (Redux-style strength and downsampling nodes) call it."""
from __future__ import annotations

from typing import Any


class StyleModel:
    def __init__(self, ref: Any):
        self.ref = ref

    def get_cond(self, clip_vision_output: Any) -> Any:
        from ..diffusion.runtime import Runtime
        from ..diffusion.style_model import picture_tokens
        from .core_classes import calling_ctx

        ctx = calling_ctx("StyleModel.get_cond")
        return picture_tokens(self.ref.load(ctx, Runtime.for_ctx(ctx)), clip_vision_output)


def is_style_model_ref(value: Any) -> bool:
    return type(value).__name__ == "StyleModelRef" and hasattr(value, "load")
