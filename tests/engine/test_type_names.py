"""Node type names with spaces, '+' and '|' (as real ComfyUI packs have them) through the
file, the CLI (`nodes --json`, `run --set` with a quoted node id) and list/lazy schemas."""
from __future__ import annotations

import json

import pytest

from nodeflow.cli import main

PACK = '''
from nodeflow import node, Field

@node(name="CR Prompt Text+ | v2", category="test")
def prompt_text(text: str = "hi", times: int = Field(1, ge=1, le=5)) -> str:
    """Repeat a text."""
    return text * times

@node(name="Mask Morphology", category="test", output=True)
def morph(value: str, *, ctx) -> None:
    """Show it."""
    ctx.report(text=[value])
'''

WORKFLOW = {"nodeflow": 1, "nodes": {
    "my node.v2": {"type": "CR Prompt Text+ | v2", "inputs": {"text": "ab"}},
    "a=b": {"type": "Mask Morphology",
            "inputs": {"value": {"node": "my node.v2", "output": "string"}}}}}


@pytest.fixture
def base(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "custom_nodes").mkdir(parents=True)
    (home / "custom_nodes" / "odd_names.py").write_text(PACK)
    monkeypatch.setenv("NODEFLOW_HOME", str(home))
    return tmp_path


def test_nodes_lists_odd_names(base, capsys):
    assert main(["nodes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"]["CR Prompt Text+ | v2"]["type"] == "CR Prompt Text+ | v2"
    assert data["failures"] == []


def test_run_with_odd_type_names_and_node_ids(base, capsys):
    path = base / "w.json"
    path.write_text(json.dumps(WORKFLOW))
    assert main(["run", str(path)]) == 0
    assert capsys.readouterr().out == "a=b: ab\n"
    assert main(["run", str(path), "--set", '"my node.v2".times=3']) == 0
    assert capsys.readouterr().out == "a=b: ababab\n"
    assert main(["run", str(path), "--set", "my node.v2.times=2"]) == 0
    assert capsys.readouterr().out == "a=b: abab\n"


@pytest.mark.parametrize("override", ['"my node.v2.times=3', '"my node.v2"times=3',
                                      '"ghost".times=1'])
def test_bad_quoted_set_is_a_usage_error(base, capsys, override):
    path = base / "w.json"
    path.write_text(json.dumps(WORKFLOW))
    assert main(["run", str(path), "--set", override]) == 2
    assert "--set" in capsys.readouterr().err


def test_validate_names_an_unknown_odd_type(base, capsys):
    path = base / "w.json"
    data = json.loads(json.dumps(WORKFLOW))
    data["nodes"]["my node.v2"]["type"] = "ImageResize+"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 1
    assert "unknown node type 'ImageResize+'" in capsys.readouterr().err


COMPONENT = {"nodeflow": 1, "component": "Shout twice", "version": "1.0.0",
             "description": "The text, twice.", "inputs": {"text": {"type": "STRING"}},
             "outputs": {"text": {"node": "r", "output": "string"}},
             "nodes": {"r": {"type": "CR Prompt Text+ | v2",
                             "inputs": {"text": {"node": "@inputs", "output": "text"},
                                        "times": 2}}}}


def test_components_are_listed_and_run_from_the_cli(base, capsys):
    folder = base / "home" / "components"
    folder.mkdir()
    (folder / "shout.json").write_text(json.dumps(COMPONENT))
    assert main(["nodes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"]["Shout twice"]["component"] is True
    assert data["nodes"]["Shout twice"]["outputs"][0]["type"] == "STRING"
    path = base / "w.json"
    path.write_text(json.dumps({"nodeflow": 1, "nodes": {
        "s": {"type": "Shout twice", "version": "1.0.0", "inputs": {"text": "hey "}},
        "show": {"type": "Mask Morphology", "inputs": {"value": {"node": "s",
                                                                 "output": "text"}}}}}))
    assert main(["run", str(path), "--set", "s.text=yo "]) == 0
    assert capsys.readouterr().out == "show: yo yo \n"
