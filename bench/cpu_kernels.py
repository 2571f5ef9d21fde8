"""The CPU kernel choices of nodeflow/diffusion/cpu_kernels.py, shape by shape, on this machine.

    python bench/cpu_kernels.py [--repeats 5]

For the Linear, 3x3 and 1x1 convolution shapes of an SD 1.5 UNet call at 256x256 with CFG (batch 2),
and a few around the thresholds, prints milliseconds with PyTorch's own kernel (the baseline)
and with nodeflow's layer, their ratio, and which path the layer took; likewise for the
upsamplers (nearest 2x, then a 3x3 convolution) of the SD 1.5 VAE decoder at 512 px and of the
UNet, diffusers' Upsample2D against nodeflow's (nodeflow/diffusion/cpu_blocks.py), and where that
takes Winograd (winograd_upsample.py), the transposed convolution against it; and for the 3x3
convolutions of the SD 1.5 VAE at 512 px and of the UNet at 256 and 512 px, PyTorch's against
Winograd F(2x2, 3x3) (nodeflow/diffusion/winograd.py) whether or not the layer's rule takes it,
with what the rule picks, and F(2x2, 3x3) against F(4x4, 3x3) (winograd_f4.py) where the size
allows 4x4 tiles. Then one whole UNet
call, built from the shipped SD 1.5 config with random weights, with plain layers and with
nodeflow's. Best of --repeats; nothing is asserted. bf16 rows only where oneDNN runs bf16 (see
``DTYPES``).
"""
from __future__ import annotations

import argparse
import time

import torch

from nodeflow.diffusion import cpu_blocks, cpu_kernels
from nodeflow.diffusion.cpu_kernels import CpuConv2d, CpuLinear

LINEARS = [(2048, 320, 2560), (2048, 1280, 320), (2048, 320, 320), (512, 640, 5120), (512, 2560, 640),
           (128, 1280, 10240), (128, 5120, 1280), (154, 768, 320)]
# (in, out, batch, size, stride)
CONVS = [(1280, 1280, 2, 4, 1), (2560, 1280, 2, 4, 1), (1280, 1280, 2, 8, 1), (2560, 1280, 2, 8, 1),
         (1920, 1280, 2, 8, 1), (1280, 1280, 2, 8, 2), (1280, 1280, 2, 16, 1), (640, 640, 2, 16, 1),
         (320, 320, 2, 32, 1)]

# (in, out, batch, size): the UNet's 1x1 convolutions (its transformers' projections and its
# resnets' shortcuts) at 256 px with CFG
POINTWISE = [(320, 320, 2, 32), (640, 640, 2, 16), (1280, 1280, 2, 8), (1280, 1280, 2, 4), (960, 320, 2, 32),
             (1920, 640, 2, 16), (2560, 1280, 2, 8)]

# (channels, batch, input size, channels-last): the VAE decoder's at 512 px, the UNet's at 256
# and 512 px with CFG
UPSAMPLES = [(512, 1, 64, True), (512, 1, 128, True), (256, 1, 256, True), (512, 1, 32, True),
             (1280, 2, 8, False), (640, 2, 16, False), (640, 2, 32, False)]

# (in, out, batch, size, channels-last): the VAE's at 512 px (channels-last, as vae_ops runs it),
# then the UNet's with CFG at 256 and 512 px, and a few near the thresholds
WINOGRAD = [(128, 128, 1, 512, True), (256, 128, 1, 512, True), (256, 256, 1, 256, True),
            (512, 256, 1, 256, True), (512, 512, 1, 128, True), (512, 512, 1, 64, True),
            (320, 320, 2, 32, False), (640, 640, 2, 16, False), (640, 320, 2, 32, False),
            (1280, 1280, 2, 16, False), (320, 320, 2, 64, False), (640, 640, 2, 32, False),
            (256, 256, 1, 16, False), (256, 256, 1, 8, False), (512, 512, 1, 8, False)]


def best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


DTYPES = (torch.float32, torch.bfloat16) if cpu_kernels.ONEDNN_BF16 else (torch.float32,)
"""bf16 only where oneDNN runs it: elsewhere (AVX2-only CPUs) nodeflow's layers take PyTorch's own
bf16 kernels, which emulate it at 20-80x fp32's time (minutes for these rows)."""


def row(label: str, base: float, ours: float, path: str) -> None:
    print(f"{label:<34} {base * 1e3:9.2f} {ours * 1e3:9.2f} {ours / base:6.2f}x  {path}")


def unet_call(repeats: int) -> None:
    from nodeflow.diffusion.checkpoint_build import build_unet, read_config
    from nodeflow.diffusion.checkpoints import CONFIG_ROOT

    torch.manual_seed(0)
    with torch.device("meta"):
        unet = build_unet(read_config(CONFIG_ROOT / "sd1" / "unet"))
    unet = unet.to_empty(device="cpu").eval().requires_grad_(False)
    for p in unet.parameters():
        p.normal_(0, 0.02)
    x, t, cond = torch.randn(2, 4, 32, 32), torch.tensor([500.0, 500.0]), torch.randn(2, 77, 768)
    base = best(lambda: unet(x, t, cond), repeats)
    cpu_kernels.use_cpu_kernels(unet)
    row("SD 1.5 UNet call, 256 px, batch 2", base, best(lambda: unet(x, t, cond), repeats), "")


