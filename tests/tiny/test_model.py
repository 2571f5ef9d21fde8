"""The shipped nodeflow-tiny: found first by the loader, and it draws the digit it is asked for."""
from __future__ import annotations

import numpy as np
import pytest

from nodeflow.settings import Settings
from nodeflow.tiny import data, judge, quality


def test_the_judge_reads_the_training_pictures():
    masks = data.masks()
    _, labels = data.source_digits()
    inks, papers = data.color_pairs(np.random.default_rng(5), 300)
    pictures = np.stack([data.paint(masks[i], data.COLORS[a], data.COLORS[b])
                         for i, a, b in zip(range(300), inks, papers)])
    assert np.mean(judge.digits(pictures) == labels[:300]) >= 0.99
    seen_inks, seen_papers = judge.colors(pictures)
    assert seen_inks == [data.COLORS[a] for a in inks]
    assert seen_papers == [data.COLORS[b] for b in papers]


def test_nodeflow_tiny_is_the_first_checkpoint_choice(tmp_path):
    from nodes.sd.loaders import model_names

    assert model_names("checkpoints")(Settings(base_dir=tmp_path))[0] == "nodeflow-tiny"
    assert quality.shipped_model().joinpath("model_index.json").is_file()


@pytest.fixture(scope="module")
def ten(tmp_path_factory) -> dict[str, float]:
    """Scores of ten pictures, one per digit, made through the Executor with the shipped model."""
    tmp_path = tmp_path_factory.mktemp("home")
    inks, papers = data.color_pairs(np.random.default_rng(7), 10)
    items = [quality.Request(d, None, None, seed=d) if d % 3 == 0  # 0, 3, 6, 9: digit only
             else quality.Request(d, data.COLORS[inks[d]], data.COLORS[papers[d]], seed=d)
             for d in range(10)]
    return quality.score(items, quality.generate(items, tmp_path))


def test_the_shipped_model_paints_the_requested_colours(ten):
    assert ten["color"] >= 0.9


def test_the_shipped_model_draws_the_requested_digits(ten):
    # the quality script reads 99 of its 100 pictures right; ten pictures may miss one
    assert ten["digit"] >= 0.9
