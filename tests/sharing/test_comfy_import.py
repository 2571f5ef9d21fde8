"""ComfyUI import: both editor formats (0.4 and 1) and the API format, what maps and what is
reported, the `nodeflow import` command, and malformed files."""
from __future__ import annotations

import json

import pytest

from nodeflow.cli import main
from nodeflow.comfy.convert import COMFY_API, COMFY_UI, import_workflow
from nodeflow.errors import WorkflowError
from nodeflow.engine.modes import resolve_modes
from nodeflow.engine.validate import validate

from .conftest import FIXTURES

DEFAULT_GRAPHS = ["comfyui-default-ui-0.4.json", "comfyui-default-ui-1.json",
                  "comfyui-default-api.json"]


def link(node, output):
    return {"node": node, "output": output}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def nodes_without_ui(imported) -> dict:
    data = imported.workflow.model_dump(mode="json", exclude_unset=True)
    return {k: {key: v for key, v in spec.items() if key != "ui"}
            for k, spec in data["nodes"].items()}


@pytest.mark.parametrize("name", DEFAULT_GRAPHS)
def test_comfyui_default_graph_converts_in_every_format(name, registry, settings):
    imported = import_workflow((FIXTURES / name).read_bytes(), registry, settings)
    assert imported.format == (COMFY_API if "api" in name else COMFY_UI)
    assert imported.problems == []
    [missing] = imported.warnings  # the SD 1.5 checkpoint is reported, never replaced
    assert (missing.node, missing.input) == ("4", "checkpoint")
    assert "'v1-5-pruned-emaonly.safetensors' is not installed here" in missing.message
    nodes = nodes_without_ui(imported)
    assert nodes["3"]["inputs"] == {
        "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler": "euler",
        "scheduler": "normal", "denoise": 1, "model": link("4", "model"),
        "positive": link("6", "conditioning"), "negative": link("7", "conditioning"),
        "latent": link("5", "latent")}
    assert nodes["4"]["inputs"] == {"checkpoint": "v1-5-pruned-emaonly.safetensors"}
    assert nodes["9"]["inputs"] == {"prefix": "ComfyUI", "images": link("8", "image")}
    assert all(spec["version"] == "1.0.0" for spec in nodes.values())
    assert imported.workflow.requires["nodeflow"].startswith(">=")


def test_both_editor_formats_and_the_api_format_agree(registry, settings):
    converted = [nodes_without_ui(import_workflow((FIXTURES / n).read_bytes(), registry,
                                                  settings)) for n in DEFAULT_GRAPHS]
    assert converted[0] == converted[1] == converted[2]
    ui = import_workflow((FIXTURES / DEFAULT_GRAPHS[0]).read_bytes(), registry, settings)
    assert ui.workflow.nodes["3"].ui == {"controls": {"seed": "randomize"}, "pos": [863, 186],
                                         "size": [315, 262]}
    assert ui.workflow.ui == {"view": {"offset": [0, 0], "scale": 1.0}}


def test_default_graph_imports_and_runs_on_the_builtin_model(home, tmp_path, capsys):
    for name in DEFAULT_GRAPHS:
        out = tmp_path / f"{name}.nodeflow.json"
        assert main(["import", str(FIXTURES / name), "-o", str(out), "--base-dir",
                     str(home)]) == 0
        captured = capsys.readouterr()
        assert captured.out.strip() == str(out)
        assert "warning: node '4', input 'checkpoint'" in captured.err
        assert json.loads(out.read_text())["name"] == name.removesuffix(".json")
    assert main(["run", str(out), "--base-dir", str(home), "--output-dir", str(tmp_path),
                 "--set", "4.checkpoint=nodeflow-tiny", "--set", "5.width=32",
                 "--set", "5.height=32", "--set", "3.steps=2"]) == 0
    saved = capsys.readouterr().out.split()
    assert len(saved) == 1 and saved[0].endswith(".png")


