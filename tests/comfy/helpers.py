"""What the ComfyUI pack tests share: a base folder holding test packs, and the CLI run on it
in a fresh process (as a user runs it)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKS = Path(__file__).with_name("packs")


def home_with(tmp_path: Path, *packs: Path) -> Path:
    """A base folder whose custom_nodes holds ``packs`` (every test pack when none is named)."""
    home = tmp_path / "home"
    if not packs:
        shutil.copytree(PACKS, home / "custom_nodes")
    for pack in packs:
        shutil.copytree(pack, home / "custom_nodes" / pack.name)
    return home


def cli(base: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nodeflow", *args, "--base-dir", str(base)],
                          capture_output=True, text=True, env=env, timeout=timeout)


def live_server_class():
    """tests/server/live.py's Live (a real server process), loaded by path: while ComfyUI packs
    are loaded in this process the top-level name ``server`` is ComfyUI's PromptServer shim."""
    spec = importlib.util.spec_from_file_location("nodeflow_test_live_for_packs",
                                                  ROOT / "tests" / "server" / "live.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Live
