"""Saving a file under the next free ``prefix_NNNNN`` name without ever overwriting one.

Kept free of torch: the nodes that save images use it, and so does the cluster's head,
which stores the images its workers send back under the names one process would give.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def save_new_file(folder: Path, prefix: str, suffix: str, save) -> Path:
    """Write ``save(file)`` under the next free ``prefix_NNNNN`` name in ``folder``, atomically;
    if another process takes that name first, the next one is used. Returns the path."""
    while True:
        path = next_free_path(folder, prefix, suffix)
        try:
            write_atomically(path, save)
            return path
        except FileExistsError:
            continue


def next_free_path(folder: Path, prefix: str, suffix: str) -> Path:
    """``prefix_00001.png`` style names, never one that exists (no overwrite)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(prefix).name
    counter = 1 + max((_number(p.name, stem, suffix) for p in folder.glob(f"{stem}_*{suffix}")),
                      default=0)
    while (path := folder / f"{stem}_{counter:05d}{suffix}").exists():
        counter += 1
    return path


def _number(name: str, stem: str, suffix: str) -> int:
    middle = name[len(stem) + 1: -len(suffix)]
    return int(middle) if middle.isdigit() else 0


def write_atomically(path: Path, save) -> None:
    """Call ``save(file)`` on a temporary file next to ``path`` and move it into place only when
    complete, so a failure never leaves a half-written image; refuses to replace a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            save(handle)
        os.link(tmp, path)  # fails if path appeared meanwhile: never overwrite
    finally:
        os.unlink(tmp)
