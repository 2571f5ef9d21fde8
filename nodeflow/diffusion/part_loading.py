"""Loading a model by its parts, as ComfyUI's UNETLoader, CLIPLoader and DualCLIPLoader do: a
standalone UNet (models/diffusion_models, also models/unet) and standalone text encoders
(models/text_encoders, also models/clip), for the SD 1.x, SD 2.x and SDXL families.

The result is a LoadedCheckpoint holding only the part that was loaded (``vae`` None, or an
empty ``unet``), so MODEL and CLIP references and LoRAs work on it as on a whole checkpoint.
Files of other families (Flux, SD3, ...) are refused with the family's name.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from . import checkpoint_keys as keys
from .checkpoint_build import build_text_encoder, build_unet, fill, read_config
from .checkpoint_errors import CheckpointError
from .checkpoint_files import read_state_dict
from .checkpoints import CONFIG_ROOT, LoadedCheckpoint, _prediction, _sd2_is_v
from .names import CLIP_TYPES, DUAL_CLIP_TYPES  # noqa: F401  (re-exported)

# Key patterns that name a model family nodeflow cannot run yet (first match wins).
OTHER_FAMILIES = (
    ("double_blocks.", "Flux (or another double-stream transformer such as HunyuanVideo)"),
    ("joint_blocks.", "Stable Diffusion 3"),
    ("transformer_blocks.0.attn.add_q_proj", "a diffusers MMDiT (SD3, Flux)"),
    ("blocks.0.cross_attn.", "Wan"),
    ("adaln_single.", "PixArt or LTX-Video"),
    ("cap_embedder.", "Lumina"),
    ("shared.weight", "T5 (a text encoder of SD3, Flux and others)"),
    ("model.layers.0.self_attn.", "an LLM text encoder (Llama, Qwen, Gemma, ...)"),
)


def _family_error(sd: Mapping, path: Path, what: str) -> CheckpointError:
    for pattern, family in OTHER_FAMILIES:
        if any(pattern in k for k in sd):
            return CheckpointError(f"{path}: this {what} is {family}; that model family is not "
                                   "supported yet (SD 1.x, SD 2.x and SDXL are)")
    sample = ", ".join(list(sd)[:3]) or "(none)"
    return CheckpointError(f"{path}: not an SD 1.x, SD 2.x or SDXL {what} (tensors such as "
                           f"{sample}); other model families are not supported yet")


def _configs(path: Path, configs) -> Path:
    if configs is not None:
        return Path(configs)
    sidecar = path.with_name(path.stem + ".configs")
    return sidecar if path.is_file() and sidecar.is_dir() else CONFIG_ROOT


# -- the UNet ----------------------------------------------------------------------------------

def _unet_view(sd: Mapping) -> tuple[dict[str, str], str]:
    """(original-layout key with the model.diffusion_model. prefix -> file key, layout)."""
    for prefix in (keys.UNET_PREFIX, "diffusion_model.", ""):
        if prefix + "input_blocks.0.0.weight" in sd:
            return {keys.UNET_PREFIX + k[len(prefix):]: k for k in sd if k.startswith(prefix)}, \
                "original"
    if "conv_in.weight" in sd and any(k.startswith("down_blocks.") for k in sd):
        return {k: k for k in sd}, "diffusers"
    return {}, ""


def detect_unet(sd: Mapping, path: Path) -> tuple[str, dict[str, str], str]:
    """(architecture, key view, layout) of a standalone UNet file."""
    view, layout = _unet_view(sd)
    if not layout:
        raise _family_error(sd, path, "diffusion model")
    if layout == "original":
        get = lambda name: sd[view[keys.UNET_PREFIX + name]]  # noqa: E731
        has = lambda name: keys.UNET_PREFIX + name in view  # noqa: E731
        if has("label_emb.0.0.weight"):
            return "sdxl", view, layout
        proj = get("middle_block.1.proj_in.weight") if has("middle_block.1.proj_in.weight") else None
        if proj is not None and proj.ndim == 2:
            shaped = {k: sd[v] for k, v in view.items() if "output_blocks" in k or
                      k.endswith("input_blocks.0.0.weight")}
            if "v_pred" in sd:
                shaped["v_pred"] = sd["v_pred"]
            return ("sd2-v" if _sd2_is_v(shaped, tuple(get("input_blocks.0.0.weight").shape))
                    else "sd2"), view, layout
        return "sd1", view, layout
    if "add_embedding.linear_1.weight" in sd:
        return "sdxl", view, layout
    proj = sd.get("mid_block.attentions.0.proj_in.weight")
    return ("sd2" if proj is not None and proj.ndim == 2 else "sd1"), view, layout


def load_unet(path: str | os.PathLike, *, allow_pickle: bool = False, device="cpu",
              dtype: torch.dtype = torch.float32, configs=None,
              storage: torch.dtype | None = None) -> LoadedCheckpoint:
    """A standalone SD 1.x / 2.x / XL UNet file (original keys, with or without the
    model.diffusion_model. prefix, or diffusers keys); `storage` as for load_checkpoint."""
    path = Path(path)
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    arch, view, layout = detect_unet(sd, path)
    root = _configs(path, configs)
    first = view[keys.UNET_PREFIX + "input_blocks.0.0.weight"] if layout == "original" \
        else "conv_in.weight"
    unet_cfg = dict(read_config(root / arch / "unet"), in_channels=sd[first].shape[1])
    unet = build_unet(unet_cfg)
    if layout == "original":
        names = {k: view[keys.UNET_PREFIX + o]
                 for k, o in keys.unet_key_map(unet.state_dict(), unet_cfg).items()
                 if keys.UNET_PREFIX + o in view}
        names = {k: names.get(k, keys.UNET_PREFIX + k) for k in unet.state_dict()}
    else:
        names = {k: k for k in unet.state_dict()}
    fill(unet, sd, names, set(), path, "UNet", device, dtype, storage=storage)
    prediction = _prediction(sd, arch, None)
    return LoadedCheckpoint(
        arch=arch, prediction_type=prediction, unet=unet, vae=None, text_encoders=(),
        latent_channels=unet_cfg["out_channels"],
        scaling_factor=read_config(root / arch / "vae")["scaling_factor"],
        scheduler_config=dict(read_config(root / arch / "scheduler"), prediction_type=prediction),
        source=path)


# -- text encoders ------------------------------------------------------------------------------

def _text_layout(sd: Mapping) -> tuple[str, str, int]:
    """(layout "hf" | "openclip", key prefix, hidden width) of a text encoder file."""
    for prefix in ("", "text_model.", "cond_stage_model.transformer.", "transformer.",
                   "conditioner.embedders.0.transformer."):
        for inner in ("text_model.", ""):
            key = f"{prefix}{inner}embeddings.token_embedding.weight"
            if key in sd:
                return "hf", prefix, int(sd[key].shape[1])
    for prefix in ("", "model.", "cond_stage_model.model.", "conditioner.embedders.1.model."):
        if prefix + "token_embedding.weight" in sd and \
                prefix + "transformer.resblocks.0.ln_1.weight" in sd:
            return "openclip", prefix, int(sd[prefix + "token_embedding.weight"].shape[1])
    return "", "", 0


def _encoder(sd: Mapping, path: Path, config: dict, device, dtype, storage) -> torch.nn.Module:
    layout, prefix, width = _text_layout(sd)
    encoder = build_text_encoder(config)
    if width != config["hidden_size"]:
        raise CheckpointError(f"{path}: a text encoder {width} wide, where this model's is "
                              f"{config['hidden_size']} wide")
    if layout == "openclip":
        def get(name: str) -> torch.Tensor:
            return sd[prefix + name]

        try:
            core = keys.openclip_to_hf(get, encoder.config.num_hidden_layers,
                                       with_projection=hasattr(encoder, "text_projection"))
        except KeyError as exc:
            raise CheckpointError(f"{path}: the OpenCLIP text encoder is incomplete: missing "
                                  f"{exc.args[0]}") from None
        tensors = {k: core[keys.clip_core(k)] for k in encoder.state_dict()
                   if keys.clip_core(k) in core}
        fill(encoder, tensors, {k: k for k in encoder.state_dict()}, set(), path,
             "text encoder", device, dtype, keep_narrow=True, storage=storage)
        return encoder
    by_core = {keys.clip_core(k[len(prefix):]): k for k in sd if k.startswith(prefix)}
    names = {k: by_core.get(keys.clip_core(k), k) for k in encoder.state_dict()}
    fill(encoder, sd, names, set(), path, "text encoder", device, dtype, keep_narrow=True, storage=storage)
    return encoder


def _read_text(path: Path, allow_pickle: bool) -> Mapping:
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    if not _text_layout(sd)[0]:
        raise _family_error(sd, path, "text encoder")
    return sd


def load_text_encoders(paths: list[str | os.PathLike], clip_type: str, *,
                       allow_pickle: bool = False, device="cpu",
                       dtype: torch.dtype = torch.float32, configs=None,
                       storage: torch.dtype | None = None) -> LoadedCheckpoint:
    """Text encoders from standalone files: one CLIP-L (SD 1.x) or OpenCLIP-H (SD 2.x) for
    ``stable_diffusion``; CLIP-L and OpenCLIP-bigG (in either order) for ``sdxl``; `storage`
    as for load_checkpoint."""
    paths = [Path(p) for p in paths]
    supported = {"stable_diffusion": 1, "sdxl": 2}
    if clip_type not in supported:
        raise CheckpointError(f"text encoders of type {clip_type!r} are for a model family "
                              "that is not supported yet (stable_diffusion and sdxl are)")
    if len(paths) != supported[clip_type]:
        raise CheckpointError(f"type {clip_type!r} takes {supported[clip_type]} text encoder "
                              f"file(s), got {len(paths)}")
    root = _configs(paths[0], configs)
    files = [_read_text(p, allow_pickle) for p in paths]
    if clip_type == "stable_diffusion":
        layout, _, width = _text_layout(files[0])
        sd1, sd2 = (read_config(root / a / "text_encoder") for a in ("sd1", "sd2"))
        arch = "sd2" if layout == "openclip" or (width == sd2["hidden_size"] !=
                                                 sd1["hidden_size"]) else "sd1"
        encoders = (_encoder(files[0], paths[0], sd2 if arch == "sd2" else sd1, device, dtype, storage),)
    else:
        arch = "sdxl"
        small, big = (read_config(root / "sdxl" / p) for p in ("text_encoder", "text_encoder_2"))
        order = [0, 1]
        widths = [_text_layout(f)[2] for f in files]
        if small["hidden_size"] != big["hidden_size"] and widths[0] == big["hidden_size"]:
            order = [1, 0]  # bigG named first
        encoders = (_encoder(files[order[0]], paths[order[0]], small, device, dtype, storage),
                    _encoder(files[order[1]], paths[order[1]], big, device, dtype, storage))
    return LoadedCheckpoint(
        arch=arch, prediction_type="epsilon", unet=torch.nn.Module(), vae=None,
        text_encoders=encoders, latent_channels=4, scaling_factor=0.0, scheduler_config={},
        source=paths[0])
