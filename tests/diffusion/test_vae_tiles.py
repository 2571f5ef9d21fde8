"""Tiled VAE layout: few, even, overlapping tiles, put back together without losing anything."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeflow.diffusion.vae_segments import Step, TileGrid, _cuts, _probe, _segments, run_tiled_segments, tile_layout


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 600), tile=st.integers(2, 200), overlap=st.integers(0, 100),
       multiple=st.sampled_from([1, 2, 4]))
def test_tiles_cover_overlap_and_are_as_few_as_possible(length, tile, overlap, multiple):
    size, starts = tile_layout(length, tile, overlap, multiple)
    assert size <= max(tile, 1) and starts[0] == 0 and starts[-1] + size == length
    # a multiple of `multiple` (the Winograd convolutions' sides) wherever the tile allows it
    assert len(starts) == 1 or size % multiple == 0 or size - size % multiple + multiple > tile
    assert starts == sorted(set(starts))
    want = min(overlap, tile - 1)
    assert all(a + size - b >= want for a, b in zip(starts, starts[1:]))  # every seam overlaps
    count = len(starts)
    # one tile fewer, of the largest size, could not have covered the length with that overlap
    assert count == 1 or (count - 1) * tile - (count - 2) * want < length


def test_1024_pixels_in_512_tiles_take_three_of_384_not_three_of_512():
    assert tile_layout(128, 64, 8) == (48, [0, 40, 80])  # latent cells of a 1024 px SD image
    assert tile_layout(256, 64, 2) == (53, [0, 51, 102, 152, 203])  # 2048 px, two cells of overlap
    assert tile_layout(256, 64, 2, 4) == (56, [0, 50, 100, 150, 200])  # at the latent's scale


def _up(x):
    return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def _pool(x):
    return torch.nn.functional.avg_pool2d(x, 4)


def test_tiles_put_back_together_give_the_whole_images_result():
    source = torch.rand(1, 3, 10, 14)
    calls = []
    out = run_tiled_segments(source, [Step(_up, ()), Step(_up, ())], (10, 14),
                             TileGrid(4, 2), lambda done, total: calls.append((done, total)))
    assert torch.equal(out, _up(_up(source)))
    assert calls[-1][0] == calls[-1][1] == len(calls) > 1


def test_encoder_tiles_start_on_latent_cells():
    """Pixel tiles going down by 4 must start on multiples of 4, or the cells would shift."""
    source = torch.rand(1, 3, 72, 40)
    out = run_tiled_segments(source, [Step(_pool, ())], (18, 10), TileGrid(8, 2))
    assert torch.allclose(out, _pool(source), atol=1e-6)


def test_outputs_too_large_to_store_stay_inside_a_segment():
    source = torch.rand(1, 2, 8, 8)
    steps = [Step(_up, ()), Step(_up, ()), Step(_pool, ())]
    shapes = [(2, 2.0), (2, 2.0), (2, 0.25)]
    one_float = source.element_size()
    # after the first step 2x16x16 floats, after the second 2x32x32: only the first fits
    assert [len(s) for s in _segments(steps, shapes, source, 2 * 16 * 16 * one_float)] == [1, 2]
    assert [len(s) for s in _segments(steps, shapes, source, 0)] == [3]
    out = run_tiled_segments(source, steps, (8, 8), TileGrid(4, 2), max_stored_bytes=0)
    assert torch.allclose(out, _pool(_up(_up(source))), atol=1e-6)


def test_the_probe_gives_each_steps_own_scale():
    steps = [Step(_up, ()), Step(lambda x: x[:, :1], ()), Step(_up, ()), Step(_pool, ())]
    assert _probe(steps, 3, torch.float32, "cpu") == [(3, 2.0), (1, 1.0), (1, 2.0), (1, 0.25)]


def test_owned_regions_partition_the_length_inside_the_overlaps():
    size, starts = tile_layout(100, 40, 16)
    cuts = _cuts(starts, size, 100)
    assert cuts[0] == 0 and cuts[-1] == 100 and cuts == sorted(cuts)
    assert all(b <= cut <= a + size for a, b, cut in zip(starts, starts[1:], cuts[1:-1]))


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


def test_statistics_and_outputs_take_the_same_rows_where_an_overlap_is_odd():
    """Tiles 0, 7, 14 of 10 cells overlap by 3: each one's own region must end on a whole row
    that the statistics pass and the placed output agree on (a cut at 8.5 rounded to 8 from the
    first tile and to 9 from the second, and the norm's statistics missed a row)."""
    norm = torch.nn.GroupNorm(2, 4)
    source = torch.randn(1, 4, 24, 24) * torch.linspace(0.5, 3, 24)[:, None] + 1
    step = Step(lambda h: torch.nn.functional.avg_pool2d(norm(h), 3, stride=1, padding=1), (norm,))
    assert tile_layout(24, 10, 3) == (10, [0, 7, 14])
    with torch.no_grad():
        out = run_tiled_segments(source, [step], (24, 24), TileGrid(10, 3))
        torch.testing.assert_close(out, step.run(source), rtol=0, atol=1e-5)
