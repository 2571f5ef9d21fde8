"""Where the folders shipped with nodeflow (nodes/, web/, workflows/) are.

In a wheel they live in ``nodeflow/_data/``; in a source checkout or an editable install
they are the repository's top-level folders.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
