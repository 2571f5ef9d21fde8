"""Style models with ComfyUI's nodes: StyleModelLoader (models/style_models) and
StyleModelApply, which appends a picture's style tokens (from CLIP Vision Encode) to a prompt."""
from __future__ import annotations

from nodeflow import Conditioning, Field, NodeError, node, socket_type

from .clip_vision import ClipVisionOutput
from .loaders import _file_state, _load_file, model_names

StyleModel = socket_type("STYLE_MODEL", "#c09bd8",
                         doc="A T2I-Adapter style model (picture -> style tokens)")
STRENGTH_TYPES = ["multiply", "attn_bias"]


@node(category="loaders", display_name="Load Style Model",
      fingerprint=_file_state("style_models", "style_model_name"))
def StyleModelLoader(style_model_name: str = Field(choices=model_names("style_models")), *,
                     ctx) -> StyleModel:
    """A T2I-Adapter style model (such as t2iadapter_style_sd14v1) for Apply Style Model."""
    from nodeflow.diffusion.style_model import StyleModelRef

    ref, model = _load_file(ctx, "style_models", style_model_name, "style_model_name",
                            StyleModelRef)
    ctx.log(f"{style_model_name}: style model, {model.style_embedding.shape[1]} tokens "
            f"{model.proj.shape[1]} wide")
    return ref


@node(category="conditioning/style_model", display_name="Apply Style Model")
def StyleModelApply(conditioning: Conditioning, style_model: StyleModel,
                    clip_vision_output: ClipVisionOutput,
                    strength: float = Field(1.0, ge=0.0, le=10.0, step=0.001),
                    strength_type: str = Field("multiply", choices=STRENGTH_TYPES), *,
                    ctx) -> Conditioning:
    """Append the style tokens of the pictures to every entry of the prompt (the model then
    paints in their style). ``multiply`` scales the tokens by ``strength``; ``attn_bias``
    weights them in attention, which only models taking an attention mask (Flux) honour, so
    here it accepts strength 1 alone."""
    import torch

    from nodeflow.diffusion.conditioning import CondEntry
    from nodeflow.diffusion.conditioning import Conditioning as Cond
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.style_model import style_tokens

    if strength_type == "attn_bias" and strength != 1.0:
        raise NodeError("attn_bias weights the style tokens through an attention mask, which "
                        "nodeflow's models (SD 1.x, 2.x, XL) do not take; use multiply",
                        input="strength_type")
    model = style_model.load(ctx, Runtime.for_ctx(ctx))
    hidden = clip_vision_output.last_hidden_state
    if hidden.shape[-1] != model.width:
        raise NodeError(f"the style model reads {model.width}-wide CLIP vision tokens, this "
                        f"output's are {hidden.shape[-1]} wide (use the CLIP vision model it "
                        "was trained with, ViT-L/14 for TencentARC's)", input="clip_vision_output")
    tokens = style_tokens(model, clip_vision_output)
    if strength_type == "multiply":
        tokens = tokens * strength
    entries = []
    for entry in conditioning:
        if entry.cond.shape[-1] != tokens.shape[-1]:
            raise NodeError(f"the style model's tokens are {tokens.shape[-1]} wide, the "
                            f"prompt's {entry.cond.shape[-1]}: it belongs to another model "
                            "family", input="style_model")
        extra = tokens.to(entry.cond.dtype).expand(entry.cond.shape[0], -1, -1)
        entries.append(CondEntry(torch.cat((entry.cond, extra.to(entry.cond.device)), dim=1),
                                 entry.pooled, entry.extra))
    return Cond(tuple(entries))
