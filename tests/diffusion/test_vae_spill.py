"""Tiled VAE passes that keep their large intermediate images in a deleted file on disk
(spill.py) give the results of keeping them in RAM, hold no mapping or file afterwards, and
fall back to RAM when the disk is full or the folder is in RAM itself."""
from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
import torch

from nodeflow.diffusion import spill, vae_ops, vae_segments
from nodeflow.diffusion.vae_segments import Step, TileGrid, run_tiled_segments, tile_layout

from tests.diffusion.tiny_models import random_sd15_vae

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="spilling is Linux-only")


def _up(x):
    return x.repeat_interleave(2, -1).repeat_interleave(2, -2) * 0.5 + 0.25


def _blur(x):
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _pool(x):
    return torch.nn.functional.avg_pool2d(x, 4)


def _mapped_from(folder: Path) -> list[str]:
    """The lines of /proc/self/maps that map files in ``folder`` (which names real paths)."""
    return [line for line in Path("/proc/self/maps").read_text().splitlines() if str(folder.resolve()) in line]


def test_spilled_images_give_what_images_kept_in_ram_give(tmp_path):
    source = torch.rand(1, 2, 12, 10)
    steps = [Step(_up, ()), Step(_blur, ()), Step(_up, ()), Step(_pool, ())]
    grid = TileGrid(4, 2)
    in_ram = run_tiled_segments(source, steps, (12, 10), grid, max_stored_bytes=1 << 30)
    mapped = []
    spilled = run_tiled_segments(source, steps, (12, 10), grid, lambda d, t: mapped.append(_mapped_from(tmp_path)),
                                 max_stored_bytes=0, spill=tmp_path)
    assert torch.equal(spilled, in_ram)
    assert max(len(m) for m in mapped) >= 1  # the images between steps were files there
    assert all("(deleted)" in line for m in mapped for line in m)  # never visible by name
    assert _mapped_from(tmp_path) == [] and list(tmp_path.iterdir()) == []
    # kept in RAM, these steps would have formed one segment with blur, up and pool re-run
    assert [len(s) for s in vae_segments._segments(steps, vae_segments._probe(steps, 2, torch.float32, "cpu"),
                                                    source, 0)] == [4]


def test_a_spilled_sd15_tiled_decode_and_encode_match_the_ones_in_ram(tmp_path, monkeypatch):
    """With a spill folder each resnet is two steps; spilled or kept in RAM, the same bits."""
    vae = random_sd15_vae()
    torch.manual_seed(2)
    latent = torch.randn(1, 4, 8, 20)
    full = vae_ops.decode(vae, latent)
    monkeypatch.setattr(vae_segments, "MAX_STORED_BYTES", 1 << 40)
    in_ram = vae_ops.decode_tiled(vae, latent, 96, 32, spill=tmp_path)
    encoded_in_ram = vae_ops.encode_tiled(vae, full, 96, 32, spill=tmp_path)
    monkeypatch.setattr(vae_segments, "MAX_STORED_BYTES", 0)
    seen = []
    spilled = vae_ops.decode_tiled(vae, latent, 96, 32, on_tile=lambda d, t: seen.append(_mapped_from(tmp_path)),
                                   spill=tmp_path)
    assert any(seen)
    assert torch.equal(spilled, in_ram)
    assert vae_ops.psnr(spilled, full) >= 40.0
    assert torch.equal(vae_ops.encode_tiled(vae, full, 96, 32, spill=tmp_path), encoded_in_ram)
    assert list(tmp_path.iterdir()) == []


def test_split_resnets_run_their_first_convolution_once_per_tile(tmp_path):
    """Unsplit, a resnet's first convolution runs again in the pass that gathers its second
    GroupNorm's statistics; split, its output is kept and it runs once per tile."""
    vae = random_sd15_vae()
    resnets = [r for block in vae.decoder.up_blocks for r in block.resnets]
    calls = []
    hooks = [r.conv1.register_forward_hook(lambda *_: calls.append(1)) for r in resnets]
    latent = torch.randn(1, 4, 8, 20)
    tiles = len(tile_layout(8, 12, 4)[1]) * len(tile_layout(20, 12, 4)[1])
    try:
        split = vae_ops.decode_tiled(vae, latent, 96, 32, spill=tmp_path)
        split_calls, calls[:] = len(calls), []
        whole = vae_ops.decode_tiled(vae, latent, 96, 32)
    finally:
        for hook in hooks:
            hook.remove()
    assert tiles == 2
    probe = len(resnets)  # the segment plan's probe runs every step once on a small input
    assert split_calls == probe + len(resnets) * tiles
    assert len(calls) == probe + 2 * len(resnets) * tiles
    assert vae_ops.psnr(split, whole) >= 60.0