def upsamplers(repeats: int) -> None:
    from diffusers.models.upsampling import Upsample2D

    for dtype in DTYPES:
        for channels, batch, size, last in UPSAMPLES:
            plain = Upsample2D(channels, use_conv=True).to(dtype).eval()
            fast = Upsample2D(channels, use_conv=True).to(dtype).eval()
            fast.load_state_dict(plain.state_dict())
            fast.__class__ = cpu_blocks.CpuUpsample2D
            x = torch.randn(batch, channels, size, size, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last) if last else x
            path = cpu_blocks.upsample_path(fast, x)
            row(f"{str(dtype)[6:]} upsample {channels} {batch}x{size}x{size}",
                best(lambda: plain(x), repeats), best(lambda: fast(x), repeats), path)
            if path == cpu_blocks.WINOGRAD_UPSAMPLE:  # against the one-pass form it replaced
                row(f"  transposed conv -> {path}", best(lambda: cpu_blocks.transposed_upsample(x, fast.conv), repeats),
                    best(lambda: fast(x), repeats), "")


def winograd_rows(repeats: int) -> None:
    from nodeflow.diffusion import winograd, winograd_f4

    for cin, cout, batch, size, last in WINOGRAD:
        layer = CpuConv2d(cin, cout, 3, padding=1).eval()
        x = torch.randn(batch, cin, size, size)
        x = x.contiguous(memory_format=torch.channels_last) if last else x
        path = cpu_kernels.conv_path(layer, x)
        f2 = best(lambda: winograd.conv3x3(x, layer.weight, layer.bias), repeats)
        row(f"fp32 winograd {cin}->{cout} {batch}x{size}x{size}{' cl' if last else ''}",
            best(lambda: layer._conv_forward(x, layer.weight, layer.bias), repeats), f2,
            f"F(2x2, 3x3); rule: {path}")
        if winograd_f4.applies(x):
            row("  F(2x2, 3x3) -> F(4x4, 3x3)", f2,
                best(lambda: winograd_f4.conv3x3(x, layer.weight, layer.bias), repeats), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN linear "
          f"{'available' if cpu_kernels._LINEAR is not None else 'missing: every row is PyTorch'}, "
          f"MKL {'native (Intel): batched products' if cpu_kernels.MKL_NATIVE else 'not native: oneDNN products'}, "
          f"{'bf16 rows' if cpu_kernels.ONEDNN_BF16 else 'no bf16 rows (no oneDNN bf16 on this CPU)'}, "
          f"Winograd from {cpu_kernels.WINOGRAD_MIN_CHANNELS} channels, F(4x4, 3x3) from "
          f"{cpu_kernels.WINOGRAD_F4_MIN_PIXELS or 'never'} pixels")
    print(f"{'fp32 shape':<34} {'PyTorch':>9} {'nodeflow':>9} {'ratio':>7}  path (ms)")
    with torch.no_grad():
        for m, k, n in LINEARS:
            plain = torch.nn.Linear(k, n)
            fast = CpuLinear(k, n)
            fast.load_state_dict(plain.state_dict())
            x = torch.randn(m, k)
            row(f"linear {m}x{k} -> {n}", best(lambda: plain(x), args.repeats), best(lambda: fast(x), args.repeats),
                "oneDNN" if cpu_kernels._LINEAR is not None else "PyTorch")
        for dtype in DTYPES:
            for cin, cout, batch, size, stride in CONVS:
                plain = torch.nn.Conv2d(cin, cout, 3, stride, 1).to(dtype)
                fast = CpuConv2d(cin, cout, 3, stride, 1).to(dtype)
                fast.load_state_dict(plain.state_dict())
                x = torch.randn(batch, cin, size, size, dtype=dtype)
                row(f"{str(dtype)[6:]} conv3x3/{stride} {cin}->{cout} {batch}x{size}x{size}",
                    best(lambda: plain(x), args.repeats), best(lambda: fast(x), args.repeats),
                    cpu_kernels.conv_path(fast, x))
            for cin, cout, batch, size in POINTWISE:
                plain = torch.nn.Conv2d(cin, cout, 1).to(dtype)
                fast = CpuConv2d(cin, cout, 1).to(dtype)
                fast.load_state_dict(plain.state_dict())
                x = torch.randn(batch, cin, size, size, dtype=dtype)
                row(f"{str(dtype)[6:]} conv1x1 {cin}->{cout} {batch}x{size}x{size}",
                    best(lambda: plain(x), args.repeats), best(lambda: fast(x), args.repeats),
                    cpu_kernels.conv_path(fast, x))
        winograd_rows(max(2, args.repeats // 2))
        upsamplers(max(2, args.repeats // 2))
        unet_call(max(2, args.repeats // 2))


if __name__ == "__main__":
    main()
