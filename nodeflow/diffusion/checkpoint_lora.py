"""LoRA in the kohya / A1111 .safetensors format, applied to patched copies of the models.

A LoRA file holds, per target layer, `<name>.lora_down.weight` (rank x in), `<name>.lora_up.weight`
(out x rank) and optionally `<name>.alpha`; the layer's weight becomes
W + strength * (alpha / rank) * up @ down. Names are the module path with "." replaced by "_",
prefixed `lora_unet_` (UNet; diffusers names for SD1/SD2 LoRAs, original `input_blocks_...`
names for SDXL ones: both are accepted), `lora_te_` (the one text encoder) or
`lora_te1_`/`lora_te2_` (SDXL's two).

The models given are never modified: the engine caches them unpatched. The result shares every
untouched tensor with the base model and owns only the patched weights, so a LoRA costs the
memory of the layers it touches, not a second model.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch

from .checkpoint_errors import CheckpointError
from .checkpoint_keys import clip_core, unet_key_map

_PARTS = ("lora_down.weight", "lora_up.weight", "alpha")


class LoraPatched(NamedTuple):
    """Patched copies of the models, and the LoRA layer names that matched no layer."""

    unet: torch.nn.Module
    text_encoders: tuple[torch.nn.Module, ...]
    unmatched: tuple[str, ...]


def _layers(module: torch.nn.Module) -> dict[str, str]:
    return {name: name for name, m in module.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}


def _unet_targets(unet: torch.nn.Module) -> dict[str, str]:
    layers = _layers(unet)
    original = unet_key_map([f"{n}.weight" for n in layers], unet.config)
    out = {}
    for name in layers:
        out["lora_unet_" + name.replace(".", "_")] = name
        out["lora_unet_" + original[f"{name}.weight"].removesuffix(".weight").replace(".", "_")] = name
    return out


def _text_targets(prefix: str, encoder: torch.nn.Module) -> dict[str, str]:
    out = {}
    for name in _layers(encoder):
        core = clip_core(name).replace(".", "_")
        out[f"{prefix}{core}"] = out[f"{prefix}text_model_{core}"] = name
    return out


def _group(lora: Mapping[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]], set[str]]:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unsupported = set()
    for key, tensor in lora.items():
        name, _, part = key.partition(".")
        if part in _PARTS:
            groups.setdefault(name, {})[part] = tensor
        else:  # LoHa, LoKr, DoRA scales, LoCon mid weights: other formulas, not implemented
            unsupported.add(name)
    return groups, unsupported


def _delta(parts: Mapping[str, torch.Tensor], weight: torch.Tensor) -> torch.Tensor | None:
    down, up = parts["lora_down.weight"].float(), parts["lora_up.weight"].float()
    rank = down.shape[0]
    scale = parts["alpha"].float().item() / rank if "alpha" in parts else 1.0
    delta = up.flatten(1) @ down.flatten(1)
    if delta.numel() != weight.numel():
        return None
    return delta.reshape(weight.shape).to(weight.device) * scale


def _patched_copy(module: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """A copy of `module` sharing every parameter and buffer except the replaced weights."""
    memo = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    clone = copy.deepcopy(module, memo)
    for path, weight in weights.items():
        clone.get_submodule(path).weight = torch.nn.Parameter(weight, requires_grad=False)
    return clone


def apply_lora(unet: torch.nn.Module, text_encoders: Sequence[torch.nn.Module],
               lora_state_dict: Mapping[str, torch.Tensor], strength_model: float, strength_clip: float,
               *, source: str = "LoRA") -> LoraPatched:
    """Patched copies of `unet` and `text_encoders` with the LoRA applied at the given strengths.

    A strength of 0 leaves that side's weights untouched (outputs bit-identical). A LoRA none
    of whose layers match these models (another architecture) is an error naming `source`;
    partly matching ones list the rest in `unmatched`.
    """
    groups, unsupported = _group(lora_state_dict)
    incomplete = {n for n, p in groups.items() if "lora_down.weight" not in p or "lora_up.weight" not in p}
    targets: dict[str, tuple[int, str]] = {k: (-1, v) for k, v in _unet_targets(unet).items()}
    if len(text_encoders) == 1:
        targets.update({k: (0, v) for k, v in _text_targets("lora_te_", text_encoders[0]).items()})
    for i, encoder in enumerate(text_encoders):
        targets.update({k: (i, v) for k, v in _text_targets(f"lora_te{i + 1}_", encoder).items()})

    models = [unet, *text_encoders]  # index -1 is the UNet: models[-1 + 1]
    strengths = [strength_model] + [strength_clip] * len(text_encoders)
    new_weights: list[dict[str, torch.Tensor]] = [{} for _ in models]
    unmatched = set(unsupported) | incomplete
    for name, parts in groups.items():
        if name in incomplete:
            continue
        if name not in targets:
            unmatched.add(name)
            continue
        index, path = targets[name]
        slot = index + 1
        weight = models[slot].get_submodule(path).weight
        delta = _delta(parts, weight)
        if delta is None:
            unmatched.add(name)
        elif strengths[slot] != 0:
            base = new_weights[slot].get(path, weight).float()
            new_weights[slot][path] = (base + strengths[slot] * delta).to(weight.dtype)
    layer_names = set(groups) | unsupported
    if not layer_names:
        raise CheckpointError(f"{source}: contains no LoRA layers")
    if unmatched >= layer_names:
        raise CheckpointError(f"{source}: none of its {len(layer_names)} layers match this model (e.g. "
                              f"{', '.join(sorted(unmatched)[:3])}); is it a LoRA for another architecture, "
                              "or a LyCORIS type other than plain LoRA?")
    patched = [_patched_copy(m, w) for m, w in zip(models, new_weights, strict=True)]
    return LoraPatched(unet=patched[0], text_encoders=tuple(patched[1:]), unmatched=tuple(sorted(unmatched)))
