"""The scheduler's choices: capability first, model affinity, queue order, no starvation."""
from nodeflow.cluster.capabilities import Capabilities, Needs
from nodeflow.cluster.scheduler import Job, WorkerView, assign, unrunnable

A = ("CheckpointLoader", "checkpoint", "a")
B = ("CheckpointLoader", "checkpoint", "b")
HEAD = Capabilities({"CheckpointLoader": "h1", "Save": "h2"},
                    {"CheckpointLoader": {"checkpoint": ["a", "b"]}})


def needs(*models, types=("CheckpointLoader", "Save")) -> Needs:
    return Needs(frozenset(types), frozenset(models), frozenset())


def worker(name, holds=(), caps=HEAD) -> WorkerView:
    return WorkerView(name, caps, set(holds))


def test_a_worker_that_holds_the_models_gets_the_prompt_even_later_in_the_queue():
    w0, w1 = worker("w0", [A]), worker("w1", [B])
    jobs = [Job("p1", 0, needs(B)), Job("p2", 1, needs(A))]
    plan = assign(jobs, [w0], [w0, w1], HEAD)
    assert [(j.key, w.name) for j, w in plan] == [("p2", "w0")]
    assert jobs[0].skipped == 1


def test_cold_models_go_before_models_another_busy_worker_holds():
    w0, w1 = worker("w0"), worker("w1", [A])
    jobs = [Job("p1", 0, needs(A)), Job("p2", 1, needs(B))]
    plan = assign(jobs, [w0], [w0, w1], HEAD)
    assert [j.key for j, _ in plan] == ["p2"]


def test_alternating_models_split_by_affinity_over_two_idle_workers():
    w0, w1 = worker("w0"), worker("w1")
    jobs = [Job("p1", 0, needs(A)), Job("p2", 1, needs(B)), Job("p3", 2, needs(A))]
    plan = assign(jobs, [w0, w1], [w0, w1], HEAD)
    assert [(j.key, w.name) for j, w in plan] == [("p1", "w0"), ("p2", "w1")]


def test_a_prompt_passed_over_too_often_goes_first():
    w0, w1 = worker("w0", [A]), worker("w1", [B])
    starving = Job("p1", 0, needs(B), skipped=4)
    plan = assign([starving, Job("p2", 1, needs(A))], [w0], [w0, w1], HEAD, max_skips=4)
    assert [(j.key, w.name) for j, w in plan] == [("p1", "w0")]


def test_a_retried_prompt_prefers_another_worker():
    w0, w1 = worker("w0", [A]), worker("w1")
    plan = assign([Job("p1", 0, needs(A), attempts=1, last_worker="w0")], [w0, w1], [w0, w1],
                  HEAD)
    assert plan[0][1].name == "w1"
    alone = assign([Job("p1", 0, needs(A), attempts=1, last_worker="w0")], [w0], [w0], HEAD)
    assert alone[0][1].name == "w0"  # preferred, not required


def test_a_worker_without_the_node_type_or_model_gets_nothing_and_says_why():
    partial = Capabilities({"CheckpointLoader": "h1"}, {"CheckpointLoader": {"checkpoint": ["a"]}})
    other = Capabilities({"CheckpointLoader": "h1", "Save": "other"},
                         {"CheckpointLoader": {"checkpoint": ["a", "b"]}})
    w0, w1 = worker("w0", caps=partial), worker("w1", caps=other)
    job = Job("p1", 0, needs(B))
    assert assign([job], [w0, w1], [w0, w1], HEAD) == []
    reasons = unrunnable(job, [w0, w1], HEAD)
    assert any("no node type 'Save'" in r and "no checkpoint 'b'" in r for r in reasons)
    assert any("'Save' differs" in r for r in reasons)
    assert unrunnable(job, [worker("w2")], HEAD) is None


def test_a_prompt_waits_a_little_for_the_busy_worker_that_holds_its_models():
    w0, w1 = worker("w0"), worker("w1", [B])
    job = Job("p1", 0, needs(B), since=100.0)
    assert assign([job], [w0], [w0, w1], HEAD, now=101.0, hold_s=5.0) == []
    assert [w.name for _, w in assign([job], [w0], [w0, w1], HEAD, now=106.0, hold_s=5.0)] \
        == ["w0"]
