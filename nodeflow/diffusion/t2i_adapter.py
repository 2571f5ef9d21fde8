"""T2I-Adapters (Mou et al. 2023), loaded by ControlNetLoader as ComfyUI loads them.

An adapter is a small network that turns the hint image into one feature map per UNet level;
the features are added to the UNet's down blocks (after the last layer of each level; SDXL's
adapters feed the first level after its downsampling and the middle block too), the same for
every step, so they are computed once per hint. The network is diffusers' T2IAdapter (full,
light and SDXL), filled from TencentARC's original files (``conv_in``/``body.N`` keys, as
ComfyUI reads them, also inside an ``adapter`` entry) or diffusers' layout (``adapter.*``).

Read off the tensors as ComfyUI does: a full adapter has ``conv_in``; its input channels are
the hint's channels x the pixel-unshuffle factor squared, 8x8 for SD 1.x/2.x and 16x16 for
SDXL (256 or 768 inputs); a light adapter has ``body.0.in_conv``. The hint is scaled to 8x the
latent (nearest-exact, centre crop), rounded up to the unshuffle factor; a one-channel adapter
(sketch) takes the mean of the colour channels.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from .checkpoint_build import fill
from .checkpoint_errors import CheckpointError

FULL_RES_BLOCKS = 2  # TencentARC's full adapters (ComfyUI assumes the same)
LIGHT_RES_BLOCKS = 4
XL_INPUTS = (256, 768)  # a 16x16 unshuffle of 1 or 3 channels


def is_t2i_adapter(sd) -> bool:
    return ("conv_in.weight" in sd and "body.0.block1.weight" in sd) or \
        "body.0.in_conv.weight" in sd or any(k.startswith("adapter.body.") for k in sd)


def _levels(names, pattern: str) -> int:
    return 1 + max(int(m[1]) for k in names if (m := re.match(pattern, k)))


def adapter_config(sd) -> dict:
    """diffusers' T2IAdapter config read off the tensors (original names)."""
    names = set(sd)
    if "conv_in.weight" in names:
        if any(k.endswith("down_opt.op.weight") for k in names):
            raise CheckpointError("a T2I-Adapter with convolution downsampling; only the "
                                  "average-pooling adapters TencentARC released are supported")
        if sd["body.0.block2.weight"].shape[-1] != 1:
            raise CheckpointError("a T2I-Adapter with wide second convolutions; only 1x1 ones "
                                  "(TencentARC's) are supported")
        cin = sd["conv_in.weight"].shape[1]
        xl = cin in XL_INPUTS
        factor = 16 if xl else 8
        blocks = _levels(names, r"body\.(\d+)\.") // FULL_RES_BLOCKS
        channels = [sd[f"body.{FULL_RES_BLOCKS * i}.block1.weight"].shape[0] for i in range(blocks)]
        return {"in_channels": cin // factor ** 2, "channels": channels,
                "num_res_blocks": FULL_RES_BLOCKS, "downscale_factor": factor,
                "adapter_type": "full_adapter_xl" if xl else "full_adapter"}
    cin = sd["body.0.in_conv.weight"].shape[1]
    blocks = _levels(names, r"body\.(\d+)\.")
    channels = [sd[f"body.{i}.out_conv.weight"].shape[0] for i in range(blocks)]
    if len(channels) > 1 and channels[-1] == channels[-2]:
        channels = channels[:-1]  # diffusers repeats the last width for the last block
    return {"in_channels": cin // 64, "channels": channels,
            "num_res_blocks": _levels(names, r"body\.0\.body\.(\d+)\."),
            "downscale_factor": 8, "adapter_type": "light_adapter"}


def _diffusers_to_original(key: str, config: dict) -> str:
    """diffusers' T2IAdapter parameter name -> TencentARC's."""
    name = key.removeprefix("adapter.")
    if config["adapter_type"] == "light_adapter":
        return re.sub(r"^body\.(\d+)\.resnets\.(\d+)\.", r"body.\1.body.\2.", name)
    name = re.sub(r"^body\.(\d+)\.resnets\.(\d+)\.",
                  lambda m: f"body.{FULL_RES_BLOCKS * int(m[1]) + int(m[2])}.", name)
    return re.sub(r"^body\.(\d+)\.in_conv\.",
                  lambda m: f"body.{FULL_RES_BLOCKS * int(m[1])}.in_conv.", name)


def load_t2i_adapter(sd, path: Path, device="cpu", dtype: torch.dtype = torch.float32):
    """(diffusers T2IAdapter in eval mode, family "sd1" | "sdxl") from a state dict."""
    from diffusers import T2IAdapter

    if "adapter" in sd and isinstance(sd["adapter"], dict):
        sd = sd["adapter"]
    if any(k.startswith("adapter.") for k in sd):  # diffusers' layout
        full = "adapter.conv_in.weight" in sd
        kind = {"adapter_type": "full_adapter" if full else "light_adapter"}
        sd = {_diffusers_to_original(k, kind): v for k, v in sd.items() if k.startswith("adapter.")}
    try:
        config = adapter_config(sd)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    with torch.device("meta"):
        adapter = T2IAdapter(**config)
    names = {k: _diffusers_to_original(k, config) for k in adapter.state_dict()}
    fill(adapter, sd, names, set(), path, "T2I-Adapter", device, dtype)
    return adapter, "sdxl" if config["adapter_type"] == "full_adapter_xl" else "sd1"


def hint_size(adapter, latent_height: int, latent_width: int) -> tuple[int, int]:
    """(height, width) of the hint for a latent: 8x, rounded up to the unshuffle factor."""
    factor = adapter.config.downscale_factor
    return (math.ceil(latent_height * 8 / factor) * factor,
            math.ceil(latent_width * 8 / factor) * factor)


def features(adapter, hint: torch.Tensor, latent_height: int, latent_width: int,
             dtype: torch.dtype) -> list[torch.Tensor]:
    """The adapter's feature maps for an IMAGE hint [B, H, W, C] and a latent size."""
    from .image_ops import upscale

    height, width = hint_size(adapter, latent_height, latent_width)
    pixels = upscale(hint.movedim(-1, 1).float(), width, height, "nearest-exact", "center")
    if adapter.config.in_channels == 1 and pixels.shape[1] > 1:
        pixels = pixels.mean(dim=1, keepdim=True)
    parameter = next(adapter.parameters())
    with torch.no_grad():
        return list(adapter(pixels.to(parameter.device, dtype)))
