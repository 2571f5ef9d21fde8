"""The wheel carries nodes/, web/ and workflows/, and works from any folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_finds_its_builtin_packs(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("nodeflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nodeflow/_data/nodes/core/__init__.py" in names
    shipped = [p for folder in ("web", "workflows") for p in (ROOT / folder).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    for path in shipped:
        assert f"nodeflow/_data/{path.relative_to(ROOT).as_posix()}" in names
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(target), str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import json, nodeflow, sys; from nodeflow.cli import main; "
            "print(json.dumps(nodeflow.__file__)); sys.exit(main(['nodes', '--json']))")
    env = {**os.environ, "PYTHONPATH": str(target), "NODEFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    first, _, rest = proc.stdout.partition("\n")
    assert json.loads(first).startswith(str(target))
    listing = json.loads(rest)
    assert listing["packs"][0]["origin"].startswith(str(target))
    assert "PrimitiveInt" in listing["nodes"] and listing["failures"] == []
