"""The command line: exit codes, output streams, --set, PNG input, no tracebacks for mistakes."""
from __future__ import annotations

import gc
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from nodeflow.cli import main

SHOW = {"nodeflow": 1, "name": "show", "nodes": {
    "n": {"type": "PrimitiveInt", "inputs": {"value": 5}},
    "show": {"type": "ShowValue", "inputs": {"value": {"node": "n", "output": "int"}}}}}


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("NODEFLOW_HOME", str(tmp_path / "home"))
    return tmp_path


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_run_prints_results_on_stdout_and_progress_on_stderr(base, capsys):
    assert main(["run", str(write_json(base / "w.json", SHOW))]) == 0
    out, err = capsys.readouterr()
    assert out == "show: 5\n"
    assert "[1/2] n (PrimitiveInt)" in err and "[2/2] show (ShowValue)" in err


def test_set_overrides_a_value_and_is_validated(base, capsys):
    path = str(write_json(base / "w.json", SHOW))
    assert main(["run", path, "--set", "n.value=42"]) == 0
    assert capsys.readouterr().out == "show: 42\n"
    assert main(["run", path, "--set", "n.value=many"]) == 1
    err = capsys.readouterr().err
    assert "error: node 'n', input 'value': expected an integer (INT), got 'many'" in err
    assert "Traceback" not in err


def test_set_string_inputs_take_the_text_as_is(base, capsys):
    data = {"nodeflow": 1, "nodes": {
        "t": {"type": "PrimitiveString", "inputs": {"value": "x"}},
        "show": {"type": "ShowValue", "inputs": {"value": {"node": "t", "output": "string"}}}}}
    assert main(["run", str(write_json(base / "w.json", data)), "--set", "t.value=7"]) == 0
    assert capsys.readouterr().out == "show: 7\n"


@pytest.mark.parametrize("override", ["novalue", "n=3", "ghost.value=1", ".value=1"])
def test_bad_set_is_a_usage_error(base, capsys, override):
    assert main(["run", str(write_json(base / "w.json", SHOW)), "--set", override]) == 2
    assert "--set" in capsys.readouterr().err


def test_validate(base, capsys):
    assert main(["validate", str(write_json(base / "ok.json", SHOW))]) == 0
    assert capsys.readouterr().out == "ok\n"
    bad = json.loads(json.dumps(SHOW))
    bad["nodes"]["n"]["inputs"]["value"] = "five"
    bad["nodes"]["x"] = {"type": "Missing"}
    assert main(["validate", str(write_json(base / "bad.json", bad))]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: node 'n', input 'value': expected an integer (INT), got 'five'",
                   "error: node 'x': unknown node type 'Missing' (not installed)"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"nodeflow": 1, "nodes": 3}'])
def test_malformed_files_exit_1_without_traceback(base, capsys, content):
    path = base / "bad.json"
    path.write_text(content)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_missing_file(base, capsys):
    assert main(["validate", str(base / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_bad_usage_exits_2(base, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert main([]) == 2


def test_base_dir_option_beats_the_environment(base, capsys):
    custom = base / "elsewhere" / "custom_nodes"
    custom.mkdir(parents=True)
    (custom / "broken.py").write_text("raise ValueError('nope')\n")
    assert main(["nodes", "--base-dir", str(base / "elsewhere")]) == 0
    out = capsys.readouterr().out
    assert "PrimitiveInt" in out
    assert "packs that failed to load:" in out and "broken" in out and "ValueError: nope" in out


def test_nodes_json(base, capsys):
    assert main(["nodes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"]["PrimitiveInt"]["outputs"] == [
        {"name": "int", "type": "INT", "color": "#7fb3d5"}]
    assert data["failures"] == [] and data["packs"][0]["name"] == "core"


def test_a_failing_node_exits_1_and_names_it(base, capsys):
    custom = base / "home" / "custom_nodes"
    custom.mkdir(parents=True)
    (custom / "fails.py").write_text(
        "from nodeflow import node, NodeError\n"
        "@node(output=True)\n"
        "def Picky(x: int) -> None:\n"
        "    raise NodeError('x must be even', input='x')\n")
    data = {"nodeflow": 1, "nodes": {"p": {"type": "Picky", "inputs": {"x": 3}}}}
    assert main(["run", str(write_json(base / "w.json", data))]) == 1
    err = capsys.readouterr().err
    assert "error: node 'p' (Picky), input 'x': x must be even" in err
    assert "Traceback" not in err


def png_with_text(key: str, text: str) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"tEXt", key.encode() + b"\0" + text.encode())
            + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))


def test_run_a_png_that_carries_a_workflow(base, capsys):
    path = base / "image.png"
    path.write_bytes(png_with_text("nodeflow", json.dumps(SHOW)))
    assert main(["run", str(path)]) == 0
    assert capsys.readouterr().out == "show: 5\n"
    path.write_bytes(png_with_text("prompt", "{}"))
    assert main(["run", str(path)]) == 1
    assert "ComfyUI workflow" in capsys.readouterr().err
    path.write_bytes(png_with_text("nodeflow", json.dumps(SHOW))[:40])
    assert main(["run", str(path)]) == 1
    assert "truncated" in capsys.readouterr().err


def test_console_script_runs_without_importing_torch(base):
    code = ("import sys; from nodeflow.cli import main; rc = main(['nodes']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    env = {**os.environ, "NODEFLOW_HOME": str(base / "home")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "PrimitiveInt" in proc.stdout


def test_run_and_validate_honour_bypass_and_mute(base, capsys):
    data = json.loads(json.dumps(SHOW))
    data["nodes"]["muted"] = {"type": "ShowValue", "mode": "mute",
                              "inputs": {"value": {"node": "n", "output": "int"}}}
    path = str(write_json(base / "w.json", data))
    assert main(["run", path]) == 0
    assert capsys.readouterr().out == "show: 5\n"  # the muted ShowValue did not run
    data["nodes"]["n"]["mode"] = "mute"
    write_json(base / "w.json", data)
    assert main(["validate", path]) == 1
    err = capsys.readouterr().err
    assert "node 'show', input 'value': comes from node 'n', which is muted" in err
    assert "Traceback" not in err


def test_the_command_leaves_what_it_made_out_of_the_collection_at_exit(tmp_path):
    """`nodeflow` (the console script and `python -m nodeflow`) returns main's exit code with
    the objects alive at the end frozen, so the process does not walk them all again as it exits
    (1.3 s with the model stack imported); main itself, which tests call, freezes nothing."""
    code = ("import gc, sys; sys.argv = ['nodeflow', 'validate', sys.argv[1]]; "
            "from nodeflow.cli import entry; before = gc.get_freeze_count(); exit_code = entry(); "
            "print(exit_code, before, gc.get_freeze_count() > 1000)")
    workflow = Path(__file__).resolve().parents[2] / "workflows" / "txt2img.json"
    out = subprocess.run([sys.executable, "-c", code, str(workflow)], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["0", "0", "True"]
    assert "ok" in out.stdout
    ran = subprocess.run([sys.executable, "-m", "nodeflow", "validate", str(workflow)], capture_output=True, text=True)
    assert (ran.returncode, ran.stdout.strip()) == (0, "ok")
    before = gc.get_freeze_count()
    assert main(["validate", str(workflow)]) == 0 and gc.get_freeze_count() == before
