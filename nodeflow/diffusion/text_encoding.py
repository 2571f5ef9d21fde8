"""Prompt -> CLIP embeddings with ComfyUI's semantics (comfy/sd1_clip.py, comfy/sdxl_clip.py).

1. The prompt is parsed into weighted segments (prompt_weights.py) and each space-separated
   word is tokenized on its own (SDTokenizer.tokenize_with_weights).
2. Tokens are packed into chunks of 75 between a start and an end token, padded to 77. A word
   of fewer than 8 tokens that does not fit moves whole to the next chunk; a longer word is
   split. A BREAK also starts a new chunk (A1111; ComfyUI has no BREAK).
3. All chunks are encoded in one batch and concatenated along the sequence axis: k chunks give
   [1, 77 * k, dim]. The UNet's cross-attention takes any length.
4. Weights (ClipTokenWeightEncoder.encode_token_weights): if any token's weight is not 1, the
   "empty" chunk [start, end, pad, ...] is encoded too and each weighted position j becomes

       z[j] = (z[j] - z_empty[j]) * weight + z_empty[j]

   i.e. the token's embedding is moved away from (weight > 1) or towards (weight < 1) what
   the same position holds for an empty prompt. Positions of weight 1 are left untouched.
   A1111 instead scales by the weight and restores the mean; we follow ComfyUI.
5. Pooled output: the projected end-token embedding (`text_embeds`) of the first chunk
   (`pooled[0:1]` in encode_token_weights); ComfyUI uses the final layer for it whatever
   the clip skip. Only encoders with a projection (CLIPTextModelWithProjection) have one.

Clip skip n takes the output of the n-th layer from the end (ComfyUI's CLIPSetLastLayer
-n). SD 1.x and 2.x then apply the final layer norm (`layer_norm_hidden_state=True`); SDXL
does not, and uses the penultimate layer of both encoders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .prompt_weights import Segment, parse_prompt_sections
from .tokenizer import PAD_TOKENS, PadWith, clean_prompt_text

if TYPE_CHECKING:
    import torch
    from transformers import CLIPTokenizer, PreTrainedModel

__all__ = ["PromptTokens", "tokenize_prompt", "encode_tokens", "encode_prompt", "encode_prompt_sdxl"]

EMBEDDING_PREFIX = "embedding:"
CONTEXT_LENGTH = 77
CHUNK_TOKENS = CONTEXT_LENGTH - 2  # between the start and the end token
# ComfyUI's SDTokenizer.max_word_length: shorter words are never split across chunks.
MAX_WORD_LENGTH = 8


@dataclass(frozen=True)
class PromptTokens:
    """A tokenized prompt: `ids` and `weights` are chunks of 77; `empty` is the empty prompt's chunk."""

    ids: tuple[tuple[int, ...], ...]
    weights: tuple[tuple[float, ...], ...]
    empty: tuple[int, ...]


def tokenize_prompt(
    prompt: str | Sequence[Sequence[Segment]], tokenizer: CLIPTokenizer, *, pad_with: PadWith | None = None,
    embeddings: Callable[[str], tuple[torch.Tensor, str]] | None = None,
) -> PromptTokens:
    """Split a prompt string, or sections already parsed, into weighted chunks of 77 tokens.

    `pad_with` defaults to the tokenizer's own pad token (see load_clip_tokenizer). For
    ComfyUI's syntax exactly (no [] de-emphasis, no BREAK) pass
    `[parse_prompt_weights(text, square_brackets=False)]`. `embeddings(name)` gives the
    vectors [n, dim] of ``embedding:name`` and the text left after the name; each vector takes
    one position, in `ids` as the tensor itself.
    """
    sections = parse_prompt_sections(prompt) if isinstance(prompt, str) else prompt
    if any(isinstance(section, Segment) for section in sections):
        raise TypeError("pass a list of sections (parse_prompt_sections), not a flat list of segments")
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if pad_with is None else tokenizer.convert_tokens_to_ids(PAD_TOKENS[pad_with])

    chunks: list[list[tuple[int, float]]] = []
    for section in sections:
        current: list[tuple[int, float]] = []
        for word in _weighted_words(section, tokenizer, embeddings):
            keep_whole = len(word) < MAX_WORD_LENGTH
            while word:
                room = CHUNK_TOKENS - len(current)
                if len(word) <= room:
                    current += word
                    break
                if not keep_whole:
                    current, word = current + word[:room], word[room:]
                chunks.append(current)
                current = []
        if current:
            chunks.append(current)
    if not chunks:
        chunks.append([])

    def frame(body: list[tuple[int, float]]) -> list[tuple[int, float]]:
        return [(start, 1.0), *body, (end, 1.0)] + [(pad, 1.0)] * (CHUNK_TOKENS - len(body))

    framed = [frame(c) for c in chunks]
    return PromptTokens(
        ids=tuple(tuple(t for t, _ in c) for c in framed),
        weights=tuple(tuple(w for _, w in c) for c in framed),
        empty=tuple(t for t, _ in frame([])),
    )


