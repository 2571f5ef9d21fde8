"""The leaner diffusers blocks give diffusers' results, fuse only where measured faster, leave
their inputs alone, and fall back to diffusers' forward for training."""
from __future__ import annotations

import weakref

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D

from nodeflow.diffusion import cpu_blocks, cpu_kernels, winograd_upsample
from nodeflow.diffusion.checkpoints import load_checkpoint
from nodeflow.diffusion.cpu_blocks import CpuResnetBlock2D, CpuUpsample2D, upsample_kernel
from nodeflow.diffusion.cpu_kernels import use_cpu_kernels
from nodeflow.diffusion.stored_weights import cast_on_use

from tests.diffusion.call_counts import count_calls
from tests.diffusion.tiny_models import make_tiny_checkpoint, tiny_config_root


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


@pytest.fixture
def transposed(monkeypatch):
    """Counts the fused (transposed-convolution) upsamplings."""
    return count_calls(monkeypatch, cpu_blocks.F, "conv_transpose2d")


def twins(make, cpu_class):
    torch.manual_seed(0)
    plain = make()
    for p in plain.parameters():
        torch.nn.init.normal_(p, 0, 0.05)
    lean = make()
    lean.load_state_dict(plain.state_dict())
    lean.__class__ = cpu_class
    return plain.eval(), lean.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_upsample_kernel_is_nearest_upsampling_then_the_convolution(dtype):
    torch.manual_seed(0)
    weight, x = torch.randn(5, 3, 3, 3).to(dtype), torch.randn(2, 3, 6, 7).to(dtype)
    expected = F.conv2d(F.interpolate(x.float(), scale_factor=2.0, mode="nearest"), weight.float(), padding=1)
    got = F.conv_transpose2d(x, upsample_kernel(weight), stride=2, padding=1)
    assert got.shape == expected.shape == (2, 5, 12, 14) and got.dtype == dtype
    assert relative_error(got, expected) < (1e-6 if dtype == torch.float32 else 2e-2)


@pytest.fixture
def winograd_upsamples(monkeypatch):
    """Counts the upsamplings done as Winograd over the upsampled image."""
    return count_calls(monkeypatch, cpu_blocks, "upsample_conv3x3")


# (channels, batch, size, dtype, path): "winograd", "transposed" or "two steps"
UPSAMPLES = [
    (128, 1, 32, torch.float32, "winograd"),     # the fp32 thresholds: 128 channels,
    (128, 2, 8, torch.float32, "winograd"),      # 128 input pixels
    (128, 1, 8, torch.float32, "two steps"),     # 64 pixels: too few
    (64, 1, 32, torch.float32, "transposed"),    # too narrow for Winograd; 1024 pixels
    (64, 1, 16, torch.float32, "two steps"),     # 256: the two steps
    (64, 2, 32, torch.bfloat16, "transposed"),   # 2048: the bf16 threshold
    (64, 1, 32, torch.bfloat16, "two steps"),
    (1280, 1, 32, torch.bfloat16, "two steps"),  # the UNet's widest layers at bf16
    (1280, 2, 4, torch.float32, "two steps"),    # the UNet's lowest level at 256 px
    (1280, 2, 8, torch.float32, "winograd"),
]


@pytest.mark.parametrize("channels,batch,size,dtype,path", UPSAMPLES)
def test_upsample_matches_diffusers_in_the_path_measured_fastest(transposed, winograd_upsamples, channels, batch,
                                                                 size, dtype, path):
    if dtype == torch.bfloat16 and not cpu_kernels.ONEDNN_BF16:
        path = "two steps"  # AVX2 only: PyTorch's own bf16 transposed convolution is 30x slower
    plain, lean = twins(lambda: Upsample2D(channels, use_conv=True).to(dtype), CpuUpsample2D)
    x = torch.randn(batch, channels, size, size).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected, got = plain(x), lean(x)
        assert relative_error(got, expected) < (1e-5 if dtype == torch.float32 else 2e-2)
        assert (len(transposed), len(winograd_upsamples)) == {"winograd": (0, 1), "transposed": (1, 0),
                                                              "two steps": (0, 0)}[path]
        lean(x, output_size=(2 * size, 2 * size + 1))  # any other size: interpolation as asked
        assert len(transposed) + len(winograd_upsamples) == int(path != "two steps")
    assert got.shape == expected.shape and got.dtype == dtype
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_upsample_of_a_stored_fp16_layer_widens_its_weights_exactly(winograd_upsamples):
    """The VAE's layers keep the file's fp16 at fp32 (stored_weights.py): the Winograd path
    gets the same result as from an fp32 copy of those weights."""
    plain, lean = twins(lambda: Upsample2D(128, use_conv=True), CpuUpsample2D)
    plain.conv.weight.data = plain.conv.weight.data.half().float()
    plain.conv.bias.data = plain.conv.bias.data.half().float()
    lean.load_state_dict(plain.state_dict())
    cast_on_use(lean.conv)
    lean.conv.weight.data, lean.conv.bias.data = lean.conv.weight.data.half(), lean.conv.bias.data.half()
    x = torch.randn(1, 128, 16, 16)
    with torch.no_grad():
        assert torch.equal(lean(x), winograd_upsample.upsample_conv3x3(x, plain.conv.weight, plain.conv.bias))
        assert relative_error(lean(x), plain(x)) < 1e-5
    assert len(winograd_upsamples) == 2


