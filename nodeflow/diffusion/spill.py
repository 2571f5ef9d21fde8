"""Images too large for RAM, kept in a deleted file on disk during a tiled VAE pass.

A tiled decode at 2048 px makes full-resolution images of 2-4 GB between its steps. Kept in
RAM they would break the pass's memory bound; not kept, each GroupNorm of the steps after the
last kept image re-runs them from it (vae_segments): a 2048 px decode took 1368 s that way and
446 s spilled. Spilled, such an image lives in the page cache of a file that is deleted
as soon as it is made: the kernel writes it to disk when it needs the RAM, and the process maps
its pages only while a tile is written or read (dropped with MADV_DONTNEED after each), so the
process's RSS grows by a tile, not by the image.

The blocks are reserved when the file is made (posix_fallocate), so a full disk shows then, as
an OSError the caller can fall back from, and never later as a SIGBUS on a write. A folder on
tmpfs or ramfs is not used: its pages would stay in RAM.
"""
from __future__ import annotations

import math
import mmap
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import torch

IN_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"})


def filesystem_type(path: Path, mountinfo: str) -> str | None:
    """The type of the filesystem that holds ``path`` (absolute, resolved), from the text of
    /proc/self/mountinfo: the entry with the longest mount point above it."""
    best, kind = -1, None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        mount = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if (mount == path or mount in path.parents) and len(mount.parts) > best:
            best, kind = len(mount.parts), fields[fields.index("-", 6) + 1]
    return kind


def spill_folder(folder: str | os.PathLike | None) -> Path | None:
    """``folder`` (made if missing) where spilling works and keeps images out of RAM: Linux,
    whose madvise drops a shared file mapping's pages while the page cache keeps them, and a
    filesystem on a disk. None otherwise: the pass keeps to RAM."""
    if folder is None or not sys.platform.startswith("linux"):
        return None
    try:
        path = Path(folder).resolve()
        path.mkdir(parents=True, exist_ok=True)
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    return None if filesystem_type(path, mountinfo) in IN_MEMORY_FILESYSTEMS else path


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


class SpilledImage:
    """A tensor of ``shape`` [B, C, H, W] (channels-last in memory if asked) whose memory is a
    deleted file in ``folder``. Raises OSError (ENOSPC on a full disk) when the file cannot be
    made."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, folder: Path, channels_last: bool = False):
        nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        descriptor, name = tempfile.mkstemp(prefix="nodeflow-spill-", dir=folder)
        try:
            os.unlink(name)
            os.posix_fallocate(descriptor, 0, nbytes)
            self._map = mmap.mmap(descriptor, nbytes)
        finally:
            os.close(descriptor)
        flat = torch.frombuffer(self._map, dtype=dtype)
        if channels_last:
            batch, channels, height, width = shape
            self.tensor = flat.view(batch, height, width, channels).permute(0, 3, 1, 2)
        else:
            self.tensor = flat.view(shape)

    def drop_pages(self) -> None:
        """Unmap the pages this process touched; their data stays in the page cache (or on disk)."""
        self._map.madvise(mmap.MADV_DONTNEED)
