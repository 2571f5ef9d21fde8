"""Tiled VAE layout: few, even, overlapping tiles, and blending that loses nothing."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeflow.diffusion.vae_ops import _tiled, tile_layout


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 600), tile=st.integers(2, 200), overlap=st.integers(0, 100))
def test_tiles_cover_overlap_and_are_as_few_as_possible(length, tile, overlap):
    size, starts = tile_layout(length, tile, overlap)
    assert size <= max(tile, 1) and starts[0] == 0 and starts[-1] + size == length
    assert starts == sorted(set(starts))
    want = min(overlap, tile - 1)
    assert all(a + size - b >= want for a, b in zip(starts, starts[1:]))  # every seam overlaps
    count = len(starts)
    # one tile fewer, of the largest size, could not have covered the length with that overlap
    assert count == 1 or (count - 1) * tile - (count - 2) * want < length


def test_1024_pixels_in_512_tiles_take_three_of_384_not_three_of_512():
    assert tile_layout(128, 64, 8) == (48, [0, 40, 80])  # latent cells of a 1024 px SD image


def test_blending_identical_tiles_gives_the_source_back_on_a_grid():
    source = torch.rand(1, 3, 40, 56)
    calls = []
    out = _tiled(source, lambda x, owned: x.repeat_interleave(2, -1).repeat_interleave(2, -2), 16, 8, 2.0,
                 lambda done, total: calls.append((done, total)), grid=4)
    assert torch.allclose(out, source.repeat_interleave(2, -1).repeat_interleave(2, -2), atol=1e-6)
    assert calls[-1][0] == calls[-1][1] == len(calls) > 1


def test_encoder_tiles_start_on_latent_cells():
    """Pixel tiles going down by 4 must start on multiples of 4, or the cells would shift."""
    source = torch.rand(1, 3, 72, 40)
    pool = torch.nn.functional.avg_pool2d
    out = _tiled(source, lambda x, owned: pool(x, 4), 32, 8, 0.25, None, grid=4)
    assert torch.allclose(out, pool(source, 4), atol=1e-6)


def test_owned_regions_partition_the_length():
    from nodeflow.diffusion.vae_ops import _owned

    size, starts = tile_layout(100, 40, 16)
    cuts = [(s + a * size, s + b * size) for s, (a, b) in zip(starts, _owned(starts, size, 100))]
    assert cuts[0][0] == 0 and cuts[-1][1] == 100
    assert all(left[1] == right[0] for left, right in zip(cuts, cuts[1:]))


def test_group_norm_with_pooled_statistics_equals_the_whole_images():
    from nodeflow.diffusion.vae_norms import NormGathered, SharedGroupNorms

    norm = torch.nn.GroupNorm(4, 16)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 16, 10, 12) * 3 + 1
    shared = SharedGroupNorms(norm)
    with torch.no_grad(), shared.installed():
        shared.gathering = True
        for rows, owned in ((slice(0, 7), (0, 5 / 7, 0, 1)), (slice(3, 10), (2 / 7, 1, 0, 1))):
            shared.owned = owned
            try:
                norm(x[..., rows, :])
            except NormGathered:
                pass
        shared.pool()
        shared.gathering = False
        assert shared.complete
        assert torch.allclose(norm(x), torch.nn.functional.group_norm(x, 4, norm.weight, norm.bias, norm.eps),
                              atol=1e-5)
    assert "forward" not in vars(norm)  # the module is itself again
