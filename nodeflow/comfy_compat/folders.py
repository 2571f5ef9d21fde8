"""The ``folder_paths`` module ComfyUI packs import.

``folder_paths`` maps ComfyUI's model kinds onto nodeflow's base folder (``models/<kind>``
plus the folders named in ``extra_model_paths.json``) and its input/output/temp folders.
"""
from __future__ import annotations

import os
import types
from pathlib import Path

from ..settings import Settings

SUPPORTED_PT_EXTENSIONS = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl",
                           ".sft"}
KINDS = ("checkpoints", "configs", "loras", "vae", "text_encoders", "clip", "diffusion_models",
         "unet", "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx",
         "controlnet", "gligen", "upscale_models", "hypernetworks", "photomaker", "classifiers")


def model_folders(settings: Settings, kind: str) -> list[Path]:
    from ..diffusion.checkpoint_paths import extra_model_dirs

    alias = {"text_encoders": "clip", "diffusion_models": "unet"}
    try:
        extra = extra_model_dirs(settings.base_dir, kind)
    except Exception:  # noqa: BLE001 - an unknown kind or a bad file: no extra folders
        extra = []
    folders = [settings.models_dir / kind, *extra]
    if kind in alias:
        folders.append(settings.models_dir / alias[kind])
    return folders


def make_folder_paths(settings: Settings) -> types.ModuleType:
    """The ``folder_paths`` module for packs, bound to ``settings``."""
    mod = types.ModuleType("folder_paths", "nodeflow's stand-in for ComfyUI's folder_paths")
    mod.__nodeflow_shim__ = True
    mod.__nodeflow_settings__ = settings  # for the core classes' model lists and checks
    mod.supported_pt_extensions = set(SUPPORTED_PT_EXTENSIONS)
    mod.base_path = str(settings.base_dir)
    mod.models_dir = str(settings.models_dir)
    extra_kinds: dict[str, list[str]] = {}
    mod.folder_names_and_paths = {
        kind: ([str(p) for p in model_folders(settings, kind)], set(SUPPORTED_PT_EXTENSIONS))
        for kind in KINDS}

    def get_folder_paths(kind: str) -> list[str]:
        entry = mod.folder_names_and_paths.get(kind)
        return list(entry[0]) if entry else []

    def get_filename_list(kind: str) -> list[str]:
        entry = mod.folder_names_and_paths.get(kind)
        if entry is None:
            return []
        folders, exts = entry
        names = set()
        for folder in folders:
            root = Path(folder)
            if not root.is_dir():
                continue
            for file in root.rglob("*"):
                if file.is_file() and (not exts or file.suffix.lower() in exts):
                    names.add(file.relative_to(root).as_posix())
        return sorted(names)

    def get_full_path(kind: str, filename: str) -> str | None:
        for folder in get_folder_paths(kind):
            candidate = (Path(folder) / filename).resolve()
            if candidate.is_file() and candidate.is_relative_to(Path(folder).resolve()):
                return str(candidate)
        return None

    def get_full_path_or_raise(kind: str, filename: str) -> str:
        found = get_full_path(kind, filename)
        if found is None:
            raise FileNotFoundError(f"{kind} file {filename!r} not found in "
                                    f"{', '.join(get_folder_paths(kind)) or 'no folders'}")
        return found

    def add_model_folder_path(kind: str, path: str, is_default: bool = False) -> None:
        folders, exts = mod.folder_names_and_paths.setdefault(kind, ([], set(
            SUPPORTED_PT_EXTENSIONS)))
        if path not in folders:
            folders.insert(0, path) if is_default else folders.append(path)
        extra_kinds.setdefault(kind, []).append(path)

    def annotated_filepath(name: str) -> tuple[str, str | None]:
        for suffix, base in ((" [output]", mod.get_output_directory()),
                             (" [input]", mod.get_input_directory()),
                             (" [temp]", mod.get_temp_directory())):
            if name.endswith(suffix):
                return name[: -len(suffix)], base
        return name, None

    def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
        name, base = annotated_filepath(name)
        return os.path.join(base or default_dir or mod.get_input_directory(), name)

    def exists_annotated_filepath(name: str) -> bool:
        return os.path.exists(get_annotated_filepath(name))

    def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                            image_height: int = 0):
        """(folder, filename, counter, subfolder, prefix) as ComfyUI returns them."""
        prefix = filename_prefix.replace("%width%", str(image_width)).replace(
            "%height%", str(image_height))
        subfolder, filename = os.path.split(os.path.normpath(prefix))
        full_folder = os.path.join(output_dir, subfolder)
        if not Path(full_folder).resolve().is_relative_to(Path(output_dir).resolve()):
            raise ValueError(f"saving to {full_folder} is outside the output folder")
        os.makedirs(full_folder, exist_ok=True)
        counter = 1
        for existing in os.listdir(full_folder):
            stem = existing.rsplit(".", 1)[0]
            if stem.startswith(filename + "_"):
                digits = stem[len(filename) + 1:].split("_")[0]
                if digits.isdigit():
                    counter = max(counter, int(digits) + 1)
        return full_folder, filename, counter, subfolder, filename_prefix

    def filter_files_content_types(files: list[str], content_types: list[str]) -> list[str]:
        import mimetypes

        return [f for f in files
                if (mimetypes.guess_type(f)[0] or "").split("/")[0] in content_types]

    mod.get_folder_paths = get_folder_paths
    mod.get_filename_list = get_filename_list
    mod.get_full_path = get_full_path
    mod.get_full_path_or_raise = get_full_path_or_raise
    mod.add_model_folder_path = add_model_folder_path
    mod.get_annotated_filepath = get_annotated_filepath
    mod.exists_annotated_filepath = exists_annotated_filepath
    mod.annotated_filepath = annotated_filepath
    mod.get_save_image_path = get_save_image_path
    mod.filter_files_content_types = filter_files_content_types
    mod.get_output_directory = lambda: str(settings.output_dir)
    mod.get_input_directory = lambda: str(settings.input_dir)
    mod.get_temp_directory = lambda: str(settings.temp_dir)
    mod.get_user_directory = lambda: str(Path(settings.base_dir) / "user")
    mod.output_directory = str(settings.output_dir)
    mod.input_directory = str(settings.input_dir)
    mod.temp_directory = str(settings.temp_dir)
    mod.user_directory = str(Path(settings.base_dir) / "user")
    mod.get_directory_by_type = lambda kind: {"output": str(settings.output_dir),
                                              "input": str(settings.input_dir),
                                              "temp": str(settings.temp_dir)}.get(kind)
    return mod
