"""What a shared file says it needs: nodeflow's version, the packs and their node types, each
node's type version; migrations on load; a node no migration reaches stays as it was saved."""
from __future__ import annotations

import json

from nodeflow import migration, node
from nodeflow.migrations import upgrade_workflow
from nodeflow.registry import PackInfo, Registry
from nodeflow.requires import with_requirements
from nodeflow.engine.validate import validate
from nodeflow.workflow import dump_workflow, parse_workflow


@node(category="test", version="3.0.0")
def Glow(value: float, strength: float = 0.5) -> float:
    """3.x: 'amount' (1.x) became 'strength', and the default went from 1.0 to 0.5."""
    return value * strength


@migration("Glow", from_version="2", to_version="3.0.0")
def glow_2_to_3(inputs: dict) -> dict:
    inputs["strength"] = inputs.pop("amount", 1.0)  # keep 2.x's default explicitly
    return inputs


@node(category="test", output=True)
def Sink(value: float) -> None:
    """Test output node."""


def registry() -> Registry:
    reg = Registry()
    reg.add_nodes([Glow, glow_2_to_3, Sink], PackInfo("glow_pack", "3.1.0", "tests", "custom"))
    return reg


def workflow(version: str, inputs: dict) -> dict:
    return {"nodeflow": 1, "nodes": {
        "g": {"type": "Glow", "version": version, "inputs": {"value": 2.0, **inputs}},
        "s": {"type": "Sink", "inputs": {"value": {"node": "g", "output": "float"}}}}}


def test_saving_writes_nodeflow_version_packs_and_node_versions():
    stamped = with_requirements(parse_workflow(workflow("3.0.0", {})), registry())
    saved = json.loads(dump_workflow(stamped))
    assert saved["requires"]["nodeflow"].startswith(">=")
    assert saved["requires"]["packs"] == {"glow_pack": {"version": "3.1.0",
                                                        "nodes": ["Glow", "Sink"]}}
    assert (saved["nodes"]["g"]["version"], saved["nodes"]["s"]["version"]) == ("3.0.0", "1.0.0")


def test_opening_a_file_whose_pack_is_absent_names_the_pack_and_its_types():
    saved = with_requirements(parse_workflow(workflow("3.0.0", {})), registry())
    problems = validate(saved, Registry())
    assert {(p.node, p.message) for p in problems} == {
        ("g", ("unknown node type 'Glow' (provided by pack 'glow_pack' 3.1.0, which is not "
               "installed)")),
        ("s", ("unknown node type 'Sink' (provided by pack 'glow_pack' 3.1.0, which is not "
               "installed)"))}


def test_a_renamed_input_and_a_changed_default_migrate_with_a_note():
    old = parse_workflow(workflow("2.4.0", {"amount": 0.25}))
    new, notes = upgrade_workflow(old, registry())
    assert new.nodes["g"].inputs == {"value": 2.0, "strength": 0.25}
    assert new.nodes["g"].version == "3.0.0"
    assert notes == ["node 'g': Glow upgraded from 2.4.0 to 3.0.0"]
    unset, _ = upgrade_workflow(parse_workflow(workflow("2.0.0", {})), registry())
    assert unset.nodes["g"].inputs["strength"] == 1.0  # 2.x's default, not 3.x's 0.5
    assert validate(new, registry()) == [] and validate(unset, registry()) == []


def test_a_major_version_without_migration_stays_a_placeholder_and_says_why():
    old = parse_workflow(workflow("1.2.0", {"amount": 0.75, "mode": "soft"}))
    kept, notes = upgrade_workflow(old, registry())
    assert notes == [] and kept.nodes["g"] == old.nodes["g"]  # every value as saved
    [problem] = [p for p in validate(kept, registry()) if p.input is None]
    assert problem.node == "g"
    assert problem.message == ("saved with Glow 1.2.0; the installed version is 3.0.0 and pack "
                               "'glow_pack' registers no migration from 1.x")
    assert json.loads(dump_workflow(kept))["nodes"]["g"]["inputs"] == {
        "value": 2.0, "amount": 0.75, "mode": "soft"}
