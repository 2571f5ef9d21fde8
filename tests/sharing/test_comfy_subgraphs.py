"""ComfyUI subgraphs (``definitions.subgraphs``, editor format 1 and 0.4) import as nodeflow
subgraphs that run the same as the flat graph; export writes the subgraph flattened."""
from __future__ import annotations

import copy
import json

import pytest

from nodeflow.comfy.convert import import_workflow
from nodeflow.comfy.export import export_api, export_ui
from nodeflow.engine.subgraphs import flatten
from nodeflow.engine.validate import validate

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "sharing" / "fixtures"
UUID = "6f1c1d34-6e0b-4b0c-9a1e-1d4c7f2a9b10"


def with_subgraph(version: int = 1) -> dict:
    """ComfyUI's default workflow with its VAEDecode moved into a subgraph "Decode it"."""
    data = json.loads((FIXTURES / "comfyui-default-ui-1.json").read_text())
    decode = next(n for n in data["nodes"] if n["type"] == "VAEDecode")
    inner = copy.deepcopy(decode)
    inner["id"] = 1
    inner["inputs"][0]["link"], inner["inputs"][1]["link"] = 101, 102
    inner["outputs"][0]["links"] = [103]
    decode["type"] = UUID
    decode.pop("widgets_values", None)
    data["definitions"] = {"subgraphs": [{
        "id": UUID, "version": 1, "name": "Decode it",
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
        "inputs": [{"id": "a", "name": "samples", "type": "LATENT", "linkIds": [101]},
                   {"id": "b", "name": "vae", "type": "VAE", "linkIds": [102]}],
        "outputs": [{"id": "c", "name": "IMAGE", "type": "IMAGE", "linkIds": [103]}],
        "widgets": [], "nodes": [inner],
        "links": [
            {"id": 101, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0,
             "type": "LATENT"},
            {"id": 102, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1,
             "type": "VAE"},
            {"id": 103, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0,
             "type": "IMAGE"}]}]}
    if version == 0:  # editor format 0.4: links as lists, in the main graph only
        data["version"] = 0.4
        data["links"] = [[l["id"], l["origin_id"], l["origin_slot"], l["target_id"],
                          l["target_slot"], l["type"]] for l in data["links"]]
    return data


@pytest.mark.parametrize("version", [1, 0])
def test_a_comfy_subgraph_imports_as_a_nodeflow_subgraph(version, registry, settings):
    imported = import_workflow(with_subgraph(version), registry, settings)
    assert imported.problems == []
    workflow = imported.workflow
    [(name, definition)] = workflow.subgraphs.items()
    assert name == "Decode it"
    assert {k: v.type for k, v in definition.inputs.items()} == {"samples": "LATENT",
                                                                  "vae": "VAE"}
    assert definition.nodes["1"].type == "VAEDecode"
    assert definition.nodes["1"].inputs == {"latent": {"node": "@inputs", "output": "samples"},
                                            "vae": {"node": "@inputs", "output": "vae"}}
    assert definition.outputs["IMAGE"].node == "1"
    assert workflow.nodes["8"].type == "Decode it"
    assert workflow.nodes["9"].inputs["images"] == {"node": "8", "output": "IMAGE"}
    # valid but for the checkpoint file, which is not installed here
    assert [(p.node, p.input) for p in validate(workflow, registry, settings)] == [
        ("4", "checkpoint")]


def test_an_imported_subgraph_flattens_to_the_flat_import(registry, settings):
    nested = import_workflow(with_subgraph(), registry, settings).workflow
    flat = import_workflow(json.loads((FIXTURES / "comfyui-default-ui-1.json").read_text()),
                           registry, settings).workflow
    flattened = flatten(nested, registry).workflow
    assert flattened.nodes["8/1"].inputs == flat.nodes["8"].inputs
    assert flattened.nodes["9"].inputs == {"images": {"node": "8/1", "output": "image"},
                                           **{k: v for k, v in flat.nodes["9"].inputs.items()
                                              if k != "images"}}


def test_problems_inside_a_comfy_subgraph_name_it(registry, settings):
    data = with_subgraph()
    data["definitions"]["subgraphs"][0]["nodes"][0]["type"] = "FancyDecode"
    imported = import_workflow(data, registry, settings)
    assert [(p.node, p.kind) for p in imported.problems][0] == ("Decode it/1", "untranslatable")


def test_export_api_writes_subgraphs_flattened(registry, settings):
    workflow = import_workflow(with_subgraph(), registry, settings).workflow
    prompt, problems = export_api(workflow, registry)
    assert problems == []
    assert prompt["8/1"]["class_type"] == "VAEDecode"
    assert prompt["9"]["inputs"]["images"] == ["8/1", 0]


