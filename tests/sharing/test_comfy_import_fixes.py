"""Import fixes found by running a corpus of real ComfyUI workflows through `nodeflow import`."""
from __future__ import annotations

import json

from nodeflow.cli import main
from nodeflow.comfy.convert import import_workflow

from .conftest import FIXTURES


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_a_node_saved_without_widget_values_is_kept_with_defaults(registry, settings, tmp_path,
                                                                   home, capsys):
    data = fixture("comfyui-default-ui-0.4.json")
    latent = next(n for n in data["nodes"] if n["id"] == 5)
    del latent["widgets_values"]
    imported = import_workflow(data, registry, settings)
    assert imported.problems == []
    assert imported.workflow.nodes["5"].inputs == {}
    assert any("'5' (EmptyLatentImage) was saved without widget values: kept with the default"
               in note for note in imported.notes)
    source, out = tmp_path / "w.json", tmp_path / "out.json"
    source.write_text(json.dumps(data))
    assert main(["import", str(source), "-o", str(out), "--base-dir", str(home)]) == 0
    assert json.loads(out.read_text())["nodes"]["5"]["type"] == "EmptyLatent"
    capsys.readouterr()


def test_comfyuis_old_checkpoint_loader_keeps_the_checkpoint_name(registry, settings):
    data = fixture("comfyui-default-api.json")
    data["4"] = {"class_type": "CheckpointLoader",
                 "inputs": {"config_name": "v1-inference.yaml",
                            "ckpt_name": "v1-5-pruned-emaonly.safetensors"}}
    imported = import_workflow(data, registry, settings)
    assert imported.problems == []
    node = imported.workflow.nodes["4"]
    assert (node.type, node.inputs) == ("CheckpointLoader",
                                        {"checkpoint": "v1-5-pruned-emaonly.safetensors"})
    ui = fixture("comfyui-default-ui-0.4.json")
    loader = next(n for n in ui["nodes"] if n["id"] == 4)
    loader["type"], loader["widgets_values"] = "CheckpointLoader", ["v1-inference.yaml",
                                                                   "model.safetensors"]
    imported = import_workflow(ui, registry, settings)
    assert imported.problems == []
    assert imported.workflow.nodes["4"].inputs == {"checkpoint": "model.safetensors"}
    # exported back as the current ComfyUI loader
    from nodeflow.comfy.export import builtin_registry, comfy_chunks

    prompt = json.loads(comfy_chunks(imported.workflow, builtin_registry())["prompt"])
    assert prompt["4"]["class_type"] == "CheckpointLoaderSimple"


def test_a_hosting_services_request_is_unwrapped(registry, settings):
    wrapped = {"input": {"workflow": fixture("comfyui-default-api.json"), "images": []}}
    imported = import_workflow(json.dumps(wrapped), registry, settings)
    assert imported.problems == [] and set(imported.workflow.nodes) == {
        "3", "4", "5", "6", "7", "8", "9"}
    assert "unwrapped from a hosting service's request" in imported.notes[0]
    wrapped_ui = {"input": {"workflow": fixture("comfyui-default-ui-1.json")}}
    assert import_workflow(wrapped_ui, registry, settings).workflow.nodes["3"].type == "KSampler"
