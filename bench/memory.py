"""Resident memory of this process: now, and the peak so far (Linux)."""
from __future__ import annotations

import resource


def rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024**3


def peak_rss_gb() -> float:
    """The kernel's high-water mark of this process's own memory (VmHWM). Not getrusage's
    ru_maxrss: a child started by fork and exec counts its parent's RSS at the fork there (the
    parent that had just written the checkpoints gave a tiled decode 5 GB it never had)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
