"""Building diffusers/transformers modules from local configs and filling them with tensors.

Modules are created on the meta device and then take the file's tensors as their parameters
(`load_state_dict(assign=True)`): no time spent on random initialisation, and an SDXL UNet
(2.6 B parameters) never exists twice in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from .checkpoint_errors import CheckpointError
from .checkpoint_files import read_as, stored_dtype
from .cpu_kernels import use_cpu_kernels
from .stored_weights import NARROW_LAYERS, cast_on_use


def read_config(folder: Path) -> dict:
    """config.json (or scheduler_config.json) of a diffusers component folder."""
    for name in ("config.json", "scheduler_config.json"):
        if (folder / name).is_file():
            try:
                return json.loads((folder / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CheckpointError(f"{folder / name}: not a readable config ({exc})") from None
    raise CheckpointError(f"{folder}: no config.json")


def build_unet(config: Mapping) -> UNet2DConditionModel:
    with torch.device("meta"):
        return UNet2DConditionModel.from_config(dict(config))


def build_vae(config: Mapping) -> AutoencoderKL:
    with torch.device("meta"):
        return AutoencoderKL.from_config(dict(config))


def build_text_encoder(config: Mapping) -> torch.nn.Module:
    """CLIPTextModel, or CLIPTextModelWithProjection when the config's architectures say so."""
    projected = "CLIPTextModelWithProjection" in config.get("architectures", ())
    cls = CLIPTextModelWithProjection if projected else CLIPTextModel
    with torch.device("meta"):
        return cls(CLIPTextConfig.from_dict(dict(config)))


def _fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """The tensor in the expected shape when only 1x1 conv versus linear differs, else None."""
    if tensor.shape == shape:
        return tensor
    if tensor.numel() == shape.numel() and tensor.squeeze().shape == torch.Size([s for s in shape if s != 1]):
        return tensor.reshape(shape)
    return None


def fill(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], names: Mapping[str, str], used: set[str],
         source: Path, what: str, device, dtype: torch.dtype, keep_narrow: bool = False,
         storage: torch.dtype | None = None) -> None:
    """Give a meta-device module its weights: parameter `k` is `tensors[names[k]]`.

    Every expected tensor must be present with the configured shape; the names taken are added
    to `used`. Errors name the file, the component and the file's own key. Its Linear and
    Conv2d layers get the CPU kernels of cpu_kernels.py. With `keep_narrow` and an fp32
    `dtype`, the Linear, Conv2d and Embedding layers stored in fp16 or bf16 keep the file's
    precision and widen on use (stored_weights.py; exact, half the memory). With `storage` (a
    dtype narrower than fp32) and an fp32 `dtype`, those layers are kept narrow whatever
    `keep_narrow` says, and the file's wider ones are stored in `storage`, rounded once.
    """
    expected = module.state_dict()
    missing = [names[k] for k in expected if names[k] not in tensors]
    if missing:
        raise CheckpointError(f"{source}: the {what} is incomplete: {len(missing)} of {len(expected)} tensors "
                              f"missing, e.g. {', '.join(missing[:3])}")
    wanted = dtype == torch.float32 and (keep_narrow or storage is not None)
    narrow = _narrow_layers(module, tensors, names, storage) if wanted else {}
    state = {}
    for key, meta in expected.items():
        # Read in the model's dtype (converted while read, see read_as): the readers give
        # tensors of our own, never views into a memory map (that would keep the file mapped:
        # a crash if it is replaced on disk), so nothing here is copied again on the CPU.
        layer = key.rpartition(".")[0]
        tensor = _fit(read_as(tensors, names[key], narrow.get(layer, dtype)), meta.shape)
        if tensor is None:
            raise CheckpointError(f"{source}: {names[key]} has shape {tuple(tensors[names[key]].shape)} but the {what} "
                                  f"config expects {tuple(meta.shape)}; is this a different model variant?")
        state[key] = tensor.to(device=device)
        used.add(names[key])
    module.load_state_dict(state, strict=True, assign=True)
    _materialize_buffers(module, device)
    use_cpu_kernels(module)
    for layer in narrow:
        cast_on_use(module.get_submodule(layer), dtype)
    module.requires_grad_(False)
    module.eval()


def _narrow_layers(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor],
                   names: Mapping[str, str], storage: torch.dtype | None = None) -> dict[str, torch.dtype]:
    """{layer name: dtype} of the Linear, Conv2d and Embedding layers whose weight the file
    stores in fp16 or bf16 (their bias is read in the same dtype: both widen exactly), and with
    `storage`, of those it stores wider, in `storage`."""
    found = {}
    for name, layer in module.named_modules():
        key = f"{name}.weight"
        if type(layer) in NARROW_LAYERS and key in names and names[key] in tensors:
            stored = stored_dtype(tensors, names[key])
            if stored in (torch.float16, torch.bfloat16):
                found[name] = stored
            elif storage is not None and stored.is_floating_point and stored.itemsize > storage.itemsize:
                found[name] = storage
    return found


def _materialize_buffers(module: torch.nn.Module, device) -> None:
    """Recreate the non-persistent buffers that the meta-device build left empty.

    The only one in these models is CLIP's `position_ids` (0..max_positions-1).
    """
    for name, sub in module.named_modules():
        for buf_name, buf in list(sub.named_buffers(recurse=False)):
            if not buf.is_meta:
                continue
            if buf_name != "position_ids":
                raise RuntimeError(f"no rule to materialise buffer {name}.{buf_name} of {type(sub).__name__}")
            positions = torch.arange(buf.shape[-1], device=device).expand(buf.shape)
            sub.register_buffer(buf_name, positions, persistent=False)
