"""Reading tensors from model files, with errors that name the file instead of tracebacks.

safetensors is the default because it cannot run code; pickle files (.ckpt/.pt/.pth/.bin) can,
so they are refused unless the caller opts in, and even then torch.load runs with
weights_only=True, which only rebuilds tensors and plain containers.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .checkpoint_errors import CheckpointError
from .checkpoint_paths import PICKLE_SUFFIXES, SAFE_SUFFIXES


def pickle_refused(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: {path.suffix} files are Python pickles, which can run arbitrary code when loaded, "
        "so they are refused by default. Convert it to .safetensors, or opt in with "
        "allow_pickle=True (it is then loaded with torch.load(weights_only=True)).")


def read_state_dict(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """All tensors of one .safetensors (or, opted in, pickle) file, on the CPU."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if suffix in SAFE_SUFFIXES:
        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path}: not a readable safetensors file; it may be truncated (an interrupted "
                f"download) or not a model at all ({exc})") from None
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise pickle_refused(path)
        return _read_pickle(path)
    raise CheckpointError(f"{path}: unsupported model file type {suffix or '(none)'!r}; expected "
                          f"{', '.join(sorted(SAFE_SUFFIXES | PICKLE_SUFFIXES))}")


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: holds Python objects besides tensors, which weights_only loading refuses "
            f"({str(exc).splitlines()[0]}); convert it to .safetensors with a tool you trust") from None
    except (EOFError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint; it may be truncated ({exc})") from None
    # Lightning-era .ckpt files wrap the weights: {"state_dict": {...}, "global_step": ...}.
    while isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    tensors = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: contains no tensors")
    return tensors


def read_component_folder(folder: Path, *, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """The weights of one diffusers component folder (unet/, vae/, text_encoder/, ...).

    Sharded files are merged; plain files win over variants such as `*.fp16.safetensors`.
    """
    def pick(files: list[Path]) -> list[Path]:
        plain = [f for f in files if len(f.name.split(".")) == 2]
        return sorted(plain or files)

    safe = pick([f for f in folder.iterdir() if f.suffix in SAFE_SUFFIXES]) if folder.is_dir() else []
    pickles = pick([f for f in folder.iterdir() if f.suffix in PICKLE_SUFFIXES]) if folder.is_dir() else []
    if not safe and not pickles:
        raise CheckpointError(f"{folder}: no weights file (*.safetensors) in this diffusers component folder")
    if not safe and not allow_pickle:
        raise pickle_refused(pickles[0])
    tensors: dict[str, torch.Tensor] = {}
    for f in safe or pickles:
        tensors.update(read_state_dict(f, allow_pickle=allow_pickle))
    return tensors
