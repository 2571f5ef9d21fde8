"""`nodeflow new-pack`: scaffold, pip install -e, list the node, run it, and its own tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodeflow.cli import main

ROOT = Path(__file__).resolve().parents[2]


def sh(*cmd, cwd=None, env=None):
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture
def installed_pack(tmp_path):
    assert main(["new-pack", "nf-scaffold-probe", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "nf-scaffold-probe"
    proc = sh(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(root))
    assert proc.returncode == 0, proc.stderr
    try:
        yield root
    finally:
        sh(sys.executable, "-m", "pip", "uninstall", "-y", "-q", "nf-scaffold-probe")


def test_scaffolded_pack_installs_lists_runs_and_tests(installed_pack, tmp_path):
    env = {**os.environ, "NODEFLOW_HOME": str(tmp_path / "home")}
    listing = sh(sys.executable, "-m", "nodeflow", "nodes", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    assert data["nodes"]["NfScaffoldProbeRepeat"]["pack"] == "nf_scaffold_probe"
    workflow = {"nodeflow": 1, "nodes": {
        "r": {"type": "NfScaffoldProbeRepeat", "inputs": {"text": "ab", "repeat": 3}},
        "show": {"type": "ShowValue", "inputs": {"value": {"node": "r", "output": "string"}}}}}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(workflow))
    ran = sh(sys.executable, "-m", "nodeflow", "run", str(path), env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "show: ab ab ab\n"
    tests = sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               cwd=installed_pack, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout


def test_new_pack_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["new-pack", "9 bad name", "--dir", str(tmp_path)]) == 2
    (tmp_path / "taken").mkdir()
    assert main(["new-pack", "taken", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_fresh_pack_tests_pass_without_warnings(tmp_path):
    """Straight after `new-pack`, before any install: its own pytest run is clean."""
    assert main(["new-pack", "nf-fresh-probe", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "nf-fresh-probe"
    assert (root / "nf_fresh_probe" / "web" / "nf_fresh_probe.js").is_file()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NODEFLOW_HOME": str(tmp_path / "home")}
    tests = sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root,
               env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout
    assert "warning" not in (tests.stdout + tests.stderr).lower()


def test_the_guide_shows_the_entry_point_the_scaffold_writes(tmp_path):
    assert main(["new-pack", "nodeflow-my-pack", "--dir", str(tmp_path)]) == 0
    pyproject = (tmp_path / "nodeflow-my-pack" / "pyproject.toml").read_text()
    section = pyproject.split("\n\n")
    [entry_point] = [part for part in section if "nodeflow.nodes" in part]
    assert entry_point.strip() in (ROOT / "docs" / "custom-nodes.md").read_text()
