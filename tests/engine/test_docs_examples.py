"""The runnable examples of docs/custom-nodes.md sections 13-16, 20 and 21: each section's
Python block is a custom node pack, its JSON block a workflow, and what the text says
`nodeflow run` prints is what it prints."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nodeflow.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom-nodes.md"
SECTIONS = ["13. Lists", "14. Lazy inputs and blocking", "15. Expansion", "16. Async nodes",
            "20. Growing inputs", "21. LatentBatch"]


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


@pytest.mark.parametrize("title", SECTIONS)
def test_docs_example_runs_and_prints_what_the_text_says(title, tmp_path, monkeypatch, capsys):
    section = _section(title)
    code = re.search(r"```python\n(# custom_nodes/(\S+)\n.*?)```", section, re.S)
    workflow = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    home = tmp_path / "home"
    (home / "custom_nodes").mkdir(parents=True)
    (home / "custom_nodes" / code.group(2)).write_text(code.group(1))
    monkeypatch.setenv("NODEFLOW_HOME", str(home))
    path = tmp_path / "w.json"
    path.write_text(workflow)
    json.loads(workflow)
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    printed = re.findall(r"`(show2?: [^`]*)`", section.split("```json", 1)[1])
    assert printed and set(printed) <= set(out), (printed, out)
