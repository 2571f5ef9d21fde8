"""Reroute points on links: kept in the file (as layout, in the target node's "ui"), restored
on open, and surviving a reload; undo removes a new one."""
from __future__ import annotations

from .helpers import graph_to_client, open_file, workflow

DOC = {"nodeflow": 1, "name": "reroutes", "nodes": {
    "n": {"type": "PrimitiveInt", "inputs": {"value": 3}, "ui": {"pos": [60, 80]}},
    "show": {"type": "ShowValue", "inputs": {"value": {"node": "n", "output": "int"}},
             "ui": {"pos": [600, 300], "reroutes": {"value": [[400, 120], [450, 250]]}}}}}


def test_reroutes_round_trip_and_undo(editor):
    open_file(editor, DOC, "reroutes.json")
    assert editor.evaluate("nodeflow.editor.graph.reroutes.size") == 2
    saved = workflow(editor)
    assert saved["nodes"]["show"]["ui"]["reroutes"] == {"value": [[400, 120], [450, 250]]}
    # Alt+click on the link's last stretch adds a reroute point there
    centres = editor.evaluate("[...nodeflow.editor.canvas.renderedPaths].map((p) => p._pos)"
                              ".filter(Boolean).map((c) => [c[0], c[1]])")
    last = min(centres, key=lambda c: abs(c[0] - 525) + abs(c[1] - 275))  # past [450, 250]
    editor.keyboard.down("Alt")
    editor.mouse.click(*graph_to_client(editor, *last))
    editor.keyboard.up("Alt")
    editor.wait_for_timeout(100)
    points = workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"]
    assert len(points) == 3 and points[:2] == [[400, 120], [450, 250]]
    editor.keyboard.press("Control+z")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points[:2]
    editor.keyboard.press("Control+y")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points
    editor.reload()
    editor.wait_for_selector("body[data-ready=true]")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points
    assert editor.evaluate("nodeflow.editor.graph.reroutes.size") == 3