def test_editor_features_fold_as_comfyui_treats_them(registry, settings):
    imported = import_workflow((FIXTURES / "comfyui-features-ui-0.4.json").read_bytes(),
                               registry, settings)
    nodes = imported.workflow.nodes
    # the unmapped node is named with its type; everything else still converts
    assert [(p.node, p.kind) for p in imported.problems] == [("14", "untranslatable")]
    assert "ImageSharpen" in imported.problems[0].message
    # the bypassed LoraLoader and the muted nodes are kept with their modes (the user can switch
    # them back on); the engine passes the LoRA's model and clip through, as ComfyUI does
    assert {k: nodes[k].mode for k in ("10", "15", "16")} == {
        "10": "bypass", "15": "mute", "16": "mute"}
    assert nodes["3"].inputs["model"] == link("10", "model")
    assert nodes["6"].inputs["clip"] == link("10", "clip")
    active, problems = resolve_modes(imported.workflow, registry)
    assert problems == [] and not {"10", "15", "16"} & set(active.nodes)
    assert active.nodes["3"].inputs["model"] == link("4", "model")
    assert active.nodes["6"].inputs["clip"] == link("4", "clip")
    # Reroutes followed; the PrimitiveNode's value feeds the seed widget it links to
    assert nodes["3"].inputs["latent"] == link("5", "latent")
    assert nodes["8"].inputs["vae"] == link("4", "vae")
    assert nodes["3"].inputs["seed"] == 42
    assert not {"11", "12", "13"} & set(nodes)
    assert "muted" not in "\n".join(imported.notes)
    # layout, titles, seed control, groups, view and notes are kept
    assert nodes["6"].ui["title"] == "Positive" and nodes["7"].ui["collapsed"] is True
    assert nodes["3"].ui["controls"] == {"seed": "increment"}
    ui = imported.workflow.ui
    assert ui["groups"] == [{"title": "Prompts", "bounding": [680, 20, 460, 480],
                             "color": "#3f789e"}]
    assert ui["view"] == {"offset": [120.5, -40], "scale": 0.8}
    assert [n["type"] for n in ui["notes"]] == ["Note", "MarkdownNote"]
    assert ui["notes"][0]["text"].startswith("Seed comes from the primitive")
    # what converted is a valid workflow
    assert validate(imported.workflow, registry, settings) == []


def test_a_link_from_a_muted_node_is_a_problem_naming_it(registry, settings):
    data = fixture("comfyui-features-ui-0.4.json")
    preview = next(n for n in data["nodes"] if n["id"] == 16)
    preview["mode"] = 0
    imported = import_workflow(data, registry, settings)
    assert imported.workflow.nodes["16"].inputs == {"images": link("15", "image")}
    [problem] = [p for p in validate(imported.workflow, registry, settings) if p.node == "16"]
    assert problem.input == "images" and "'15', which is muted" in problem.message


def test_muted_nodes_of_unknown_types_are_left_out_as_comfyui_leaves_them(registry, settings):
    data = fixture("comfyui-features-ui-0.4.json")
    upscale = next(n for n in data["nodes"] if n["id"] == 14)
    upscale["mode"] = 2
    imported = import_workflow(data, registry, settings)
    assert imported.problems == [] and "14" not in imported.workflow.nodes
    assert "node '14' (ImageSharpen) is muted" in "\n".join(imported.notes)


def test_version_1_object_links_and_widget_inputs(registry, settings):
    data = fixture("comfyui-default-ui-1.json")
    assert isinstance(data["links"][0], dict)
    sampler = next(n for n in data["nodes"] if n["id"] == 3)
    assert any("widget" in slot for slot in sampler["inputs"])
    assert import_workflow(data, registry, settings).problems == []


def test_api_prompt_with_unmapped_nodes_converts_the_rest(registry, settings):
    data = fixture("comfyui-default-api.json")
    data["10"] = {"class_type": "PhotoMakerLoader", "inputs": {"photomaker_model_name": "x.bin"}}
    data["11"] = {"class_type": "PhotoMakerEncode",
                  "inputs": {"photomaker": ["10", 0], "image": ["8", 0], "clip": ["4", 1],
                             "text": "a photo"}}
    imported = import_workflow(data, registry, settings)
    assert [(p.node, p.kind) for p in imported.problems] == [("10", "untranslatable"),
                                                              ("11", "untranslatable")]
    assert set(imported.workflow.nodes) == {"3", "4", "5", "6", "7", "8", "9"}


