"""VAE cases: nodeflow's encode/decode against diffusers' own AutoencoderKL calls at the same
precision and size, and the extra memory of a tiled 2048x2048 decode."""
from __future__ import annotations

import time
from pathlib import Path

from memory import peak_rss_gb, rss_gb


def _vae(path: Path, precision: str):
    import torch

    from nodeflow.diffusion.checkpoints import load_vae

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    return load_vae(path, dtype=dtype)


def _median_s(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _plain_diffusers(vae, dtype):
    """diffusers' own AutoencoderKL with the same weights in ``dtype``: plain torch layers and
    blocks (none of nodeflow's CPU kernels), called as diffusers documents it."""
    from diffusers import AutoencoderKL

    plain = AutoencoderKL.from_config(vae.config)
    plain.load_state_dict({k: v.to(dtype) for k, v in vae.state_dict().items()})
    return plain.to(dtype).eval().requires_grad_(False)


def case_vae_vs_diffusers(path: Path, size: int, precision: str) -> dict:
    """diffusers' own AutoencoderKL (the baseline) and nodeflow's VAE through vae_ops, the same
    weights at the same precision."""
    import torch

    from nodeflow.diffusion import vae_ops
    from nodeflow.diffusion.stored_weights import working_dtype

    vae = _vae(path, precision)
    dtype = working_dtype(vae)
    plain = _plain_diffusers(vae, dtype)
    torch.manual_seed(0)
    latent = torch.randn(1, 4, size // 8, size // 8)
    image = torch.rand(1, size, size, 3)
    pixels = (image.movedim(-1, 1) * 2 - 1).to(dtype)
    with torch.no_grad():
        bare_decode = _median_s(lambda: plain.decode(latent.to(dtype)).sample)
        ours_decode = _median_s(lambda: vae_ops.decode(vae, latent))
        bare_encode = _median_s(lambda: plain.encode(pixels).latent_dist.mean)
        ours_encode = _median_s(lambda: vae_ops.encode(vae, image))
    return {"decode_s": ours_decode, "diffusers_decode_s": bare_decode, "decode_ratio": ours_decode / bare_decode,
            "encode_s": ours_encode, "diffusers_encode_s": bare_encode, "encode_ratio": ours_encode / bare_encode}


class _Enough(Exception):
    pass


def case_tiled_rss(path: Path, size: int, precision: str, tiles: int, spill: Path | None = None,
                   ram_gb: float | None = None) -> dict:
    """Time and extra RSS of a tiled decode (512 px tiles, 64 px overlap) over the loaded VAE,
    with the images between steps that exceed ``ram_gb`` (default: vae_segments' 1.25 GB)
    spilled to the folder ``spill`` (as VAEDecodeTiled does into the temp folder) or, without
    it, not kept (their steps re-run for every GroupNorm after them).
    `tiles` 0: the whole decode. With `tiles` > 0 the statistics passes are skipped (every norm
    given placeholder statistics of the right shape) and it stops after that many tile steps:
    a quick look at the memory of whole tiles, not the whole decode's time."""
    import torch

    from nodeflow.diffusion import spill as spilling
    from nodeflow.diffusion import vae_norms, vae_ops, vae_segments

    if ram_gb is not None:
        vae_segments.MAX_STORED_BYTES = int(ram_gb * 1024**3)
    folder = spilling.spill_folder(spill)
    if spill is not None and folder is None:
        raise SystemExit(f"{spill}: not a folder on a disk, so nothing would be spilled")

    if tiles:
        original = vae_norms.SharedGroupNorms.__init__

        def placeholder_statistics(self, *roots):
            original(self, *roots)
            self.pooled = [(torch.zeros(1, n.num_groups, dtype=torch.float64),
                            torch.ones(1, n.num_groups, dtype=torch.float64)) for n in self.norms]

        vae_norms.SharedGroupNorms.__init__ = placeholder_statistics

    vae = _vae(path, precision)
    latent = torch.randn(1, 4, size // 8, size // 8)
    before = rss_gb()
    steps: list[tuple[int, int, float]] = []
    start = time.perf_counter()

    def on_tile(done: int, total: int) -> None:
        steps.append((done, total, time.perf_counter() - start))
        if tiles and done >= tiles:
            raise _Enough

    try:
        vae_ops.decode_tiled(vae, latent, 512, 64, on_tile=on_tile, spill=folder)
        finished = True
    except _Enough:
        finished = False
    return {"extra_peak_rss_gb": peak_rss_gb() - before, "rss_before_gb": before, "finished": finished,
            "steps_done": steps[-1][0], "steps_total": steps[-1][1], "seconds": time.perf_counter() - start,
            "first_step_s": steps[0][2]}
