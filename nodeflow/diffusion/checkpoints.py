"""Offline loading of Stable Diffusion checkpoints (SD 1.x, SD 2.x, SDXL) into diffusers modules.

Everything needed to build a model ships in `configs/` next to this file, so nothing here
touches the network: models are built from those configs and filled from the file's tensors
through our own key mapping (checkpoint_keys.py). Every tensor a model expects must be in the
file; a missing one is an error, never a silently random weight.

Public entry points: `load_checkpoint`, `load_vae`, `detect_architecture`, `apply_lora`,
`find_models`, `resolve_model`, `extra_model_dirs`, `model_dirs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import checkpoint_keys as keys
from .checkpoint_build import build_text_encoder, build_unet, build_vae, fill, read_config
from .checkpoint_errors import CheckpointError
from .checkpoint_files import read_component_folder, read_state_dict
from .checkpoint_lora import LoraPatched, apply_lora
from . import unclip
from .checkpoint_paths import ModelName, extra_model_dirs, find_models, model_dirs, resolve_model

__all__ = ["ARCHITECTURES", "CONFIG_ROOT", "CheckpointError", "LoadedCheckpoint", "LoraPatched", "ModelName",
           "apply_lora", "detect_architecture", "extra_model_dirs", "find_models", "load_checkpoint",
           "load_vae", "model_dirs", "read_state_dict", "resolve_model"]

ARCHITECTURES = ("sd1", "sd2", "sd2-v", "sdxl")
CONFIG_ROOT = Path(__file__).parent / "configs"
PREDICTION_TYPES = ("epsilon", "v_prediction")
# ComfyUI's rule for SD 2.x: the 768-v model's last up-block attention has a spread-out
# norm1 bias; the 512 eps model's does not (comfy/supported_models.py, SD20.model_type).
V_PRED_BIAS_STD = 0.09


@dataclass
class LoadedCheckpoint:
    """The parts of a checkpoint as diffusers/transformers modules, in eval mode, grads off.

    text_encoders: SD1 one CLIPTextModel (CLIP-L, 12 layers); SD2 one CLIPTextModel (OpenCLIP-H
    with 23 of its 24 layers: SD2 conditions on the penultimate layer); SDXL a CLIPTextModel
    (CLIP-L) and a CLIPTextModelWithProjection (OpenCLIP-bigG, all 32 layers; SDXL reads the
    penultimate hidden state and the projected pooled output).
    scaling_factor multiplies VAE latents before the UNet sees them (0.18215 SD1/2, 0.13025 SDXL).
    unused_keys are tensors in the file that no module took (EMA copies, OpenCLIP's last layer,
    training buffers), listed so a caller can tell the user.
    """

    arch: str
    prediction_type: str
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoders: tuple[torch.nn.Module, ...]
    latent_channels: int
    scaling_factor: float
    scheduler_config: dict
    source: Path
    unused_keys: tuple[str, ...] = field(default=())


def _shape(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def detect_architecture(state_dict: Mapping[str, object], *, override: str | None = None) -> str:
    """The architecture ("sd1" | "sd2" | "sd2-v" | "sdxl") of an original-layout state dict.

    Values are tensors or plain shapes. The family comes from structure, not sizes, so it
    holds for fine-tunes and tiny test models alike:
    - sdxl: both `conditioner.embedders.0.transformer.*` (CLIP-L) and
      `conditioner.embedders.1.model.*` (OpenCLIP-bigG) and the UNet's `label_emb`;
    - sd2: an OpenCLIP text tower at `cond_stage_model.model.*` and linear attention projections;
    - sd1: a transformers CLIP at `cond_stage_model.transformer.*` and 1x1-conv projections.
    sd2 versus sd2-v follows ComfyUI: a `v_pred` marker tensor means v; otherwise, for a
    4-channel (non-inpainting) UNet, the last output block's
    `transformer_blocks.0.norm1.bias` with a population std above 0.09 means v (this needs that
    tensor, not just its shape). `override` names the architecture outright; it must belong to
    the detected family (sd2 and sd2-v are one family).
    """
    if override is not None and override not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture override {override!r}; expected one of {', '.join(ARCHITECTURES)}")
    unet_in = _shape(state_dict.get(keys.UNET_PREFIX + "input_blocks.0.0.weight"))
    if unet_in is None:
        hint = _what_is_it(state_dict)
        raise CheckpointError(f"no Stable Diffusion UNet (model.diffusion_model.*) in this file{hint}")
    has = lambda prefix: any(k.startswith(prefix) for k in state_dict)  # noqa: E731
    adm = keys.UNET_PREFIX + "label_emb.0.0.weight" in state_dict
    proj = _shape(state_dict.get(keys.UNET_PREFIX + "middle_block.1.proj_in.weight"))
    linear = proj is not None and len(proj) == 2
    if has("conditioner.embedders.1.model.") and has("conditioner.embedders.0.transformer.") and adm:
        family = "sdxl"
    elif has("cond_stage_model.model.") and linear and (not adm or unclip.is_unclip(state_dict)):
        family = "sd2"
    elif has("cond_stage_model.transformer.") and not adm and not linear:
        family = "sd1"
    else:
        text = [p for p in ("cond_stage_model.transformer.", "cond_stage_model.model.", "conditioner.embedders.0.",
                            "conditioner.embedders.1.") if has(p)]
        raise CheckpointError(
            "unknown architecture: text encoder keys " + (", ".join(f"{p}*" for p in text) or "(none)")
            + f", UNet label_emb {'present' if adm else 'absent'}, {'linear' if linear else 'conv'} attention "
            "projections; supported are SD 1.x, SD 2.x and SDXL base single-file checkpoints")
    if override is not None:
        if override.split("-")[0] != family:
            raise CheckpointError(f"architecture override {override!r} does not fit this file, which is {family}")
        return override
    if family != "sd2":
        return family
    if unclip.is_unclip(state_dict):
        return "sd2-v"  # Stability's unCLIP models are v-prediction (ComfyUI's SD21UNCLIP)
    return "sd2-v" if _sd2_is_v(state_dict, unet_in) else "sd2"


def _sd2_is_v(state_dict: Mapping[str, object], unet_in: tuple[int, ...]) -> bool:
    if "v_pred" in state_dict:
        return True
    if unet_in[1] != 4:  # SD 2.x inpainting and depth models are eps models
        return False
    last = max(int(k.split(".")[3]) for k in state_dict if k.startswith(keys.UNET_PREFIX + "output_blocks."))
    probe = state_dict.get(f"{keys.UNET_PREFIX}output_blocks.{last}.1.transformer_blocks.0.norm1.bias")
    if not isinstance(probe, torch.Tensor):
        raise CheckpointError("cannot tell sd2 from sd2-v from shapes alone: pass the tensors or an override")
    return torch.std(probe.float(), unbiased=False).item() > V_PRED_BIAS_STD


def _what_is_it(state_dict: Mapping[str, object]) -> str:
    names = list(state_dict)
    if any(k.startswith(("lora_unet_", "lora_te")) for k in names):
        return "; it looks like a LoRA (lora_unet_*/lora_te* keys): load it as a LoRA"
    if any(k.startswith(("encoder.down", "decoder.up", "first_stage_model.")) for k in names):
        return "; it looks like a standalone VAE: load it as a VAE"
    return f"; found {len(names)} tensors such as {', '.join(names[:3]) or '(none)'}"


def _prediction(state_dict: Mapping[str, object], arch: str, override: str | None) -> str:
    if override is not None:
        if override not in PREDICTION_TYPES:
            raise CheckpointError(f"unknown prediction_type {override!r}; "
                                  f"expected one of {', '.join(PREDICTION_TYPES)}")
        return override
    return "v_prediction" if arch == "sd2-v" or "v_pred" in state_dict else "epsilon"


def load_checkpoint(path: str | os.PathLike, *, allow_pickle: bool = False, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, arch: str | None = None,
                    prediction_type: str | None = None, configs: str | os.PathLike | None = None,
                    storage: torch.dtype | None = None) -> LoadedCheckpoint:
    """Load a single-file checkpoint (original layout) or a diffusers folder, offline.

    `arch` and `prediction_type` override detection (see `detect_architecture`); `configs`
    replaces the shipped config folder (same layout: one subfolder per architecture with
    unet/, vae/, text_encoder/[, text_encoder_2/], scheduler/) and is how tests load tiny models.
    `storage` (with an fp32 `dtype`) stores the weights of every part's Linear, Conv2d and
    Embedding layers in that narrower dtype where the file does not already store them narrow
    (see `fill`).
    """
    path = Path(path)
    if path.is_dir():
        return _load_diffusers_folder(path, allow_pickle, device, dtype, arch, prediction_type, storage)
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    try:
        detected = detect_architecture(sd, override=arch)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if arch is None and prediction_type is not None and detected.startswith("sd2"):
        detected = "sd2-v" if prediction_type == "v_prediction" else "sd2"  # SD2 ties config to prediction
    arch = detected
    prediction = _prediction(sd, arch, prediction_type)
    root = Path(configs) if configs is not None else CONFIG_ROOT
    cfg = lambda part: read_config(root / arch / part)  # noqa: E731
    family = "sd2" if arch.startswith("sd2") else arch
    used: set[str] = set()

    unet_cfg = dict(cfg("unet"), in_channels=sd[keys.UNET_PREFIX + "input_blocks.0.0.weight"].shape[1],
                    **unclip.unet_fields(sd))
    unet = build_unet(unet_cfg)
    names = {k: keys.UNET_PREFIX + o for k, o in keys.unet_key_map(unet.state_dict(), unet_cfg).items()}
    fill(unet, sd, names, used, path, "UNet", device, dtype, storage=storage)

    vae_cfg = cfg("vae")
    vae = build_vae(vae_cfg)
    names = {k: keys.VAE_PREFIX + o for k, o in keys.vae_key_map(vae.state_dict(), vae_cfg).items()}
    fill(vae, sd, names, used, path, "VAE", device, dtype, keep_narrow=True, storage=storage)

    encoders = []
    for i, prefix in enumerate(keys.TEXT_PREFIXES[family]):
        encoder = build_text_encoder(cfg("text_encoder" if i == 0 else f"text_encoder_{i + 1}"))
        if prefix.endswith(".model."):
            tensors = _openclip_tensors(sd, prefix, encoder, used, path)
            names = {k: k for k in encoder.state_dict()}
            fill(encoder, tensors, names, set(), path, f"text encoder {i + 1}", device, dtype, keep_narrow=True,
                 storage=storage)
        else:
            # files from before transformers 4.21 lack the "text_model." level
            inner = "text_model." if any(k.startswith(prefix + "text_model.") for k in sd) else ""
            names = {k: f"{prefix}{inner}{keys.clip_core(k)}" for k in encoder.state_dict()}
            fill(encoder, sd, names, used, path, f"text encoder {i + 1}", device, dtype, keep_narrow=True,
                 storage=storage)
        encoders.append(encoder)
    return LoadedCheckpoint(arch=arch, prediction_type=prediction, unet=unet, vae=vae, text_encoders=tuple(encoders),
                            latent_channels=unet_cfg["out_channels"], scaling_factor=vae_cfg["scaling_factor"],
                            scheduler_config=dict(cfg("scheduler"), prediction_type=prediction), source=path,
                            unused_keys=tuple(sorted(set(sd) - used)))


def _openclip_tensors(sd, prefix, encoder, used, path) -> dict[str, torch.Tensor]:
    def get(name: str) -> torch.Tensor:
        used.add(prefix + name)
        return sd[prefix + name]

    try:
        projected = hasattr(encoder, "text_projection")
        core = keys.openclip_to_hf(get, encoder.config.num_hidden_layers, with_projection=projected)
    except KeyError as exc:
        raise CheckpointError(f"{path}: the OpenCLIP text encoder is incomplete: missing {exc.args[0]}") from None
    return {k: core[keys.clip_core(k)] for k in encoder.state_dict() if keys.clip_core(k) in core}


def _load_diffusers_folder(folder: Path, allow_pickle, device, dtype, arch, prediction_type,
                           storage) -> LoadedCheckpoint:
    if not (folder / "model_index.json").is_file():
        raise CheckpointError(f"{folder}: a folder but not a diffusers model (no model_index.json)")
    unet_cfg = read_config(folder / "unet")
    scheduler_cfg = read_config(folder / "scheduler") if (folder / "scheduler").is_dir() else {}
    default_prediction = scheduler_cfg.get("prediction_type", "epsilon")
    if (folder / "text_encoder_2").is_dir():
        family = "sdxl"
    else:
        family = "sd2" if unet_cfg.get("use_linear_projection") else "sd1"
    detected = "sd2-v" if family == "sd2" and (prediction_type or default_prediction) == "v_prediction" else family
    if arch is not None and arch.split("-")[0] != family:
        raise CheckpointError(f"{folder}: architecture override {arch!r} does not fit this model, which is {family}")
    arch = arch or detected
    explicit = prediction_type is not None or arch.startswith("sd2")
    prediction = _prediction({}, arch, prediction_type) if explicit else default_prediction

    unet = build_unet(unet_cfg)
    sd = read_component_folder(folder / "unet", allow_pickle=allow_pickle)
    fill(unet, sd, {k: k for k in unet.state_dict()}, set(), folder / "unet", "UNet", device, dtype,
         storage=storage)
    vae_cfg = read_config(folder / "vae")
    vae = _vae_from_diffusers(read_component_folder(folder / "vae", allow_pickle=allow_pickle), vae_cfg,
                              folder / "vae", device, dtype, storage=storage)
    encoders = []
    for sub in ("text_encoder", "text_encoder_2")[: 2 if family == "sdxl" else 1]:
        encoder = build_text_encoder(read_config(folder / sub))
        sd = read_component_folder(folder / sub, allow_pickle=allow_pickle)
        by_core = {keys.clip_core(k): k for k in sd}  # the file's names, with or without text_model.
        names = {k: by_core.get(keys.clip_core(k), keys.clip_core(k)) for k in encoder.state_dict()}
        fill(encoder, sd, names, set(), folder / sub, "text encoder", device, dtype, keep_narrow=True,
             storage=storage)
        encoders.append(encoder)
    return LoadedCheckpoint(arch=arch, prediction_type=prediction, unet=unet, vae=vae, text_encoders=tuple(encoders),
                            latent_channels=unet_cfg["out_channels"],
                            scaling_factor=vae_cfg.get("scaling_factor", 0.18215),
                            scheduler_config=dict(scheduler_cfg, prediction_type=prediction), source=folder)


# Attention names of diffusers before 0.14, still found in VAE files such as sd-vae-ft-mse.
_OLD_VAE_ATTN = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}


def _vae_from_diffusers(sd, cfg, source, device, dtype, prefix: str = "", storage=None):
    def current(name: str) -> str:
        for old, new in _OLD_VAE_ATTN.items():
            name = name.replace(old, new)
        return name

    # names only: the tensors are read as they are used
    by_current = {current(k[len(prefix):]): k for k in sd if k.startswith(prefix)}
    vae = build_vae(cfg)
    fill(vae, sd, {k: by_current.get(k, k) for k in vae.state_dict()}, set(), source, "VAE", device, dtype,
         keep_narrow=True, storage=storage)
    return vae


def load_vae(path: str | os.PathLike, *, allow_pickle: bool = False, device: str | torch.device = "cpu",
             dtype: torch.dtype = torch.float32, configs: str | os.PathLike | None = None,
             storage: torch.dtype | None = None) -> torch.nn.Module:
    """A standalone VAE (AutoencoderKL): a single file in original or diffusers key layout,
    with or without the "first_stage_model." prefix, or a diffusers VAE folder (config.json).

    SD1/SD2 and SDXL VAEs share one architecture, so a single file is built from the SD config;
    the latent scaling factor belongs to the diffusion model (LoadedCheckpoint.scaling_factor).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: a folder but not a diffusers VAE (no config.json)")
        return _vae_from_diffusers(read_component_folder(path, allow_pickle=allow_pickle), read_config(path),
                                   path, device, dtype, storage=storage)
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    cfg = read_config((Path(configs) if configs is not None else CONFIG_ROOT) / "sd1" / "vae")
    prefix = keys.VAE_PREFIX if any(k.startswith(keys.VAE_PREFIX) for k in sd) else ""
    if prefix + "encoder.down.0.block.0.conv1.weight" in sd:
        vae = build_vae(cfg)
        names = {k: prefix + o for k, o in keys.vae_key_map(vae.state_dict(), cfg).items()}
        fill(vae, sd, names, set(), path, "VAE", device, dtype, keep_narrow=True, storage=storage)
        return vae
    if prefix + "encoder.down_blocks.0.resnets.0.conv1.weight" in sd:
        return _vae_from_diffusers(sd, cfg, path, device, dtype, prefix, storage)
    raise CheckpointError(f"{path}: not a VAE: no encoder.down.* (original) or encoder.down_blocks.* "
                          f"(diffusers) tensors{_what_is_it(sd)}")

