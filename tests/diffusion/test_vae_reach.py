"""Tiles overlap by what a segment's convolutions reach: exact results with less work."""
from __future__ import annotations

import torch

from nodeflow.diffusion import vae_ops
from nodeflow.diffusion.vae_reach import (conv_reach, downsample_reach, overlap_cells, resnet_reach,
                                          segment_reach, upsample_reach)
from nodeflow.diffusion.vae_segments import Step, TileGrid, run_tiled_segments
from tests.diffusion.tiny_models import random_sd15_vae


def test_a_layers_reach_is_its_padding_or_what_its_kernel_spans_past_it():
    assert conv_reach(torch.nn.Conv2d(4, 4, 3, padding=1)) == 1
    assert conv_reach(torch.nn.Conv2d(4, 4, 3, stride=2)) == 2  # SD's downsampler: padded on one side
    assert conv_reach(torch.nn.Conv2d(4, 4, 1)) == 0
    assert conv_reach(torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2)) == 2
    assert conv_reach(torch.nn.Conv2d(4, 4, (1, 5), padding=(0, 1))) == 3
    assert conv_reach(torch.nn.AvgPool2d(2, 2)) == 1
    assert conv_reach(torch.nn.Conv2d(4, 4, 3, padding="same")) is None
    assert conv_reach(torch.nn.Linear(4, 4)) is None


def test_the_sd15_vaes_steps_reach_one_or_two_pixels():
    vae = random_sd15_vae()
    up, down = vae.decoder.up_blocks[0], vae.encoder.down_blocks[0]
    assert resnet_reach(up.resnets[0]) == 2
    assert (resnet_reach(up.resnets[0], 1), resnet_reach(up.resnets[0], 2)) == (1, 1)
    assert upsample_reach(up.upsamplers[0]) == 1  # a 3x3 convolution over the upscaled image
    assert downsample_reach(down.downsamplers[0]) == 2
    assert resnet_reach(vae.decoder.mid_block) is None and upsample_reach(down.downsamplers[0]) is None


def test_reaches_add_up_at_the_scale_of_each_steps_input():
    assert segment_reach([1, 1, 1], [2.0, 1.0, 1.0]) == 1 + 1 + 1  # 1 px at 2x is half a pixel: one
    assert segment_reach([2, 2], [0.5, 1.0]) == 2 + 4
    assert segment_reach([1, None], [1.0, 1.0]) is None
    assert overlap_cells(1, 8.0) == 2 and overlap_cells(2, 1.0) == 4 and overlap_cells(0, 1.0) == 0


def _blur(x):
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


def test_tiles_of_a_known_reach_overlap_only_by_it_and_give_the_whole_images_result():
    source = torch.rand(1, 2, 24, 30)
    whole = _blur(_blur(source))
    counted = {}
    for reach in (None, 1):
        steps = [Step(_blur, (), reach=reach), Step(_blur, (), reach=reach)]
        calls = []
        out = run_tiled_segments(source, steps, (24, 30), TileGrid(10, 4), lambda d, t: calls.append(t))
        torch.testing.assert_close(out, whole, rtol=0, atol=1e-6)
        counted[reach] = calls[-1]
    # overlapping by 4: 4 x 5 tiles for each step; by 2 (twice the reach): 3 x 4
    assert counted == {None: 2 * 4 * 5, 1: 2 * 3 * 4}


def test_a_sd15_decode_in_tiles_of_least_overlap_is_the_full_decode(tmp_path):
    """With the images between steps kept (a spill folder), tiles asked to overlap by 64 px
    overlap by two latent cells (a convolution's reach, 1 px, in whole cells on each side) and
    still give the full decode; the last up block runs on two 88 px wide tiles, not three of 96."""
    vae = random_sd15_vae()
    torch.manual_seed(3)
    latent = torch.randn(1, 4, 8, 20)
    widths = {0: [], 3: []}
    hooks = [r.conv1.register_forward_hook(lambda m, args, out, n=n: widths[n].append(args[0].shape[-1]))
             for n in widths for r in vae.decoder.up_blocks[n].resnets]
    try:
        tiled = vae_ops.decode_tiled(vae, latent, 96, 64, spill=tmp_path)
    finally:
        for hook in hooks:
            hook.remove()
    assert vae_ops.psnr(tiled, vae_ops.decode(vae, latent)) >= 60.0
    resnets = len(vae.decoder.up_blocks[3].resnets)  # the plan's probe runs each step once first
    assert sorted(set(widths[3][resnets:])) == [88]  # 11 cells of 8 px
    # at the latent's scale, 11 cells widened to 12: the Winograd convolutions take sides of 4n
    assert sorted(set(widths[0][resnets:])) == [12]
    image = torch.rand(1, 64, 160, 3)
    assert vae_ops.psnr(vae_ops.decode(vae, vae_ops.encode_tiled(vae, image, 96, 64, spill=tmp_path)),
                        vae_ops.decode(vae, vae_ops.encode(vae, image))) >= 60.0
