"""Inputs a ComfyUI pack's node takes under any name (tests/comfy/packs/test_pack_anyname: an
optional dict that says it holds every name, as LoRA stack packs declare) and inputs of a
pack's own type given a widget's value: they reach the node's FUNCTION as keyword arguments
through the CLI, a real server's POST /prompt and ComfyUI's formats; nodes that did not opt in
keep strict names, and values must be JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import cli, home_with, live_server_class

PACK = Path(__file__).with_name("packs") / "test_pack_anyname"
STRICT_PACK = Path(__file__).with_name("packs") / "test_pack_v1"

ROWS = {"lora_1": {"on": True, "lora": "a.safetensors", "strength": 0.5},
        "lora_2": {"on": False, "lora": "b.safetensors", "strength": 1.0},
        "lora_3": {"on": True, "lora": "c.safetensors", "strength": 0.25}}
FLOW = {"nodeflow": 1, "nodes": {
    "n": {"type": "Count (Test)", "inputs": {"count": 4}},
    "s": {"type": "LoRA Stack (Test)", "inputs": {
        "model_name": "sd", "scale": 2.0, **ROWS, "bonus": {"node": "n", "output": "INT"},
        "tags": ["x", 1, None]}},
    "t": {"type": "Tint (Test)", "inputs": {"tint": {"r": 1, "g": 0.5}}},
    "grey": {"type": "Tint (Test)", "inputs": {}}}}
# as ComfyUI's editor queues rgthree's Power Lora Loader: rows, its button and header widgets
API_PROMPT = {
    "1": {"class_type": "Count (Test)", "inputs": {"count": 2}},
    "2": {"class_type": "LoRA Stack (Test)", "inputs": {
        "model_name": "xl", "➕ Add Lora": "", "Header": {"type": "HeaderWidget"},
        "lora_1": ROWS["lora_1"], "lora_2": ROWS["lora_3"], "bonus": ["1", 0]}},
    "3": {"class_type": "Tint (Test)", "inputs": {"tint": "teal"}}}


@pytest.fixture
def base(tmp_path) -> Path:
    return home_with(tmp_path, PACK, STRICT_PACK)


def received(lines: list[str], node: str) -> dict:
    """What the stack node said it was called with (besides its declared inputs)."""
    said = next(line for line in lines if line.startswith(f"{node}: received "))
    return json.loads(said.removeprefix(f"{node}: received "))


def registry_for(base: Path):
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings

    return load_registry(Settings.from_args(base))


def test_schema_marks_any_name_nodes_and_pack_types(base):
    registry = registry_for(base)
    stack = registry.get("LoRA Stack (Test)").schema()
    assert stack["extra_inputs"] == {"type": "*"}
    assert [i["name"] for i in stack["inputs"]] == ["model_name", "scale"]  # declared ones
    assert "extra_inputs" not in registry.get("Count (Test)").schema()
    assert "extra_inputs" not in registry.get("Invert Image (Test)").schema()  # strict pack
    tint = registry.get("Tint (Test)").schema()["inputs"][0]
    assert tint["type"] == "TEST_TINT" and tint["json_value"] and tint["link_only"]
    assert tint["default"] == "grey" and not tint["required"]


def test_cli_run_passes_extra_values_and_links_as_keyword_arguments(base, tmp_path):
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    done = cli(base, "run", str(tmp_path / "flow.json"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "s: sd<a.safetensors@1,c.safetensors@0.5>" in lines  # strength x scale, lora_2 off
    assert received(lines, "s") == {**ROWS, "bonus": 40, "tags": ["x", 1, None]}
    assert 't: tint={"g": 0.5, "r": 1}' in lines  # a widget value for the pack's own type
    assert 'grey: tint="grey"' in lines  # its declared default, where the widget starts


def test_cli_runs_an_api_prompt_with_rgthree_shaped_inputs(base, tmp_path):
    (tmp_path / "prompt.json").write_text(json.dumps(API_PROMPT))
    done = cli(base, "run", str(tmp_path / "prompt.json"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "2: xl<a.safetensors@0.5,c.safetensors@0.25>" in lines
    assert received(lines, "2") == {"➕ Add Lora": "", "Header": {"type": "HeaderWidget"},
                                    "lora_1": ROWS["lora_1"], "lora_2": ROWS["lora_3"],
                                    "bonus": 20}
    assert "3: tint=\"teal\"" in lines


def test_bad_values_and_strict_nodes_are_errors_naming_node_and_input(base, tmp_path):
    bad = {"nodeflow": 1, "nodes": {
        "n": {"type": "Count (Test)", "inputs": {"count": 4, "lora_1": ROWS["lora_1"]}},
        "v1": {"type": "GreyMask|test", "inputs": {"width": 8, "extra": 1}},
        "s": {"type": "LoRA Stack (Test)", "inputs": {"ctx": 1, "scale": "x"}},
        "t": {"type": "Tint (Test)", "inputs": {"tint": {"node": "n", "output": "nope"}}}}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    done = cli(base, "validate", str(tmp_path / "bad.json"))
    assert done.returncode == 1
    errors = set(done.stderr.splitlines())
    assert "error: node 'n', input 'lora_1': unknown input (Count (Test) has inputs: " \
           "count)" in errors  # the pack's strict node
    assert any(e.startswith("error: node 'v1', input 'extra': unknown input") for e in errors)
    assert "error: node 's', input 'ctx': the input name 'ctx' is reserved (nodeflow passes " \
           "the node's context under it); LoRA Stack (Test) takes inputs of any other " \
           "name" in errors
    assert "error: node 's', input 'scale': expected a number (FLOAT), got 'x'" in errors
    assert any(e.startswith("error: node 't', input 'tint': links to output 'nope'")
               for e in errors)
    assert "Traceback" not in done.stderr
    # NaN cannot be in a file; a --set value can try
    (tmp_path / "flow.json").write_text(json.dumps(FLOW))
    done = cli(base, "run", str(tmp_path / "flow.json"),
               "--set", 's.lora_9={"on": true, "strength": NaN}', "--set", "t.tint=Infinity")
    assert done.returncode == 1
    assert "error: node 's', input 'lora_9': strength is NaN or infinite, which JSON cannot " \
           "hold" in done.stderr
    assert "error: node 't', input 'tint': the value is NaN or infinite, which JSON cannot " \
           "hold" in done.stderr


def test_validate_checks_values_given_in_process(base):
    from nodeflow.engine.validate import validate
    from nodeflow.workflow import Workflow

    registry = registry_for(base)
    flow = Workflow.model_validate({"nodeflow": 1, "nodes": {
        "s": {"type": "LoRA Stack (Test)", "inputs": {
            "lora_1": {"strength": float("inf")}, "when": {1, 2}, "keys": {3: "a"}}}}})
    problems = {(p.node, p.input): p.message for p in validate(flow, registry)}
    assert problems[("s", "lora_1")] == "strength is NaN or infinite, which JSON cannot hold"
    assert problems[("s", "when")] == "the value is a set, not a JSON value"
    assert problems[("s", "keys")] == "the value has a key 3 that is not a string"


def test_server_post_prompt_runs_extra_inputs(base):
    live = live_server_class()(base).start()
    try:
        entry = live.wait_done(live.queue(API_PROMPT), timeout=60)
        text = entry["outputs"]["2"]["text"]
        assert text[0] == "xl<a.safetensors@0.5,c.safetensors@0.25>"
        assert json.loads(text[1].removeprefix("received "))["bonus"] == 20
        assert entry["outputs"]["3"]["text"] == ['tint="teal"']
        status, body = live.request("POST", "/prompt", {"prompt": FLOW})  # nodeflow format
        assert status == 200, body
        entry = live.wait_done(body["prompt_id"], timeout=60)
        assert json.loads(entry["outputs"]["s"]["text"][1].removeprefix("received "))[
            "tags"] == ["x", 1, None]
        bad = {**API_PROMPT, "1": {"class_type": "Count (Test)", "inputs": {"count": 2,
                                                                            "extra": 1}}}
        status, body = live.request("POST", "/prompt", {"prompt": bad})
        assert status == 400 and "extra" in body["node_errors"]["1"]["errors"][0]["details"]
    finally:
        live.stop()


def test_comfy_formats_keep_extra_inputs(base, tmp_path):
    from nodeflow.comfy.convert import import_workflow
    from nodeflow.comfy.export import export_api, export_ui
    from nodeflow.workflow import parse_workflow

    registry = registry_for(base)
    flow = parse_workflow({**FLOW, "nodes": {k: v for k, v in FLOW["nodes"].items()
                                             if k != "grey"}})  # one node of each type
    api, problems = export_api(flow, registry)
    assert problems == []
    assert api["s"]["inputs"] == {"model_name": "sd", "scale": 2.0, **ROWS, "bonus": ["n", 0],
                                  "tags": ["x", 1, None]}
    assert import_workflow(api, registry).workflow.nodes["s"].inputs == FLOW["nodes"]["s"][
        "inputs"]
    ui, problems = export_ui(flow, registry)
    assert problems == []
    stack = next(n for n in ui["nodes"] if n["type"] == "LoRA Stack (Test)")
    # the extension's values follow the node's own widgets; only the linked one has a slot
    assert stack["widgets_values"] == ["sd", 2.0, *ROWS.values(), ["x", 1, None]]
    assert [slot["name"] for slot in stack["inputs"]] == ["bonus"]
    assert stack["properties"]["nodeflow widget names"] == [*ROWS, "tags"]
    back = import_workflow(ui, registry).workflow.nodes
    assert back[str(stack["id"])].inputs == {**FLOW["nodes"]["s"]["inputs"],
                                             "bonus": {"node": "1", "output": "INT"}}
    # a file ComfyUI's editor wrote has no names: kept for the editor, and said so
    del stack["properties"]["nodeflow widget names"]
    imported = import_workflow(ui, registry)
    node = imported.workflow.nodes[str(stack["id"])]
    assert node.ui["comfy_widgets"] == [*ROWS.values(), ["x", 1, None]]
    assert "lora_1" not in node.inputs
    assert any("have no names in ComfyUI's editor format" in note for note in imported.notes)
    # ... unless a PNG carries ComfyUI's prompt beside it, which names them
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("workflow", json.dumps(ui))
    number = {node_id: str(next(n["id"] for n in ui["nodes"] if n["type"] == spec.type))
              for node_id, spec in flow.nodes.items()}  # the editor file's node ids
    prompt = {number[node_id]: {**entry, "inputs": {
        name: [number[value[0]], value[1]] if name == "bonus" else value
        for name, value in entry["inputs"].items()}} for node_id, entry in api.items()}
    info.add_text("prompt", json.dumps(prompt))
    Image.new("RGB", (4, 4)).save(tmp_path / "made_in_comfy.png", pnginfo=info)
    done = cli(base, "run", str(tmp_path / "made_in_comfy.png"))
    assert done.returncode == 0, done.stderr
    assert received(done.stdout.splitlines(), str(stack["id"])) == {
        **ROWS, "bonus": 40, "tags": ["x", 1, None]}


class _Holds(dict):
    """Optional inputs answering for every name with ``kind`` (or failing to answer)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def __contains__(self, name):
        if self.kind is None:
            raise RuntimeError("cannot say")
        return True

    def __getitem__(self, name):
        return (self.kind,)