def test_upsample_with_gradients_uses_diffusers_forward(transposed):
    plain, lean = twins(lambda: Upsample2D(8, use_conv=True), CpuUpsample2D)
    x = torch.randn(1, 8, 32, 32, requires_grad=True)
    lean(x).sum().backward()
    assert transposed == [] and x.grad is not None


@pytest.mark.parametrize("out_channels,temb_channels,batch", [(32, None, 1), (64, None, 2), (64, 16, 2)])
def test_resnet_is_identical_to_diffusers_and_leaves_its_input(out_channels, temb_channels, batch):
    plain, lean = twins(lambda: ResnetBlock2D(in_channels=32, out_channels=out_channels,
                                              temb_channels=temb_channels, groups=8), CpuResnetBlock2D)
    x = torch.randn(batch, 32, 12, 12).contiguous(memory_format=torch.channels_last)
    temb = None if temb_channels is None else torch.randn(batch, temb_channels)
    before = x.clone()
    with torch.no_grad():
        expected, got = plain(x, temb), lean(x, temb)
    assert torch.equal(got, expected)  # the same sums in the same order, only fewer copies
    assert torch.equal(x, before)


def test_resnet_of_the_vae_decoder_group_norm_kind_is_lean(monkeypatch):
    plain, lean = twins(lambda: ResnetBlock2D(in_channels=32, out_channels=32, temb_channels=None, groups=8,
                                              time_embedding_norm="group"), CpuResnetBlock2D)
    silu_calls = []
    real = F.silu
    monkeypatch.setattr(cpu_blocks.F, "silu", lambda t, inplace=False: silu_calls.append(inplace) or real(t, inplace))
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        got = lean(x)
        assert silu_calls == [True, True]  # (F is torch's module: diffusers' own calls count too)
        assert torch.equal(got, plain(x, None))


def test_resnet_lets_go_of_its_first_convolutions_output_before_the_second_runs():
    """Three full-size tensors at once (input, normalised, output), not four."""
    _, lean = twins(lambda: ResnetBlock2D(in_channels=16, out_channels=16, temb_channels=None, groups=4,
                                          time_embedding_norm="group"), CpuResnetBlock2D)
    first, alive = [], []
    lean.conv1.register_forward_hook(lambda module, args, out: first.append(weakref.ref(out)))
    lean.conv2.register_forward_pre_hook(lambda module, args: alive.append(first[0]() is not None))
    with torch.no_grad():
        lean(torch.randn(1, 16, 8, 8))
    assert alive == [False]


def test_resnet_in_training_uses_diffusers_forward():
    plain, lean = twins(lambda: ResnetBlock2D(in_channels=16, out_channels=16, temb_channels=8, groups=4),
                        CpuResnetBlock2D)
    lean.train()
    x, temb = torch.randn(2, 16, 6, 6, requires_grad=True), torch.randn(2, 8)
    lean(x, temb).square().sum().backward()
    assert x.grad is not None and lean.conv1.weight.grad is not None


def test_swapped_in_by_use_cpu_kernels_and_loaded_models_have_them(tmp_path):
    module = torch.nn.Sequential(Upsample2D(4, use_conv=True), ResnetBlock2D(in_channels=4, temb_channels=None,
                                                                               groups=2))
    keys = list(module.state_dict())
    use_cpu_kernels(module)
    assert [type(m) for m in module] == [CpuUpsample2D, CpuResnetBlock2D] and list(module.state_dict()) == keys
    checkpoint = load_checkpoint(make_tiny_checkpoint(tmp_path), configs=tiny_config_root(tmp_path))
    for model in (checkpoint.unet, checkpoint.vae):
        blocks = [m for m in model.modules() if isinstance(m, (Upsample2D, ResnetBlock2D))]
        assert blocks and all(type(m) in (CpuUpsample2D, CpuResnetBlock2D) for m in blocks)
