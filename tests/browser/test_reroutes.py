"""Reroute points on links: kept in the file (as layout, in the target node's "ui"), restored
on open, and surviving a reload; undo removes a new one."""
from __future__ import annotations

from .helpers import workflow

DOC = {"nodeflow": 1, "name": "reroutes", "nodes": {
    "n": {"type": "PrimitiveInt", "inputs": {"value": 3}, "ui": {"pos": [60, 80]}},
    "show": {"type": "ShowValue", "inputs": {"value": {"node": "n", "output": "int"}},
             "ui": {"pos": [600, 300], "reroutes": {"value": [[400, 120], [450, 250]]}}}}}


def test_reroutes_round_trip_and_undo(editor):
    editor.evaluate("doc => nodeflow.openWorkflow(doc)", DOC)
    assert editor.evaluate("nodeflow.editor.graph.reroutes.size") == 2
    saved = workflow(editor)
    assert saved["nodes"]["show"]["ui"]["reroutes"] == {"value": [[400, 120], [450, 250]]}
    editor.evaluate("""() => {
        const graph = nodeflow.editor.graph;
        const link = [...graph.links.values()][0];
        graph.createReroute([500, 300], link);
        document.dispatchEvent(new PointerEvent("pointerup"));  // as after a drag: an edit
    }""")
    editor.wait_for_timeout(100)
    points = workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"]
    assert points == [[400, 120], [450, 250], [500, 300]]
    editor.keyboard.press("Control+z")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points[:2]
    editor.keyboard.press("Control+y")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points
    editor.reload()
    editor.wait_for_selector("body[data-ready=true]")
    assert workflow(editor)["nodes"]["show"]["ui"]["reroutes"]["value"] == points
    editor.evaluate("nodeflow.openWorkflow(JSON.parse(JSON.stringify(nodeflow.currentWorkflow())))")
    assert editor.evaluate("nodeflow.editor.graph.reroutes.size") == 3