def _node_for(optional, name: str = "Probe") -> object:
    from nodeflow.comfy_compat.wrap import node_def, v1_spec
    from nodeflow.registry import Registry

    class Probe:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}, "optional": optional}

        RETURN_TYPES = ("STRING",)
        FUNCTION = "run"

        def run(self, **kwargs):
            return (json.dumps(sorted(kwargs)),)

    return node_def(v1_spec(name, Probe, None), Registry(), "probe")


def test_detection_takes_the_type_the_dict_gives_and_stays_strict_otherwise():
    from nodeflow.engine.validate import validate
    from nodeflow.registry import PackInfo, Registry
    from nodeflow.workflow import parse_workflow

    assert _node_for(_Holds("IMAGE")).extra_inputs.socket.type_name == "IMAGE"
    assert _node_for(_Holds(None)).extra_inputs is None  # a dict that cannot answer
    assert _node_for({"a": ("INT",)}).extra_inputs is None  # a plain dict
    images = _node_for(_Holds("IMAGE"))
    registry = Registry()
    registry.add_nodes([images, _node_for({"t": ("STRING",)}, "Text")],
                       PackInfo("probe", "1.0.0", "tests", "custom"))
    flow = parse_workflow({"nodeflow": 1, "nodes": {
        "t": {"type": "Text", "inputs": {}},
        "p": {"type": "Probe", "inputs": {"pic": {"node": "t", "output": "STRING"},
                                          "row": {"on": True}}}}})
    problems = {(p.node, p.input): p.message for p in validate(flow, registry)
                if p.kind != "no_output"}
    assert problems == {("p", "pic"): "type mismatch: output 'STRING' of node 't' is STRING, "
                                      "this input needs IMAGE"}
    assert images.for_inputs(["row"]).fn(row={"on": True}) == ('["row"]',)
