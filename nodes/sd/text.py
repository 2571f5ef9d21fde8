"""Text conditioning nodes: encode a prompt (with weights), combine prompts, clip skip."""
from __future__ import annotations

from nodeflow import Clip, Conditioning, Field, NodeError, node


@node(category="conditioning", display_name="Text Encode")
def TextEncode(clip: Clip, text: str = Field("", multiline=True), *, ctx) -> Conditioning:
    """Encode a prompt. ``(word:1.3)`` weights a word, ``(word)`` is x1.1 and ``[word]`` /1.1;
    ``\\(`` is a literal bracket; long prompts are encoded in chunks of 75 tokens; ``BREAK``
    starts a new chunk. SDXL uses both of its text encoders."""
    from nodeflow.diffusion.conditioning import Conditioning as Cond
    from nodeflow.diffusion.runtime import Runtime
    from nodeflow.diffusion.text_encoding import encode_prompt, encode_prompt_sdxl
    from nodeflow.diffusion.tokenizer import load_clip_tokenizer

    import torch

    encoders, arch = clip.load(ctx, Runtime.for_ctx(ctx))
    layers = encoders[0].config.num_hidden_layers
    if (clip.skip or 1) > layers:
        raise NodeError(f"clip skip {clip.skip} is more than the {layers} layers of this text "
                        "encoder", input="clip")
    tokenizer = load_clip_tokenizer("eos")
    with torch.no_grad():
        if arch == "sdxl":
            cond, pooled = encode_prompt_sdxl(text, tokenizer, *encoders,
                                              clip_skip=clip.skip or 2)
        else:
            # SD 2.x checkpoints load with their penultimate layer as the last one (SD 2 was
            # trained on it), so clip skip 1 is the right default for every family here.
            pad = "!" if arch.startswith("sd2") else "eos"
            cond, pooled = encode_prompt(text, load_clip_tokenizer(pad), encoders[0],
                                         clip_skip=clip.skip or 1, pad_with=pad)
    return Cond.single(cond.float().cpu(), None if pooled is None else pooled.float().cpu())


@node(category="conditioning", display_name="Combine Conditioning")
def ConditioningCombine(a: Conditioning, b: Conditioning) -> Conditioning:
    """Use two prompts at once: the sampler predicts with each and averages the predictions
    (not the embeddings), as ComfyUI does."""
    from nodeflow.diffusion.conditioning import combine_conditioning

    return combine_conditioning(a, b)


@node(category="conditioning", display_name="Clip Skip")
def ClipSkip(clip: Clip, skip: int = Field(1, ge=1, le=24)) -> Clip:
    """Condition on an earlier layer of the text encoder: 1 = the last layer, 2 = the
    penultimate (what many SD 1.x anime models were trained with)."""
    from dataclasses import replace

    return replace(clip, skip=skip)
