"""End to end: the default graph on tiny models, determinism, and what it reports."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from nodeflow.engine import events as ev
from nodeflow.png import read_text_chunks

from .conftest import run, txt2img


def saved_arrays(base, result, node="save"):
    return [np.asarray(Image.open(base / "output" / item["subfolder"] / item["filename"]))
            for item in result.outputs[node]["images"]]


def test_txt2img_saves_a_png_carrying_the_workflow(base, executor):
    seen = []
    result = run(executor, txt2img(), listener=seen.append)
    assert result.status == "success", result.error
    [item] = result.outputs["save"]["images"]
    path = base / "output" / item["filename"]
    assert item["filename"].startswith("test_") and item["type"] == "output"
    assert Image.open(path).size == (32, 32)
    embedded = json.loads(read_text_chunks(path.read_bytes())["nodeflow"])
    assert embedded["nodes"]["sample"]["type"] == "KSampler"
    progress = [e.data["value"] for e in seen if e.kind == ev.PROGRESS and e.node == "sample"]
    assert progress == [1, 2, 3]
    logs = [e.data["message"] for e in seen if e.kind == ev.LOG]
    assert any("device cpu, float32" in m for m in logs)


def test_same_seed_same_bytes_other_seed_other_image(base, executor):
    first = saved_arrays(base, run(executor, txt2img(seed=11)))[0]
    executor.cache.clear()
    executor.models.clear()
    again = saved_arrays(base, run(executor, txt2img(seed=11)))[0]
    other = saved_arrays(base, run(executor, txt2img(seed=12)))[0]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_seed_change_reruns_only_the_sampler_and_after(executor):
    run(executor, txt2img(seed=21))
    result = run(executor, txt2img(seed=22))
    assert result.executed == ["sample", "decode", "save"]
    assert set(result.cached) == {"ckpt", "pos", "neg", "latent"}


def test_never_overwrites(base, executor):
    names = set()
    for _ in range(2):
        executor.cache.clear()
        result = run(executor, txt2img(seed=31))
        names.add(result.outputs["save"]["images"][0]["filename"])
    assert len(names) == 2
