"""The vendored canvas library is byte-identical to what VENDOR.md records, only the adapter
imports it, and the server sends the editor's scripts as text/javascript."""
from __future__ import annotations

import hashlib
import re
import urllib.request
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
VENDOR = WEB / "vendor" / "litegraph"


def recorded_sums() -> dict[str, str]:
    text = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    block = re.search(r"```sha256\n(.*?)```", text, re.DOTALL).group(1)
    return {name: digest for digest, name in (line.split() for line in block.splitlines())}


def test_vendored_litegraph_matches_its_recorded_sha256():
    sums = recorded_sums()
    assert set(sums) == {"litegraph.es.js", "litegraph.css", "LICENSE"}
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT" in (VENDOR / "VENDOR.md").read_text() and "Permission is hereby granted" in \
        (VENDOR / "LICENSE").read_text()


def test_only_the_adapter_imports_the_library():
    importers = [p.name for p in (WEB / "js").glob("*.js") if "vendor/litegraph" in p.read_text()]
    assert importers == ["adapter.js"]


def test_scripts_are_served_as_javascript(server):
    for path in ("/js/main.js", "/vendor/litegraph/litegraph.es.js"):
        with urllib.request.urlopen(server + path) as response:
            assert response.headers["Content-Type"].startswith("text/javascript"), path
    with urllib.request.urlopen(server + "/") as response:
        assert response.headers["Content-Type"].startswith("text/html")
