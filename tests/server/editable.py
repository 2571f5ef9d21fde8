"""A pack installed as its guide says (``nodeflow new-pack`` + ``pip install -e``), into a
throwaway virtual environment so the shared one stays as it is.

The throwaway environment sees the shared one's packages (a ``.pth`` file adds its
site-packages), so nodeflow and torch need no second install.
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

from nodeflow.scaffold import scaffold


def make_venv(root: Path) -> Path:
    """A venv whose python sees the running interpreter's site-packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in shared]
    Path(purelib, "shared_env.pth").write_text("\n".join(lines) + "\n")
    return python


def editable_pack(name: str, parent: Path, python: Path) -> Path:
    """Scaffold ``name`` under ``parent`` and ``pip install -e`` it into ``python``'s venv."""
    root = scaffold(name, parent)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "-q", "--no-deps", "-e", str(root)],
                          capture_output=True, text=True,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root
