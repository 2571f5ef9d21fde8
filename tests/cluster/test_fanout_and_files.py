"""Fan-out requests and merging; files sent back stored under single-process names."""
import pytest

from nodeflow.cluster import fanout
from nodeflow.cluster.files import ReturnedFiles, file_entries
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings

WORKFLOW = {"nodeflow": 1, "nodes": {
    "digit": {"type": "DigitImage", "inputs": {"digit": 3}},
    "save": {"type": "SaveImage", "inputs": {"images": {"node": "digit", "output": "image"}}}}}


def test_values_and_count_give_one_shard_per_value(tmp_path):
    settings = Settings(base_dir=tmp_path)
    spec = fanout.parse({"node": "digit", "input": "digit", "count": 3}, WORKFLOW)
    assert spec.values == [3, 4, 5]
    shards = fanout.shard_workflows(spec, WORKFLOW, load_registry(settings), settings)
    assert [s["nodes"]["digit"]["inputs"]["digit"] for s in shards] == [3, 4, 5]
    assert WORKFLOW["nodes"]["digit"]["inputs"]["digit"] == 3


@pytest.mark.parametrize("spec, words", [
    ({"node": "nope", "input": "digit", "values": [1]}, "no node 'nope'"),
    ({"node": "save", "input": "images", "values": [1]}, "is linked"),
    ({"node": "digit", "input": "digit"}, "needs values"),
    ({"node": "digit", "input": "digit", "values": list(range(65))}, "at most 64"),
    ("seed", "must be"),
])
def test_a_bad_request_names_what_is_wrong(spec, words):
    with pytest.raises(fanout.FanOutError, match=words):
        fanout.parse(spec, WORKFLOW)


def test_a_value_out_of_range_is_reported_with_the_node_and_input(tmp_path):
    settings = Settings(base_dir=tmp_path)
    spec = fanout.parse({"node": "digit", "input": "digit", "values": [1, 12]}, WORKFLOW)
    with pytest.raises(fanout.FanOutError, match=r"12.*digit"):
        fanout.shard_workflows(spec, WORKFLOW, load_registry(settings), settings)


def test_merged_outputs_keep_the_shard_order():
    merged = fanout.merge_outputs([{"save": {"images": [{"filename": "a"}]}},
                                   {"save": {"images": [{"filename": "b"}]}, "t": {"text": ["x"]}}])
    assert merged == {"save": {"images": [{"filename": "a"}, {"filename": "b"}]},
                      "t": {"text": ["x"]}}


def test_returned_files_take_the_next_free_name_on_the_head(tmp_path):
    settings = Settings(base_dir=tmp_path)
    (settings.output_dir / "digits").mkdir(parents=True)
    (settings.output_dir / "digits" / "seven_00004.png").write_bytes(b"old")
    files = ReturnedFiles(settings)
    files.store("w1", {("output", "digits", "seven_00001.png"): b"new"})
    ui = {"images": [{"filename": "seven_00001.png", "subfolder": "digits", "type": "output"}],
          "text": ["kept"]}
    renamed = files.rewrite("w1", ui)
    assert renamed["images"][0]["filename"] == "seven_00005.png"
    assert renamed["text"] == ["kept"]
    assert (settings.output_dir / "digits" / "seven_00005.png").read_bytes() == b"new"
    assert files.rewrite("w2", ui) == ui  # another worker's file of that name is another file
    assert file_entries(renamed) == renamed["images"]


def test_a_returned_file_cannot_leave_the_output_folder(tmp_path):
    files = ReturnedFiles(Settings(base_dir=tmp_path))
    with pytest.raises(ValueError):
        files.store("w1", {("output", "../..", "x_00001.png"): b"x"})