def _weighted_words(section: Sequence[Segment], tokenizer: CLIPTokenizer,
                    embeddings=None) -> list[list[tuple[int, float]]]:
    """One list of (id, weight) per whitespace-separated word, in prompt order; an
    ``embedding:name`` word is a list of (vector, weight)."""
    words: list[tuple[str, float]] = []
    vectors: dict[int, torch.Tensor] = {}  # position in words -> an embedding's vectors
    for text, weight in section:
        if not math.isfinite(weight):
            raise ValueError(f"the weight of {text!r} is {weight}: too many nested brackets")
        if embeddings is None or EMBEDDING_PREFIX not in text:
            words += [(w, weight) for w in clean_prompt_text(text).split(" ") if w]
            continue
        for raw in text.split():  # names keep their case; the rest is cleaned word by word
            if raw.startswith(EMBEDDING_PREFIX):
                found, raw = embeddings(raw[len(EMBEDDING_PREFIX):])
                vectors[len(words)] = found
                words.append(("", weight))
            words += [(w, weight) for w in clean_prompt_text(raw).split(" ") if w]
    if not words:
        return []
    if vectors:
        texts = [(i, w) for i, (w, _) in enumerate(words) if i not in vectors]
        ids = tokenizer([w for _, w in texts], add_special_tokens=False, verbose=False)["input_ids"] \
            if texts else []
        by_position = dict(zip((i for i, _ in texts), ids))
        out = []
        for i, (_, weight) in enumerate(words):
            items = list(vectors[i]) if i in vectors else by_position[i]
            if len(items):
                out.append([(item, weight) for item in items])
        return out
    # ComfyUI looks each word up as "word</w>" before running BPE; after lower-casing that
    # shortcut agrees with BPE for every vocabulary entry (checked over all 33301 ASCII
    # ones), so BPE alone is used. Without lower-casing it maps a capital "A" to the token
    # "A</w>" (288) instead of "a</w>" (320).
    ids = tokenizer([w for w, _ in words], add_special_tokens=False, verbose=False)["input_ids"]
    return [[(i, weight) for i in word_ids] for word_ids, (_, weight) in zip(ids, words, strict=True) if word_ids]


