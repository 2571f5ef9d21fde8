"""Regenerate the CLIP tokenizer files in tokenizer_files/ from open_clip's BPE merge list.

    python -m nodeflow.diffusion.make_tokenizer_files [--check] [--out DIR]

Every Stable Diffusion text encoder (SD 1.x's OpenAI CLIP ViT-L, SD 2.x's OpenCLIP ViT-H,
SDXL's CLIP-L and OpenCLIP bigG) uses the same 49408-token byte-level BPE vocabulary. Its
source of truth is OpenAI's `bpe_simple_vocab_16e6.txt.gz`, a copy of which ships inside
the `open_clip_torch` package; the vocabulary is derived from the merge list the way
OpenAI's `SimpleTokenizer` derives it (CLIP repository, clip/simple_tokenizer.py):

    256 byte symbols, the same 256 with the end-of-word marker "</w>",
    one token per merge (the first 48894 merges), then <|startoftext|> and <|endoftext|>.

The files are written in the layout transformers' CLIPTokenizer reads (the layout of the
`openai/clip-vit-large-patch14` repository), so loading them needs no network. Only the
generator needs `open_clip_torch`; the package ships the generated files.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
from pathlib import Path

OUT_DIR = Path(__file__).with_name("tokenizer_files")

# 49152 tokens minus the 256 byte symbols and the 2 special tokens leave 48894 merges;
# OpenAI's tokenizer reads exactly that many lines after the header and ignores the rest.
NUM_MERGES = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
CONTEXT_LENGTH = 77


def bpe_source_path() -> Path:
    """Locate open_clip's merge list without importing open_clip (its __init__ needs torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip_torch is not installed: `pip install --no-deps open_clip_torch`")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the installed open_clip_torch")
    return path


def byte_symbols() -> list[str]:
    """GPT-2's reversible byte-to-character table, in byte order of the printable ones first.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, NBSP,
    soft hyphen) are moved to code points 256 and up so that no BPE symbol is whitespace.
    The order of this list is the order of the first 256 vocabulary ids.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(shifted))]


def read_merges(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    # Line 0 is a header ("...#version: 0.2"); the vocabulary uses the next NUM_MERGES lines.
    merges = [tuple(line.split()) for line in lines[1 : 1 + NUM_MERGES]]
    if len(merges) != NUM_MERGES or any(len(m) != 2 for m in merges):
        raise SystemExit(f"{path} does not look like CLIP's merge list")
    return merges  # type: ignore[return-value]


def build_files(merges: list[tuple[str, str]]) -> dict[str, str]:
    """File name -> exact text of every file in tokenizer_files/."""
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START_TOKEN, END_TOKEN]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens) or len(vocab) != 49408:
        raise SystemExit("the derived vocabulary is not CLIP's 49408 distinct tokens")

    special = {"bos_token": START_TOKEN, "eos_token": END_TOKEN, "unk_token": END_TOKEN, "pad_token": END_TOKEN}
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": CONTEXT_LENGTH,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
        **special,
    }
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False) + "\n",
        "merges.txt": "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
        "tokenizer_config.json": json.dumps(config, indent=2) + "\n",
        "special_tokens_map.json": json.dumps(special, indent=2) + "\n",
    }


def generate() -> dict[str, str]:
    return build_files(read_merges(bpe_source_path()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder to write (default: the package's)")
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)

    files = generate()
    if args.check:
        stale = [n for n, text in files.items() if not (args.out / n).is_file()
                 or (args.out / n).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{args.out / name} differs from a fresh generation", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
