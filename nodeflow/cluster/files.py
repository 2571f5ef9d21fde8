"""Files between the head and its workers: input images out by content hash, saved images
back under the names one process would have given them.

A worker saves into a scratch folder of its own; the head stores each file it sends back in
the head's output (or temp) folder under the next free ``prefix_NNNNN`` name, exactly as
SaveImage would have there, and rewrites the file entries of ``executed`` messages and of the
history to match, so ``/view`` serves them and the history lists them. Nothing here imports
ray or torch.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ..new_files import save_new_file, write_atomically
from ..settings import Settings

FileKey = tuple[str, str, str]
"""(type, subfolder, filename) of a file in a worker's scratch folders."""
FOLDER_TYPES = ("output", "temp")
_NUMBERED = re.compile(r"^(?P<stem>.+)_(?P<n>\d{5,})_?(?P<suffix>\.[^./]+)$")


def file_entries(ui: Any) -> list[dict]:
    """The entries of a node's ui that name a file in the output or temp folder."""
    found = []
    if isinstance(ui, dict):
        for values in ui.values():
            if isinstance(values, list):
                found += [v for v in values if isinstance(v, dict) and
                          v.get("type") in FOLDER_TYPES and isinstance(v.get("filename"), str)]
    return found


def entry_key(entry: dict) -> FileKey:
    return entry["type"], str(entry.get("subfolder") or ""), entry["filename"]


def folder_of(settings: Settings, kind: str) -> Path:
    return settings.output_dir if kind == "output" else settings.temp_dir


def confined(root: Path, subfolder: str, filename: str) -> Path:
    """``root/subfolder/filename``; ValueError if it would leave ``root``."""
    root = root.resolve()
    path = (root / subfolder / filename).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"{subfolder}/{filename} is outside {root}")
    return path


class ReturnedFiles:
    """The head's record of the files its workers sent: (worker incarnation, key) -> the
    name the file has on the head."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.names: dict[tuple[str, FileKey], str] = {}

    def store(self, incarnation: str, files: dict[FileKey, bytes]) -> None:
        for key, data in files.items():
            kind, subfolder, filename = key
            target = confined(folder_of(self.settings, kind), subfolder, filename)
            match = _NUMBERED.match(filename)
            if match:
                stem, suffix = match["stem"], match["suffix"]
                path = save_new_file(target.parent, stem, suffix, lambda f: f.write(data))
            else:
                path = target
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    write_atomically(path, lambda f: f.write(data))
                except FileExistsError:
                    path = save_new_file(target.parent, target.stem, target.suffix,
                                         lambda f: f.write(data))
            self.names[incarnation, key] = path.name

    def rewrite(self, incarnation: str, ui: Any) -> Any:
        """``ui`` with each file entry renamed as the file is named on the head."""
        if not isinstance(ui, dict):
            return ui
        out = {}
        for name, values in ui.items():
            if isinstance(values, list):
                values = [self._renamed(incarnation, v) for v in values]
            out[name] = values
        return out

    def rewrite_outputs(self, incarnation: str, outputs: dict) -> dict:
        return {node: self.rewrite(incarnation, ui) for node, ui in outputs.items()}

    def _renamed(self, incarnation: str, value: Any) -> Any:
        if not (isinstance(value, dict) and value.get("type") in FOLDER_TYPES
                and isinstance(value.get("filename"), str)):
            return value
        name = self.names.get((incarnation, entry_key(value)))
        return {**value, "filename": name} if name else value


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_inputs(settings: Settings, names: frozenset[str]) -> dict[str, bytes]:
    """The input images a prompt reads, by name (missing ones are left out: the worker's
    LoadImage then reports the file as missing, as it would on the head)."""
    found = {}
    for name in sorted(names):
        try:
            found[name] = confined(settings.input_dir, "", name).read_bytes()
        except (OSError, ValueError):
            continue
    return found
