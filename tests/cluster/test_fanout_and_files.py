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


def shard_result(name: str, status: str = "success") -> "Outcome":
    from nodeflow.server.queue_store import Outcome

    error = None if status == "success" else {"type": "ValueError", "message": "boom"}
    return Outcome(status, {"save": {"images": [{"filename": name}]}}, [], error)


def new_run(shards: int = 2) -> fanout.FanOutRun:
    from nodeflow.server.queue_store import QueueItem

    return fanout.FanOutRun(QueueItem("p", 0, {}, WORKFLOW), [WORKFLOW] * shards,
                            waiting={i: f"job{i}" for i in range(shards)})


def test_clients_see_one_start_and_one_ending_for_all_shards():
    run = new_run()
    passed = [kind for kind, data in [
        ("execution_start", {}), ("executing", {"node": "digit"}), ("execution_start", {}),
        ("executed", {"node": "save"}), ("execution_success", {}), ("executing", {"node": None})]
        if run.admit(kind, data)]
    assert passed == ["execution_start", "executing", "executed"]
    assert run.record(0, shard_result("a")) and run.record(1, shard_result("b"))
    outcome = run.outcome()
    assert outcome.status == "success" and outcome.messages[-1][0] == "execution_success"
    assert [i["filename"] for i in outcome.outputs["save"]["images"]] == ["a", "b"]


def test_a_failed_shard_fails_the_prompt_and_starts_nothing_more():
    run = new_run(3)
    run.admit("execution_error", {"exception_message": "boom"})
    assert not run.record(1, shard_result("b", "error"))
    assert run.waiting == {} and run.ending
    outcome = run.outcome()
    assert outcome.status == "error" and outcome.error["message"] == "boom"
    assert outcome.messages[-1] == ["execution_error", {"exception_message": "boom"}]


def test_interrupting_before_every_shard_started_ends_it_interrupted():
    run = new_run(3)
    run.record(0, shard_result("a"))
    run.cancel()
    outcome = run.outcome()
    assert run.waiting == {} and outcome.status == "interrupted"
    assert outcome.messages[-1][0] == "execution_interrupted"
    assert len(outcome.outputs["save"]["images"]) == 1
