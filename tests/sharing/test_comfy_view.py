"""The ComfyUI view of the registry (comfy/object_view.py) and the editor-format export built on
it (comfy/view_export.py): checked against the mapping table generically, so a mapping added
to the table is checked too."""
from __future__ import annotations

import json

import pytest

from nodeflow.comfy.api_format import convert_api_prompt
from nodeflow.comfy.convert import import_workflow
from nodeflow.comfy.mapping import CONTROL, NODE_MAPPINGS
from nodeflow.comfy.object_view import (
    ALIAS_PREFIX,
    BUILTIN_MODULE,
    comfy_core_names,
    comfy_object_info,
    native_type,
)
from nodeflow.comfy.view_export import to_comfy_editor
from nodeflow.engine.subgraphs import flatten
from nodeflow.workflow import as_link, parse_workflow

from .conftest import EXAMPLES



@pytest.fixture(scope="module")
def view(registry, settings):
    return comfy_object_info(registry, settings)


def _inputs(info: dict) -> dict[str, list]:
    return {**info["input"]["required"], **info["input"].get("optional", {})}


def _widget_sequence(info: dict) -> list[str]:
    """The names of the editor's widget values, in order, as the frontend builds them."""
    names = []
    upload = False
    for name in info["input_order"]["required"] + info["input_order"].get("optional", []):
        kind, options = _inputs(info)[name]
        if options.get("forceInput") or not (isinstance(kind, list) or kind in {
                "INT", "FLOAT", "STRING", "BOOLEAN"}):
            continue
        names.append(name)
        if options.get("control_after_generate"):
            names.append(CONTROL)
        upload = upload or bool(options.get("image_upload"))
    return names + ["upload"] * upload  # the picker button comes after the other widgets


def test_every_mapped_node_is_published_under_its_comfyui_name(view, registry):
    mapped = [m for m in NODE_MAPPINGS.values() if m.nodeflow_type in registry
              and (m.export or not m.dropped)]  # import-only readers of old files are not
    assert len(mapped) >= 20                      # offered (ComfyUI's deprecated CheckpointLoader)
    for mapping in mapped:
        info = view[mapping.comfy_type]
        node_def = registry.get(mapping.nodeflow_type)
        assert info["name"] == mapping.comfy_type and info["python_module"] == "nodes"
        assert _widget_sequence(info)[:len(mapping.widgets)] == list(mapping.widgets), \
            mapping.comfy_type
        for name in _inputs(info):
            assert name in mapping.dropped or mapping.input_name(name) in node_def.inputs, \
                (mapping.comfy_type, name)
        outputs = {o.name: o.socket.type_name for o in node_def.outputs}
        assert info["output"] == [outputs[n] for n in mapping.outputs], mapping.comfy_type
        assert info["output_node"] == node_def.output_node


def test_comfyui_inputs_widgets_and_flags(view):
    ksampler = view["KSampler"]
    assert list(_inputs(ksampler)) == ["model", "positive", "negative", "latent_image", "seed",
                                       "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert ksampler["input"]["required"]["seed"][1]["control_after_generate"] is True
    assert ksampler["input"]["required"]["scheduler"][1]["default"] == "normal"
    assert view["KSamplerAdvanced"]["input"]["required"]["add_noise"][0] == ["enable",
                                                                           "disable"]
    assert view["LoadImage"]["input"]["required"]["image"][1]["image_upload"] is True
    mask = view["LoadImageMask"]["input"]["required"]
    assert mask["image"][1]["image_upload"] is True and "image_upload" not in mask["channel"][1]
    assert mask["channel"][0] == ["alpha", "red", "green", "blue"]
    skip = view["CLIPSetLastLayer"]["input"]["required"]["stop_at_clip_layer"]
    assert skip[1]["default"] == -1 and skip[1]["max"] == -1 and skip[1]["min"] < -1
    assert view["LatentUpscale"]["input"]["required"]["crop"][0] == ["disabled"]
    assert view["SaveImage"]["input"]["required"]["filename_prefix"][0] == "STRING"
    assert view["CheckpointLoaderSimple"]["output_name"] == ["MODEL", "CLIP", "VAE"]
    assert view["PrimitiveStringMultiline"]["input"]["required"]["value"][1]["multiline"]
    assert "multiline" not in view["PrimitiveString"]["input"]["required"]["value"][1]


def test_nodeflow_only_nodes_keep_their_names_under_their_own_category(view, registry):
    mapped_types = {m.nodeflow_type for m in NODE_MAPPINGS.values()}
    only = [t for t in registry.nodes if t not in mapped_types]
    assert only
    for name in only:
        published = ALIAS_PREFIX + name if name in comfy_core_names() else name
        info = view[published]
        assert native_type(published, registry) == name
        if registry.packs[registry.get(name).pack].kind == "builtin":
            assert info["python_module"] == BUILTIN_MODULE
            assert info["category"].startswith("nodeflow")
        else:
            assert info["python_module"].startswith("custom_nodes.")
    # no name of the view means a different ComfyUI core node
    for name, info in view.items():
        if info["python_module"] != "nodes":
            assert name not in comfy_core_names(), name
    assert "CheckpointLoader" not in view  # ComfyUI's deprecated loader, not ours
    assert "LatentInterpolate" not in view and f"{ALIAS_PREFIX}LatentInterpolate" in view


def test_a_prompt_in_the_view_names_runs_nodeflow_nodes(registry):
    prompt = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                          "batch_size": 1}},
        "2": {"class_type": f"{ALIAS_PREFIX}LatentInterpolate",
              "inputs": {"a": ["1", 0], "b": ["1", 0], "t": 0.5, "method": "lerp"}},
    }
    workflow, problems = convert_api_prompt(prompt, registry)
    assert problems == []
    assert workflow["nodes"]["2"]["type"] == "LatentInterpolate"
    assert workflow["nodes"]["2"]["inputs"]["a"] == {"node": "1", "output": "latent"}


