"""The CLIP tokenizer of every Stable Diffusion text encoder, loaded offline from the package.

The vocabulary and merges in tokenizer_files/ are generated from OpenAI's BPE list by
make_tokenizer_files.py. SD 1.x, SD 2.x and both SDXL encoders share them; they differ only
in the token that fills a chunk after its end token:

- "eos": SD 1.x (OpenAI CLIP ViT-L/14) and SDXL's first encoder (CLIP-L) pad with
  <|endoftext|> (49407), as the original CLIP tokenizer does. ComfyUI: SDTokenizer's default
  `pad_with_end=True` in comfy/sd1_clip.py.
- "!": SD 2.x (OpenCLIP ViT-H/14) and SDXL's second encoder (OpenCLIP bigG) were trained with
  open_clip's tokenizer, which pads with zeros, and id 0 is the token "!". ComfyUI:
  `pad_with_end=False` and `"pad": 0` in comfy/sd2_clip.py and comfy/sdxl_clip.py; diffusers
  ships SD 2.x and SDXL's `tokenizer_2` with `pad_token: "!"`.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

__all__ = ["TOKENIZER_DIR", "PadWith", "load_clip_tokenizer", "clean_prompt_text"]

TOKENIZER_DIR = Path(__file__).with_name("tokenizer_files")
PadWith = Literal["eos", "!"]
PAD_TOKENS: dict[str, str] = {"eos": "<|endoftext|>", "!": "!"}


@lru_cache(maxsize=None)
def load_clip_tokenizer(pad_with: PadWith = "eos") -> CLIPTokenizer:
    """A transformers CLIPTokenizer (max length 77) from the shipped files; never touches the network.

    Cached per `pad_with`: callers share one tokenizer and must not modify it.
    """
    if pad_with not in PAD_TOKENS:
        raise ValueError(f"pad_with must be one of {sorted(PAD_TOKENS)}, not {pad_with!r}")
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), pad_token=PAD_TOKENS[pad_with], local_files_only=True)


def clean_prompt_text(text: str) -> str:
    """Normalise text the way CLIP's own tokenizer does before BPE, so ids match OpenAI/open_clip.

    transformers' fast CLIPTokenizer only applies NFC, whitespace folding and lower case;
    OpenAI's SimpleTokenizer (and open_clip's copy, `_clean_lower`) first runs ftfy.fix_text
    (straight quotes, ligatures, full-width letters, mojibake, control characters), unescapes
    HTML entities twice and lower-cases with Python's rules (final sigma). Without this the
    same prompt can give different ids than the encoder saw in training.
    """
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()
