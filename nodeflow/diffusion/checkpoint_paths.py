"""Where model files live, how they are listed, and how a user-given name becomes a safe path.

Torch-free on purpose: listing models for the editor must not import torch.

Model kinds are ComfyUI's folder names under `<base>/models/` (KINDS). Names are relative
paths with "/" separators ("sdxl/juggernaut.safetensors"); a name never leaves its search folder
by itself (no "..", no absolute path), but links the user placed inside a model folder (a file or
a folder on a bigger disk) are followed, as ComfyUI follows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .checkpoint_errors import CheckpointError

KINDS = ("checkpoints", "vae", "loras", "controlnet", "upscale_models", "embeddings",
         "clip_vision", "text_encoders", "diffusion_models", "custom_nodes", "style_models",
         "diffusers")
LOCAL_FOLDERS = {"text_encoders": ("text_encoders", "clip"),
                 "diffusion_models": ("unet", "diffusion_models"),
                 "controlnet": ("controlnet", "t2i_adapter")}
"""Kinds whose `<base>/models/` folders have more than one name (ComfyUI's folder_paths)."""
YAML_ALIASES = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}
"""Older key names in extra_model_paths.yaml that ComfyUI still reads as these kinds."""
SAFE_SUFFIXES = frozenset({".safetensors", ".sft"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin"})
EXTRA_PATHS_FILE = "extra_model_paths.json"
EXTRA_PATHS_YAML = "extra_model_paths.yaml"


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
    if kind in ("checkpoints", "diffusers"):
        return (path / "model_index.json").is_file()
    return kind in ("vae", "controlnet") and (path / "config.json").is_file()


def find_models(kind: str, search_dirs: Iterable[str | os.PathLike]) -> list[ModelName]:
    """Model names of one kind under the search folders, sorted; the first folder wins a name.

    Lists .safetensors/.sft files, pickle files (marked `.pickle`, they need an opt-in to load)
    and, for checkpoints, VAEs and ControlNets / T2I-Adapters, diffusers folders (marked
    `.diffusers`, not descended into); the `diffusers` kind lists those folders alone.
    Folders that do not exist are skipped: a fresh install has none yet.
    """
    _check_kind(kind)
    found: dict[str, ModelName] = {}
    for root in map(Path, search_dirs):
        if not root.is_dir():
            continue
        seen: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            here = Path(dirpath)
            rel = here.relative_to(root)
            real = os.path.realpath(here)
            if real in seen:  # a linked folder loop, or a folder linked twice
                dirnames.clear()
                continue
            seen.add(real)
            for d in list(dirnames):
                if _is_diffusers_folder(here / d, kind):
                    dirnames.remove(d)
                    found.setdefault((rel / d).as_posix(), ModelName((rel / d).as_posix(), diffusers=True))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if kind == "diffusers":
                continue  # ComfyUI's models/diffusers holds only diffusers folders
            for f in filenames:
                suffix = Path(f).suffix.lower()
                if suffix in SAFE_SUFFIXES or suffix in PICKLE_SUFFIXES:
                    name = (rel / f).as_posix()
                    found.setdefault(name, ModelName(name, pickle=suffix in PICKLE_SUFFIXES))
    return [found[n] for n in sorted(found)]


def resolve_model(kind: str, name: str, search_dirs: Iterable[str | os.PathLike]) -> Path:
    """The path of model `name` in the first search folder that has it.

    Refuses names that are absolute or contain "..": a workflow file must not read arbitrary
    files. Links inside the folder are the user's own doing and are followed wherever they
    point (a checkpoint linked from another disk).
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
        return candidate.resolve()
    where = ", ".join(str(d) for d in dirs) or "no folders"
    raise CheckpointError(f"{kind} model {name!r} not found in {where}")


def extra_model_dirs(base_dir: str | os.PathLike, kind: str, *, defaults: bool | None = None) -> list[Path]:
    """Extra search folders for `kind` from `<base_dir>/extra_model_paths.yaml` (ComfyUI's own
    file, as it is: copy or link it there) and `<base_dir>/extra_model_paths.json` (the same
    content as JSON), in that order:

        comfyui:
            base_path: /home/me/ComfyUI
            is_default: true
            checkpoints: models/checkpoints
            loras: |
                models/loras
                /mnt/big/loras

    Each top-level entry is one installation. `base_path` is optional; relative paths are
    relative to the folder of the file (for a link, of the file it points to, so a linked
    ComfyUI file means what it means to ComfyUI); `~` and `$VARS` are expanded. A kind's value
    is a folder, a string with one folder per line, or (JSON) a list. ComfyUI's older keys
    `clip`, `unet` and `t2i_adapter` count as text_encoders, diffusion_models and controlnet;
    keys of kinds nodeflow does not use are ignored. `defaults=True` gives only the folders of
    entries marked `is_default` (searched before `models/<kind>`, as ComfyUI does), False only
    the others, None all. A missing file means no extra folders; a malformed one is an error
    naming the file.
    """
    _check_kind(kind)
    dirs: list[Path] = []
    for path in (Path(base_dir) / EXTRA_PATHS_YAML, Path(base_dir) / EXTRA_PATHS_FILE):
        if path.is_file():
            dirs += _extra_dirs_from(path, kind, defaults)
    return dirs


def _read_extra_file(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable ({exc})") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: not readable as JSON ({exc})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{path}: not readable as YAML ({' '.join(str(exc).split())})") from None


def _extra_dirs_from(path: Path, kind: str, defaults: bool | None) -> list[Path]:
    data = _read_extra_file(path)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected an object of installations, got {type(data).__name__}")
    here = path.resolve().parent
    dirs: list[Path] = []
    for section, entry in data.items():
        if entry is None:  # an installation with every line commented out
            continue
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path}: entry {section!r} must be an object")
        if defaults is not None and bool(entry.get("is_default", False)) != defaults:
            continue
        base = entry.get("base_path")
        base = here / os.path.expandvars(os.path.expanduser(str(base))) if base else None
        for key, value in entry.items():
            if key in ("base_path", "is_default") or YAML_ALIASES.get(key, key) != kind:
                continue
            folders = value.split("\n") if isinstance(value, str) else value
            if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
                raise CheckpointError(f"{path}: {section}.{key} must be a folder or a list of folders")
            for folder in (f.strip() for f in folders):
                if folder:
                    folder = os.path.expandvars(os.path.expanduser(folder))
                    dirs.append(Path(os.path.normpath((base or here) / folder)))
    return dirs


def model_dirs(base_dir: str | os.PathLike, kind: str) -> list[Path]:
    """All search folders for `kind`: the extra ones marked is_default, `<base_dir>/models/<kind>`
    (and the other names ComfyUI gives that folder), then the other extra ones."""
    local = [Path(base_dir) / "models" / name for name in LOCAL_FOLDERS.get(kind, (kind,))]
    return [*extra_model_dirs(base_dir, kind, defaults=True), *local,
            *extra_model_dirs(base_dir, kind, defaults=False)]


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
