"""Textual-inversion embeddings in prompts: ``embedding:name`` (ComfyUI's and A1111's syntax),
weighted like any word (``(embedding:name:1.2)``), from ``models/embeddings`` (.safetensors;
.pt/.bin only with --allow-pickle).

An embedding is a few learned token vectors; each takes one token position of the prompt, in
place of a word's token embedding. The file formats ComfyUI reads are read here: A1111's
``emb_params`` (.safetensors) and ``string_to_param`` (.pt), SDXL's ``clip_l``/``clip_g`` pairs,
and a file with a single tensor. A name that is not installed is an error (ComfyUI warns and
drops the word).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoint_errors import CheckpointError

PREFIX = "embedding:"
SUFFIXES = ("", ".safetensors", ".pt", ".bin", ".sft")


def read_embedding(path: str | Path, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of an embedding file (A1111's .pt nesting flattened)."""
    from .checkpoint_files import pickle_refused

    path = Path(path)
    if path.suffix.lower() in (".safetensors", ".sft"):
        from safetensors.torch import load_file

        return load_file(path)
    if not allow_pickle:
        raise pickle_refused(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable pickle is the user's file's fault
        raise CheckpointError(f"{path}: not a readable embedding ({exc})") from None
    if isinstance(data, torch.Tensor):
        return {"emb_params": data}
    if isinstance(data, dict) and isinstance(data.get("string_to_param"), dict):
        return {"emb_params": next(iter(data["string_to_param"].values()))}
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    raise CheckpointError(f"{path}: not an embedding (found {type(data).__name__})")


def vectors(tensors: dict[str, torch.Tensor], width: int, key: str | None, source) -> torch.Tensor:
    """[tokens, width] vectors for a text encoder ``width`` wide (``key`` "clip_l"/"clip_g"
    picks SDXL's half)."""
    if key is not None and key in tensors:
        value = tensors[key]
    elif "emb_params" in tensors:
        value = tensors["emb_params"]
    elif len(tensors) == 1:
        value = next(iter(tensors.values()))
    else:
        raise CheckpointError(f"{source}: no emb_params, string_to_param or {key or 'clip_l'} "
                              f"tensor among {', '.join(list(tensors)[:4])}")
    value = value.reshape(-1, value.shape[-1]) if value.ndim != 1 else value[None]
    if value.shape[-1] != width:
        raise CheckpointError(f"{source}: an embedding for a text encoder {value.shape[-1]} wide, "
                              f"used with one {width} wide (another model family)")
    return value.float()


class EmbeddingLibrary:
    """Finds ``embedding:name`` in the user's embeddings folders (and extra_model_paths)."""

    def __init__(self, base_dir: str | os.PathLike | None, allow_pickle: bool = False):
        self.base_dir, self.allow_pickle = base_dir, allow_pickle
        self._files: dict[str, dict[str, torch.Tensor]] = {}

    def path(self, name: str) -> Path | None:
        from .checkpoint_paths import resolve_available

        for suffix in SUFFIXES:
            try:
                return resolve_available(self.base_dir, "embeddings", name + suffix)
            except (CheckpointError, FileNotFoundError):
                continue
        return None

    def find(self, word: str) -> tuple[Path, str]:
        """(file, text left over) for the name after ``embedding:`` (a trailing comma is
        punctuation, as ComfyUI takes it). Missing: CheckpointError naming what is installed."""
        parts = word.replace("\\", "/").split("/")
        if Path(word).is_absolute() or ".." in parts or ":" in parts[0]:
            raise CheckpointError(f"embedding name {word!r} is not allowed: use a name relative "
                                  "to the embeddings folder, without '..'")
        for name in (word, word.rstrip(",")):
            if name and (path := self.path(name)) is not None:
                return path, word[len(name):]
        from .checkpoint_paths import available_models

        have = [str(n) for n in available_models(self.base_dir, "embeddings")]
        raise CheckpointError(f"embedding {word!r} is not in models/embeddings ("
                              + (f"installed: {', '.join(have[:8])}" if have else "none installed")
                              + ")")

    def lookup(self, word: str, width: int, key: str | None = None) -> tuple[torch.Tensor, str]:
        path, leftover = self.find(word)
        if str(path) not in self._files:
            self._files[str(path)] = read_embedding(path, allow_pickle=self.allow_pickle)
        return vectors(self._files[str(path)], width, key, path), leftover
