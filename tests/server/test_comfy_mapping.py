"""The ComfyUI translation table and the API-format converter, without the server."""
from __future__ import annotations

from nodeflow.comfy import NODE_MAPPINGS, convert_api_prompt, is_api_prompt
from nodeflow.engine.validate import validate
from nodeflow.workflow import parse_workflow

from .comfy_prompts import comfy_everything, comfy_txt2img


def link(node, output):
    return {"node": node, "output": output}


def test_txt2img_translates_types_inputs_and_links():
    workflow, problems = convert_api_prompt(comfy_txt2img(seed=5))
    assert problems == []
    nodes = workflow["nodes"]
    assert nodes["4"] == {"type": "CheckpointLoader", "inputs": {"checkpoint": "tiny.safetensors"}}
    assert nodes["6"]["inputs"] == {"text": "a cat", "clip": link("4", "clip")}
    assert nodes["3"]["type"] == "KSampler"
    assert nodes["3"]["inputs"] == {
        "seed": 5, "steps": 2, "cfg": 8, "sampler": "euler", "scheduler": "normal",
        "denoise": 1, "model": link("4", "model"), "positive": link("6", "conditioning"),
        "negative": link("7", "conditioning"), "latent": link("5", "latent")}
    assert nodes["8"] == {"type": "VAEDecode", "inputs": {"latent": link("3", "latent"),
                                                          "vae": link("4", "vae")}}
    assert nodes["9"]["inputs"] == {"prefix": "ComfyUI", "images": link("8", "image")}
    assert nodes["9"]["ui"] == {"title": "Save Image"}
    assert parse_workflow(workflow).nodes.keys() == comfy_txt2img().keys()


def test_every_mapped_type_validates_against_the_node_signatures(registry, settings):
    workflow, problems = convert_api_prompt(comfy_everything())
    assert problems == []
    assert validate(parse_workflow(workflow), registry, settings) == []
    nodes = workflow["nodes"]
    assert nodes["3"] == {"type": "ClipSkip", "inputs": {"clip": link("2", "clip"), "skip": 2}}
    assert nodes["2"]["inputs"]["lora"] == "style.safetensors"
    assert nodes["6"]["inputs"] == {"a": link("4", "conditioning"),
                                    "b": link("5", "conditioning")}
    assert nodes["7"] == {"type": "LoadVAE", "inputs": {"vae": "vae.safetensors"}}
    assert nodes["8"] == {"type": "LoadImage", "inputs": {"image": "in.png"}}  # upload dropped
    assert nodes["10"]["inputs"]["mask"] == link("8", "mask")  # LoadImage output 1
    advanced = nodes["11"]["inputs"]
    assert advanced["add_noise"] is True and advanced["return_with_leftover_noise"] is False
    assert advanced["seed"] == 7 and advanced["latent"] == link("10", "latent")
    assert nodes["12"]["inputs"] == {"method": "bilinear", "width": 96, "height": 96,
                                     "latent": link("11", "latent")}  # crop dropped
    assert "temporal_size" not in nodes["14"]["inputs"]
    assert nodes["15"]["inputs"]["image"] == link("14", "image")
    assert nodes["19"]["inputs"] == {"image": "in.png", "channel": "R"}


def test_untranslatable_nodes_are_named_each():
    prompt = comfy_txt2img()
    prompt["10"] = {"class_type": "PhotoMakerLoader", "inputs": {"photomaker_model_name": "x.bin"}}
    prompt["11"] = {"class_type": "PhotoMakerEncode",
                    "inputs": {"photomaker": ["10", 0], "image": ["8", 0]}}
    _, problems = convert_api_prompt(prompt)
    assert [(p.node, p.input) for p in problems] == [("10", None), ("11", None)]
    assert "PhotoMakerLoader" in problems[0].message
    assert "no nodeflow counterpart" in problems[1].message


def test_values_that_do_not_translate_are_problems():
    prompt = comfy_everything()
    prompt["12"]["inputs"]["crop"] = "center"
    prompt["11"]["inputs"]["add_noise"] = "sometimes"
    prompt["3"]["inputs"]["stop_at_clip_layer"] = 2
    prompt["19"]["inputs"]["channel"] = "purple"
    _, problems = convert_api_prompt(prompt)
    found = {(p.node, p.input) for p in problems}
    assert found == {("12", "crop"), ("11", "add_noise"), ("3", "skip"), ("19", "channel")}


def test_bad_links_are_problems():
    prompt = comfy_txt2img()
    prompt["8"]["inputs"]["vae"] = ["4", 7]
    prompt["6"]["inputs"]["clip"] = ["99", 0]
    _, problems = convert_api_prompt(prompt)
    assert {(p.node, p.input) for p in problems} == {("8", "vae"), ("6", "clip")}
    assert "which has 3 output(s)" in next(p.message for p in problems if p.node == "8")


def test_native_nodeflow_types_pass_through_with_a_registry(registry):
    prompt = {"1": {"class_type": "EmptyLatent", "inputs": {"width": 64, "height": 64}},
              "2": {"class_type": "LatentUpscaleBy", "inputs": {"latent": ["1", 0],
                                                                "scale_by": 2.0}}}
    workflow, problems = convert_api_prompt(prompt, registry)
    assert problems == []
    assert workflow["nodes"]["2"]["inputs"] == {"latent": link("1", "latent"), "scale_by": 2.0}
    prompt["3"] = {"class_type": "Boom", "inputs": {"latent": ["2", 0]}}
    _, problems = convert_api_prompt(prompt)  # without a registry only the table counts
    assert [p.node for p in problems] == ["1", "3"]


def test_malformed_entries_are_problems():
    _, problems = convert_api_prompt({"1": {"class_type": 5}, "2": {"class_type": "VAEDecode",
                                                                    "inputs": []}})
    assert [p.node for p in problems] == ["1", "2"]


def test_detects_api_format():
    assert is_api_prompt(comfy_txt2img())
    assert not is_api_prompt({"nodeflow": 1, "nodes": {}})
    assert not is_api_prompt({})
    assert not is_api_prompt([1, 2])


def test_table_is_consistent():
    for comfy_type, mapping in NODE_MAPPINGS.items():
        assert mapping.comfy_type == comfy_type
        assert set(mapping.values) <= set(mapping.widgets) | set(mapping.inputs)
        assert not set(mapping.dropped) & set(mapping.inputs)


def test_table_matches_the_builtin_sd_nodes(tmp_path):
    """The stubs copy the SD pack's signatures; this checks the real pack (torch-free)."""
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    settings = Settings(base_dir=tmp_path)
    registry = load_registry(settings, entry_points=False, custom=False)
    for mapping in NODE_MAPPINGS.values():
        node_def = registry.get(mapping.nodeflow_type)
        assert node_def is not None, mapping.nodeflow_type
        assert tuple(o.name for o in node_def.outputs) == mapping.outputs, mapping.comfy_type
        assert set(mapping.inputs.values()) <= set(node_def.inputs), mapping.comfy_type
    workflow, problems = convert_api_prompt(comfy_everything(), registry)
    assert problems == []
    file_inputs = {("CheckpointLoader", "checkpoint"), ("LoadLoRA", "lora"), ("LoadVAE", "vae"),
                   ("LoadImage", "image"), ("LoadImageMask", "image")}  # no files in tmp_path
    nodes = workflow["nodes"]
    left = [p for p in validate(parse_workflow(workflow), registry, settings)
            if (nodes[p.node]["type"], p.input) not in file_inputs]
    assert left == []