def test_a_full_disk_keeps_the_image_in_ram_and_says_so(tmp_path, monkeypatch, caplog):
    def disk_full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(spill.os, "posix_fallocate", disk_full)
    source = torch.rand(1, 2, 8, 8)
    steps = [Step(_up, ()), Step(_blur, ()), Step(_pool, ())]
    grid = TileGrid(4, 2)
    with caplog.at_level(logging.WARNING):
        out = run_tiled_segments(source, steps, (8, 8), grid, max_stored_bytes=0, spill=tmp_path)
    assert torch.equal(out, run_tiled_segments(source, steps, (8, 8), grid, max_stored_bytes=1 << 30))
    assert "could not spill" in caplog.text and "No space left" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_no_free_space_plans_no_spill(tmp_path, monkeypatch):
    monkeypatch.setattr(vae_segments, "free_bytes", lambda folder: 0)
    assert vae_segments._spill_allowance(tmp_path) == 0
    assert vae_segments._spill_allowance(None) == 0


def test_the_filesystem_of_a_folder_is_its_deepest_mount():
    mountinfo = "\n".join([
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        "30 22 0:26 / /dev/shm rw,nosuid shared:4 - tmpfs tmpfs rw",
        "31 22 0:27 / /mnt/my\\040disk rw master:2 - xfs /dev/sdb1 rw",
        "32 31 0:28 / /mnt/my\\040disk/ram rw - ramfs none rw"])
    kind = spill.filesystem_type
    assert kind(Path("/home/me/nodeflow/temp"), mountinfo) == "ext4"
    assert kind(Path("/dev/shm/x"), mountinfo) == "tmpfs"
    assert kind(Path("/mnt/my disk/temp"), mountinfo) == "xfs"
    assert kind(Path("/mnt/my disk/ram/a"), mountinfo) == "ramfs"
    assert kind(Path("/mnt/my"), mountinfo) == "ext4"


def test_a_folder_in_ram_is_not_used_and_a_disk_folder_is_made(tmp_path):
    mountinfo = Path("/proc/self/mountinfo").read_text()
    in_memory = [Path(line.split()[4]) for line in mountinfo.splitlines()
                 if line.split(" - ")[-1].split()[0] in spill.IN_MEMORY_FILESYSTEMS
                 and os.access(line.split()[4], os.W_OK)]
    for folder in in_memory[:3]:
        assert spill.spill_folder(folder) is None
    if spill.filesystem_type(tmp_path.resolve(), mountinfo) not in spill.IN_MEMORY_FILESYSTEMS:
        assert spill.spill_folder(tmp_path / "temp") == (tmp_path / "temp").resolve()
        assert (tmp_path / "temp").is_dir()
    assert spill.spill_folder(None) is None


def test_split_resnets_need_only_one_convolutions_reach_of_overlap(tmp_path):
    """Each split step holds at most one 3x3 convolution, so 16 px (two latent cells) of
    overlap covers the tiles' zero padding; whole resnets (two convolutions) need 32 px. (Tiles
    of 112 px: at the latent's scale 13 cells are not widened to 16, which would overlap more.)"""
    vae = random_sd15_vae()
    torch.manual_seed(1)
    latent = torch.randn(1, 4, 24, 40)
    full = vae_ops.decode(vae, latent)
    assert vae_ops.psnr(vae_ops.decode_tiled(vae, latent, 112, 16, spill=tmp_path), full) >= 60.0
    assert vae_ops.psnr(vae_ops.decode_tiled(vae, latent, 112, 16), full) < 40.0