def test_export_ui_writes_comfy_subgraph_definitions_that_import_back(registry, settings):
    workflow = import_workflow(with_subgraph(), registry, settings).workflow
    drawing, problems = export_ui(workflow, registry)
    assert problems == []
    [definition] = drawing["definitions"]["subgraphs"]
    assert definition["id"] == UUID and definition["name"] == "Decode it"
    assert [i["name"] for i in definition["inputs"]] == ["samples", "vae"]
    assert {l["origin_id"] for l in definition["links"]} >= {-10}
    assert {l["target_id"] for l in definition["links"]} >= {-20}
    assert next(n for n in drawing["nodes"] if n["id"] == 8)["type"] == UUID
    again = import_workflow(json.loads(json.dumps(drawing)), registry, settings)
    assert again.problems == []
    assert again.workflow.subgraphs["Decode it"].nodes == workflow.subgraphs["Decode it"].nodes
    assert flatten(again.workflow, registry).workflow.nodes.keys() == \
        flatten(workflow, registry).workflow.nodes.keys()


def test_literals_on_a_subgraph_node_export_as_primitive_nodes(registry, settings):
    data = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt_text = data["nodes"]["positive"]["inputs"]["text"]
    data["subgraphs"] = {"Encode": {
        "inputs": {"clip": {"type": "CLIP"}, "text": {"type": "STRING"},
                   "unused": {"type": "INT", "default": 3}},
        "outputs": {"conditioning": {"node": "enc", "output": "conditioning"}},
        "nodes": {"enc": {"type": "TextEncode", "inputs": {
            "clip": {"node": "@inputs", "output": "clip"},
            "text": {"node": "@inputs", "output": "text"}}}}}}
    data["nodes"]["positive"] = {"type": "Encode", "inputs": {
        "clip": {"node": "ckpt", "output": "clip"}, "text": prompt_text}}
    from nodeflow.workflow import parse_workflow

    workflow = parse_workflow(data)
    drawing, problems = export_ui(workflow, registry)
    assert problems == []
    primitives = [n for n in drawing["nodes"] if n["type"] == "PrimitiveNode"]
    assert sorted(n["widgets_values"][0] for n in primitives if n["title"] == "text") == [
        prompt_text]
    imported = import_workflow(drawing, registry, settings)
    assert imported.problems == []
    again = imported.workflow
    [(number, node)] = [(k, n) for k, n in again.nodes.items() if n.type == "Encode"]
    assert node.inputs["text"] == prompt_text and node.inputs["unused"] == 3
    [(inner_id, inner)] = again.subgraphs["Encode"].nodes.items()
    assert inner.inputs == workflow.subgraphs["Encode"].nodes["enc"].inputs


def test_promoted_widgets_keep_the_inner_nodes_values(registry, settings):
    """Frontends from 1.28 promote an inner widget to the subgraph node (properties.
    proxyWidgets) and keep its value on the inner node: left open outside, that value runs."""
    data = json.loads((FIXTURES / "comfyui-default-ui-1.json").read_text())
    latent = next(n for n in data["nodes"] if n["type"] == "EmptyLatentImage")
    inner = copy.deepcopy(latent)
    inner["id"] = 1
    inner["widgets_values"] = [96, 80, 1]
    inner["inputs"] = [{"name": "width", "type": "INT", "widget": {"name": "width"},
                        "link": 101}]
    inner["outputs"][0]["links"] = [102]
    latent.update(type=UUID, widgets_values=[],
                  inputs=[{"name": "width", "type": "INT", "widget": {"name": "width"},
                           "link": None}],
                  properties={"proxyWidgets": [["1", "width"]]})
    data["definitions"] = {"subgraphs": [{
        "id": UUID, "version": 1, "name": "Canvas",
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
        "inputs": [{"id": "a", "name": "width", "type": "INT", "linkIds": [101]}],
        "outputs": [{"id": "b", "name": "LATENT", "type": "LATENT", "linkIds": [102]}],
        "widgets": [], "nodes": [inner],
        "links": [
            {"id": 101, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0,
             "type": "INT"},
            {"id": 102, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0,
             "type": "LATENT"}]}]}
    imported = import_workflow(data, registry, settings)
    assert imported.problems == []
    assert imported.workflow.subgraphs["Canvas"].inputs["width"].default == 96
    flat = flatten(imported.workflow, registry).workflow
    (empty,) = [spec for spec in flat.nodes.values() if spec.type == "EmptyLatent"]
    assert (empty.inputs["width"], empty.inputs["height"]) == (96, 80)
    assert validate(flat.model_copy(update={"nodes": {
        k: v.model_copy(update={"inputs": {**v.inputs, "checkpoint": "nodeflow-tiny"}})
        if v.type == "CheckpointLoader" else v for k, v in flat.nodes.items()}}),
        registry, settings) == []