def encode_tokens(
    tokens: PromptTokens, text_encoder: PreTrainedModel, *, clip_skip: int = 1, final_norm: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encode and weight: (cond [1, 77 * chunks, dim] float32, pooled [1, proj] float32 or None)."""
    import torch

    z, pooled = _run_encoder(tokens.ids, text_encoder, clip_skip, final_norm)
    weights = torch.tensor(tokens.weights, dtype=z.dtype, device=z.device).unsqueeze(-1)
    if bool((weights != 1.0).any()):
        # ComfyUI encodes the empty chunk in the same batch as the prompt; a call of its own
        # keeps the weight-1 positions bit-identical to those of the unweighted prompt.
        z_empty, _ = _run_encoder((tokens.empty,), text_encoder, clip_skip, final_norm)
        z = torch.where(weights != 1.0, (z - z_empty) * weights + z_empty, z)
    cond = z.reshape(1, -1, z.shape[-1])
    return cond, None if pooled is None else pooled[0:1]


def _run_encoder(
    chunks: Sequence[Sequence], text_encoder: PreTrainedModel, clip_skip: int, final_norm: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states of the chosen layer for a batch of chunks (token ids, or embedding
    vectors in their place), and the projected pooled output if any."""
    import torch

    num_layers = text_encoder.config.num_hidden_layers
    if not 1 <= clip_skip <= num_layers:
        raise ValueError(f"clip_skip must be between 1 and {num_layers} (the encoder's layers), not {clip_skip}")
    placed = {(c, j): t for c, chunk in enumerate(chunks) for j, t in enumerate(chunk)
              if not isinstance(t, int)}
    # an embedding's position holds id 0 for the encoder, and its vector after the lookup
    ids = torch.tensor([[t if isinstance(t, int) else 0 for t in chunk] for chunk in chunks])

    def put_vectors(module, args, output):
        output = output.clone()
        for (c, j), vector in placed.items():
            output[c, j] = vector.to(output)
        return output

    hook = text_encoder.get_input_embeddings().register_forward_hook(put_vectors) if placed else None
    try:
        with torch.no_grad():
            out = text_encoder(input_ids=ids.to(text_encoder.device), output_hidden_states=True)
    finally:
        if hook is not None:
            hook.remove()
    with torch.no_grad():
        if clip_skip == 1 and final_norm:
            z = out.last_hidden_state
        else:
            # hidden_states holds the embeddings and then each layer's output, before any norm.
            z = out.hidden_states[-clip_skip]
            if final_norm:
                z = _final_layer_norm(text_encoder)(z)
    pooled = getattr(out, "text_embeds", None)
    return z.float(), None if pooled is None else pooled.float()


def _final_layer_norm(text_encoder: PreTrainedModel) -> torch.nn.Module:
    # transformers 5 keeps it on CLIPTextModel itself, 4.x on its .text_model; the
    # WithProjection variant wraps the text model as .text_model in both.
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def encode_prompt(
    prompt: str | Sequence[Sequence[Segment]],
    tokenizer: CLIPTokenizer,
    text_encoder: PreTrainedModel,
    *,
    clip_skip: int = 1,
    final_norm: bool = True,
    pad_with: PadWith | None = None,
    embeddings=None,
    embedding_key: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One CLIP encoder: (cond [1, 77 * chunks, dim], pooled [1, proj] or None).

    SD 1.x: the "eos"-padded tokenizer, clip_skip 1 (or 2 for models trained on it).
    SD 2.x: pad_with="!", clip_skip=2 (ComfyUI's SD2ClipHModel uses the penultimate layer).
    `final_norm` applies the final layer norm to a skipped layer's output, as SD 1.x/2.x do.
    `embeddings` (an embeddings.EmbeddingLibrary) resolves ``embedding:name`` words, with
    `embedding_key` choosing SDXL's clip_l/clip_g half of a file.
    """
    lookup = None
    if embeddings is not None:
        width = text_encoder.config.hidden_size
        lookup = lambda word: embeddings.lookup(word, width, embedding_key)  # noqa: E731
    tokens = tokenize_prompt(prompt, tokenizer, pad_with=pad_with, embeddings=lookup)
    return encode_tokens(tokens, text_encoder, clip_skip=clip_skip, final_norm=final_norm)


def encode_prompt_sdxl(
    prompt: str | Sequence[Sequence[Segment]],
    tokenizer: CLIPTokenizer,
    clip_l: PreTrainedModel,
    clip_g: PreTrainedModel,
    *,
    clip_skip: int = 2,
    embeddings=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL's two encoders: (cond [1, 77 * chunks, 768 + 1280], pooled [1, 1280]).

    As ComfyUI's SDXLClipModel: both encoders give their penultimate layer without the final
    norm, CLIP-L padded with the end token and bigG with "!"; the features are concatenated
    L then G, and the pooled output is bigG's projected one (`text_embeds`, so clip_g must
    be a CLIPTextModelWithProjection).
    """
    import torch

    cond_l, _ = encode_prompt(prompt, tokenizer, clip_l, clip_skip=clip_skip, final_norm=False, pad_with="eos",
                              embeddings=embeddings, embedding_key="clip_l")
    cond_g, pooled = encode_prompt(prompt, tokenizer, clip_g, clip_skip=clip_skip, final_norm=False, pad_with="!",
                                   embeddings=embeddings, embedding_key="clip_g")
    if pooled is None:
        raise ValueError("clip_g has no projected pooled output: load it as CLIPTextModelWithProjection")
    return torch.cat([cond_l, cond_g], dim=-1), pooled