# -- malformed files: clear errors, exit 1, no traceback --------------------------------------

def _ui(**changes) -> str:
    data = fixture("comfyui-default-ui-0.4.json")
    for key, value in changes.items():
        value(data) if callable(value) else data.__setitem__(key, value)
    return json.dumps(data)


def _drop_link_target(data):
    data["links"][0][1] = 99  # link 1 now comes from a node that is not there


def _few_widgets(data):
    next(n for n in data["nodes"] if n["id"] == 3)["widgets_values"] = [1, "fixed", 20]


@pytest.mark.parametrize("text, words, written", [
    (_ui()[:500], "not valid JSON", False),
    ('{"nodes": [{"id": 1, "type": "KSampler"}]}', "has \"nodes\" but no \"links\"", False),
    ('{"workflow": 1}', "not a known workflow format", False),
    ("[1, 2]", "not a known workflow format (got a list)", False),
    (_ui(links="nope"), "\"links\" must be a list", False),
    (_ui(x=_drop_link_target), ("node '3', input 'model': links to node '99', which is not "
                                "in the workflow"), True),
    (_ui(x=_few_widgets), ("node '3': KSampler has 7 widget values (seed, "
                           "control_after_generate, steps, cfg, sampler_name, scheduler, "
                           "denoise), the file gives 3"), True),
])
def test_malformed_files_give_clear_errors(text, words, written, tmp_path, home, capsys):
    source, out = tmp_path / "comfy.json", tmp_path / "out.json"
    source.write_text(text)
    assert main(["import", str(source), "-o", str(out), "--base-dir", str(home)]) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert out.exists() == written


def test_a_truncated_png_and_a_png_without_workflow(tmp_path, home, capsys):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    plain = tmp_path / "plain.png"
    plain.write_bytes(buffer.getvalue())
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buffer.getvalue()[:30])
    for path, words in ((plain, "carries no workflow"), (truncated, "truncated")):
        assert main(["import", str(path), "-o", str(tmp_path / "o.json"), "--base-dir",
                     str(home)]) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


def test_import_usage_errors(tmp_path, home, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(FIXTURES / DEFAULT_GRAPHS[0])])  # no -o
    assert exit_info.value.code == 2
    example = tmp_path / "mine.json"
    example.write_text('{"nodeflow": 1, "nodes": {}}')
    assert main(["import", str(example), "-o", str(tmp_path / "o.json"), "--base-dir",
                 str(home)]) == 1
    assert "is a nodeflow workflow already" in capsys.readouterr().err


def test_import_refuses_a_file_that_is_not_json_or_png():
    with pytest.raises(WorkflowError) as info:
        import_workflow(b"\xff\xfe garbage")
    assert "not UTF-8" in str(info.value)


JUNK = [None, 1, -1, "x", [], {}, [1, 2], {"0": 1}, True, 1.5, [None] * 7, "", ["4", 0],
        "Reroute", 2, 4]


def _paths(value, path=()):
    yield path
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, path + (key,))


@pytest.mark.parametrize("name", ["comfyui-features-ui-0.4.json", "comfyui-default-ui-1.json",
                                  "comfyui-default-api.json"])
def test_mangled_files_give_problems_never_a_crash(name, registry, settings):
    """Any value anywhere replaced by junk: a WorkflowError or a result, nothing else."""
    import copy
    import random

    from nodeflow.comfy.export import export_api, export_ui

    original = fixture(name)
    paths = [p for p in _paths(original) if p]
    rnd = random.Random(7)
    for _ in range(150):
        data = copy.deepcopy(original)
        for _ in range(rnd.randint(1, 3)):
            *parents, last = rnd.choice(paths)
            target = data
            try:
                for key in parents:
                    target = target[key]
                target[last] = rnd.choice(JUNK)
            except (KeyError, IndexError, TypeError):
                continue
        try:
            imported = import_workflow(data, registry, settings)
        except WorkflowError:
            continue
        export_api(imported.workflow, registry)
        export_ui(imported.workflow, registry)