def _effective(workflow, registry) -> list:
    """Each node's type and inputs, defaults filled in and links by position."""
    order = list(workflow.nodes)
    out = []
    for spec in workflow.nodes.values():
        node_def = registry.get(spec.type)
        values = {name: i.field.default for name, i in node_def.inputs.items()
                  if i.accepts_literal and i.field.default is not None}
        for name, value in spec.inputs.items():
            link = as_link(value)
            values[name] = (order.index(link.node), link.output) if link else value
        out.append((spec.type, values, spec.mode))
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_nodeflow_examples_open_in_comfyui_and_come_back(path, registry, settings, view):
    workflow = parse_workflow(path.read_text())
    editor = to_comfy_editor(workflow, registry, settings)
    assert {n["type"] for n in editor["nodes"]} <= set(view)
    json.dumps(editor)  # plain JSON
    back = import_workflow(editor, registry, settings, stamp=False)
    assert back.problems == []
    if workflow.subgraphs:  # opened flattened
        workflow = flatten(workflow, registry).workflow
    assert _effective(back.workflow, registry) == _effective(workflow, registry)


def _vae_encode_workflow(mode: str, seed: int) -> dict:
    link = lambda node, output: {"node": node, "output": output}  # noqa: E731
    return {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "nodeflow-tiny"}},
        "load": {"type": "LoadImage", "inputs": {"image": "photo.png"}},
        "encode": {"type": "VAEEncode", "inputs": {"image": link("load", "image"),
                                                   "vae": link("ckpt", "vae"),
                                                   "mode": mode, "seed": seed}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("encode", "latent"),
                                                   "vae": link("ckpt", "vae")}},
        "save": {"type": "SaveImage", "inputs": {"images": link("decode", "image")}}}}


def test_nodeflow_only_inputs_of_mapped_nodes_survive_the_frontend(registry, settings, view):
    """VAEEncode's mode and seed are not ComfyUI's: the view shows them after ComfyUI's
    widgets, the frontend saves them there, and the nodeflow copy keeps them."""
    assert _widget_sequence(view["VAEEncode"]) == ["mode", "seed"]
    workflow = parse_workflow(json.dumps(_vae_encode_workflow("sample", 9)))
    editor = to_comfy_editor(workflow, registry, settings)
    (encode,) = [n for n in editor["nodes"] if n["type"] == "VAEEncode"]
    assert encode["widgets_values"] == ["sample", 9]
    back = import_workflow(json.loads(json.dumps(editor)), registry, settings, stamp=False)
    assert back.problems == []
    assert {k: v for k, v in back.workflow.nodes["3"].inputs.items()
            if k in ("mode", "seed")} == {"mode": "sample", "seed": 9}
    # a file made by ComfyUI itself has no such values: the defaults apply, nothing is wrong
    encode["widgets_values"] = []
    plain = import_workflow(editor, registry, settings, stamp=False)
    assert plain.problems == []
    assert "mode" not in plain.workflow.nodes["3"].inputs
    # with the picker button last (LoadImage), the values still line up
    (load,) = [n for n in editor["nodes"] if n["type"] == "LoadImage"]
    assert load["widgets_values"] == ["photo.png", "image"]
