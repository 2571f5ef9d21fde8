"""Text conditioning nodes: encode a prompt (with weights), combine prompts, clip skip."""
from __future__ import annotations

from nodeflow import Clip, Conditioning, Field, NodeError, node


def _embedding_files(inputs: dict, settings) -> list:
    """Cache fingerprint: the embedding files a prompt names (a changed file re-encodes)."""
    text = inputs.get("text", "")
    if not isinstance(text, str) or "embedding:" not in text:
        return []
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from nodeflow.diffusion.embeddings import PREFIX, EmbeddingLibrary

    library = EmbeddingLibrary(getattr(settings, "base_dir", None))
    state = []
    for word in text.replace("(", " ").replace(")", " ").split():
        if word.startswith(PREFIX):
            name = word[len(PREFIX):].split(":")[0]
            try:
                path, _ = library.find(name)
            except CheckpointError:
                state.append([name, None])  # missing: the node reports it when it runs
                continue
            stat = path.stat()
            state.append([str(path), stat.st_mtime_ns, stat.st_size])
    return state


@node(category="conditioning", display_name="Text Encode", fingerprint=_embedding_files)
def TextEncode(clip: Clip, text: str = Field("", multiline=True), *, ctx) -> Conditioning:
    """Encode a prompt. ``(word:1.3)`` weights a word, ``(word)`` is x1.1 and ``[word]`` /1.1;
    ``\\(`` is a literal bracket; long prompts are encoded in chunks of 75 tokens; ``BREAK``
    starts a new chunk; ``embedding:name`` puts a textual-inversion embedding from
    models/embeddings in the prompt (weights apply to it too). SDXL uses both of its text
    encoders."""
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
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from nodeflow.diffusion.embeddings import EmbeddingLibrary

    tokenizer = load_clip_tokenizer("eos")
    library = EmbeddingLibrary(ctx.settings.base_dir, ctx.settings.allow_pickle)
    try:
        with torch.no_grad():
            if arch == "sdxl":
                cond, pooled = encode_prompt_sdxl(text, tokenizer, *encoders,
                                                  clip_skip=clip.skip or 2, embeddings=library)
            else:
                # SD 2.x checkpoints load with their penultimate layer as the last one (SD 2
                # was trained on it), so clip skip 1 is the right default for every family.
                pad = "!" if arch.startswith("sd2") else "eos"
                cond, pooled = encode_prompt(text, load_clip_tokenizer(pad), encoders[0],
                                             clip_skip=clip.skip or 1, pad_with=pad,
                                             embeddings=library)
    except CheckpointError as exc:
        raise NodeError(str(exc), input="text") from None
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
