"""Where model files live, how they are listed, and how a user-given name becomes a safe path.

Torch-free on purpose: listing models for the editor must not import torch.

Model kinds are the folder names under `<base>/models/`: "checkpoints", "vae", "loras".
Names are relative paths with "/" separators ("sdxl/juggernaut.safetensors"); a name never
leaves its search folder, not through "..", an absolute path, nor a symlink.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .checkpoint_errors import CheckpointError

KINDS = ("checkpoints", "vae", "loras")
SAFE_SUFFIXES = frozenset({".safetensors", ".sft"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})
EXTRA_PATHS_FILE = "extra_model_paths.json"


class ModelName(str):
    """A listed model name; a plain str that also says how the model is stored.

    `pickle` is True for .ckpt/.pt/.pth/.bin files (they load only with allow_pickle=True),
    `diffusers` is True for a diffusers folder (model_index.json, or config.json for a VAE).
    """

    pickle: bool
    diffusers: bool

    def __new__(cls, name: str, *, pickle: bool = False, diffusers: bool = False) -> ModelName:
        obj = super().__new__(cls, name)
        obj.pickle, obj.diffusers = pickle, diffusers
        return obj


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")


def _is_diffusers_folder(path: Path, kind: str) -> bool:
    if kind == "checkpoints":
        return (path / "model_index.json").is_file()
    return kind == "vae" and (path / "config.json").is_file()


def find_models(kind: str, search_dirs: Iterable[str | os.PathLike]) -> list[ModelName]:
    """Model names of one kind under the search folders, sorted; the first folder wins a name.

    Lists .safetensors/.sft files, pickle files (marked `.pickle`, they need an opt-in to load)
    and, for checkpoints and VAEs, diffusers folders (marked `.diffusers`, not descended into).
    Folders that do not exist are skipped: a fresh install has none yet.
    """
    _check_kind(kind)
    found: dict[str, ModelName] = {}
    for root in map(Path, search_dirs):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            rel = here.relative_to(root)
            for d in list(dirnames):
                if _is_diffusers_folder(here / d, kind):
                    dirnames.remove(d)
                    found.setdefault((rel / d).as_posix(), ModelName((rel / d).as_posix(), diffusers=True))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in filenames:
                suffix = Path(f).suffix.lower()
                if suffix in SAFE_SUFFIXES or suffix in PICKLE_SUFFIXES:
                    name = (rel / f).as_posix()
                    found.setdefault(name, ModelName(name, pickle=suffix in PICKLE_SUFFIXES))
    return [found[n] for n in sorted(found)]


def resolve_model(kind: str, name: str, search_dirs: Iterable[str | os.PathLike]) -> Path:
    """The path of model `name` in the first search folder that has it.

    Refuses names that are absolute, contain "..", or resolve (through symlinks) outside
    the folder they were found in: a workflow file must not read arbitrary files.
    """
    _check_kind(kind)
    dirs = [Path(d) for d in search_dirs]
    parts = name.replace("\\", "/").split("/")
    if not name or Path(name).is_absolute() or name.startswith(("/", "\\")) or ":" in parts[0] \
            or any(p in ("..", "") for p in parts):
        raise CheckpointError(f"model name {name!r} is not allowed: use a name relative to the {kind} folder, "
                              "without '..'")
    for root in dirs:
        candidate = root.joinpath(*parts)
        if not candidate.exists():
            continue
        real_root, real = root.resolve(), candidate.resolve()
        if not real.is_relative_to(real_root):
            raise CheckpointError(f"model {name!r} in {root} is a link to {real}, outside that folder; "
                                  "refusing to load it")
        return real
    where = ", ".join(str(d) for d in dirs) or "no folders"
    raise CheckpointError(f"{kind} model {name!r} not found in {where}")


def extra_model_dirs(base_dir: str | os.PathLike, kind: str) -> list[Path]:
    """Extra search folders for `kind` from `<base_dir>/extra_model_paths.json`.

    The file holds ComfyUI's extra_model_paths.yaml as JSON, so users can point nodeflow at
    their existing ComfyUI/A1111 model folders:

        {"comfyui": {"base_path": "/home/me/ComfyUI",
                     "checkpoints": "models/checkpoints",
                     "vae": "models/vae",
                     "loras": ["models/loras", "/mnt/big/loras"]}}

    Each top-level entry is one installation. `base_path` is optional and relative to
    `base_dir`; a kind's value is one folder, a list of folders, or a string with one folder per
    line (as ComfyUI's YAML allows), each relative to `base_path`. A missing file means no extra
    folders; a malformed one is an error naming the file.
    """
    _check_kind(kind)
    path = Path(base_dir) / EXTRA_PATHS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected an object of installations, got {type(data).__name__}")
    dirs: list[Path] = []
    for section, entry in data.items():
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path}: entry {section!r} must be an object")
        base = Path(base_dir) / os.path.expanduser(str(entry.get("base_path", "")))
        value = entry.get(kind, [])
        folders = value.splitlines() if isinstance(value, str) else value
        if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
            raise CheckpointError(f"{path}: {section}.{kind} must be a folder or a list of folders")
        dirs += [base / os.path.expanduser(f.strip()) for f in folders if f.strip()]
    return dirs


def model_dirs(base_dir: str | os.PathLike, kind: str) -> list[Path]:
    """All search folders for `kind`: `<base_dir>/models/<kind>` first, then the extra ones."""
    return [Path(base_dir) / "models" / kind, *extra_model_dirs(base_dir, kind)]


BUILTIN_CHECKPOINT = "nodeflow-tiny"
"""The checkpoint that ships with nodeflow (a diffusers folder in the shipped models/)."""


def builtin_checkpoint() -> Path | None:
    """Its folder, once it holds a model (not while it is being trained into)."""
    from ..paths import shipped_dir

    path = shipped_dir("models") / BUILTIN_CHECKPOINT
    return path if (path / "model_index.json").is_file() else None


def shipped_model_dirs(kind: str) -> list[Path]:
    """The shipped models/<kind> folder (models/loras: the example LoRA), if there is one."""
    from ..paths import shipped_dir

    _check_kind(kind)
    path = shipped_dir("models") / kind
    return [path] if path.is_dir() else []


def _user_dirs(base_dir: str | os.PathLike | None, kind: str) -> list[Path]:
    return model_dirs(base_dir, kind) if base_dir is not None else []


def available_models(base_dir: str | os.PathLike | None, kind: str) -> list[ModelName]:
    """What a node's model input offers: the user's models of `kind`, then the shipped ones
    the user has no file of the same name for; the built-in checkpoint first of all."""
    found = find_models(kind, _user_dirs(base_dir, kind))
    found += [n for n in find_models(kind, shipped_model_dirs(kind)) if n not in found]
    if kind == "checkpoints" and builtin_checkpoint() is not None:
        found = [ModelName(BUILTIN_CHECKPOINT, diffusers=True)] + [n for n in found if n != BUILTIN_CHECKPOINT]
    return found


def resolve_available(base_dir: str | os.PathLike | None, kind: str, name: str) -> Path:
    """The path of a name from `available_models` (the user's file wins over a shipped one)."""
    builtin = builtin_checkpoint() if kind == "checkpoints" and name == BUILTIN_CHECKPOINT else None
    if builtin is not None:
        return builtin
    return resolve_model(kind, name, _user_dirs(base_dir, kind) + shipped_model_dirs(kind))
