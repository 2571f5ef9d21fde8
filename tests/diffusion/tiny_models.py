"""Tiny random-weight Stable Diffusion models for tests, written the way model sites ship them.

Each architecture keeps the structure that loading and detection rely on (SD1: CLIP text model
and conv attention projections; SD2: OpenCLIP text tower with one more block than diffusers
keeps, linear projections; SDXL: two text encoders, the text_time add_embedding) with 16/32
channels and a 1000-token vocabulary: a few hundred kB per model, built in well under a second.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from nodeflow.diffusion.checkpoint_keys import TEXT_PREFIXES, to_original_state_dict

ARCHS = ("sd1", "sd2", "sd2-v", "sdxl")

_UNET = {"_class_name": "UNet2DConditionModel", "block_out_channels": [16, 32], "layers_per_block": 2,
         "norm_num_groups": 8, "sample_size": 8, "in_channels": 4, "out_channels": 4, "act_fn": "silu",
         "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1, "norm_eps": 1e-05}
_SD1_UNET = dict(_UNET, attention_head_dim=2, cross_attention_dim=32,
                 down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                 up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"])
_SD2_UNET = dict(_SD1_UNET, attention_head_dim=[2, 4], use_linear_projection=True)
_SDXL_UNET = dict(_UNET, attention_head_dim=[2, 4], cross_attention_dim=64, use_linear_projection=True,
                  down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                  up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
                  transformer_layers_per_block=[1, 2], addition_embed_type="text_time", addition_time_embed_dim=8,
                  projection_class_embeddings_input_dim=6 * 8 + 16)
_VAE = {"_class_name": "AutoencoderKL", "block_out_channels": [16, 32], "layers_per_block": 2, "norm_num_groups": 8,
        "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
        "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 32, "scaling_factor": 0.18215}
_CLIP = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 1000, "hidden_size": 32,
         "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 77,
         "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "hidden_act": "quick_gelu", "projection_dim": 16}
_OPENCLIP = dict(_CLIP, hidden_act="gelu")
_OPENCLIP_G = dict(_OPENCLIP, architectures=["CLIPTextModelWithProjection"])
_SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
              "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "prediction_type": "epsilon"}

CONFIGS = {
    "sd1": {"unet": _SD1_UNET, "vae": _VAE, "text_encoder": _CLIP, "scheduler": _SCHEDULER},
    "sd2": {"unet": _SD2_UNET, "vae": _VAE, "text_encoder": _OPENCLIP, "scheduler": _SCHEDULER},
    "sd2-v": {"unet": _SD2_UNET, "vae": _VAE, "text_encoder": _OPENCLIP,
              "scheduler": dict(_SCHEDULER, prediction_type="v_prediction")},
    "sdxl": {"unet": _SDXL_UNET, "vae": dict(_VAE, scaling_factor=0.13025), "text_encoder": _CLIP,
             "text_encoder_2": _OPENCLIP_G, "scheduler": _SCHEDULER},
}


def _config_file(part: str) -> str:
    return "scheduler_config.json" if part == "scheduler" else "config.json"


def tiny_config_root(tmp_path: Path) -> Path:
    """A config folder laid out like nodeflow/diffusion/configs, for load_checkpoint(configs=...)."""
    root = Path(tmp_path) / "tiny-configs"
    for arch, parts in CONFIGS.items():
        for part, config in parts.items():
            (root / arch / part).mkdir(parents=True, exist_ok=True)
            (root / arch / part / _config_file(part)).write_text(json.dumps(config, indent=1))
    return root


def build_tiny_models(arch: str = "sd1", seed: int = 0):
    """(unet, vae, text_encoders) with reproducible random weights for `arch`.

    Every tensor gets its own noise (diffusers initialises norms to 1 and 0), so a swapped key
    cannot go unnoticed. For "sd2-v" the probe bias that tells v from eps gets a wide spread.
    """
    cfg = CONFIGS[arch]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(cfg["unet"])
    vae = AutoencoderKL.from_config(cfg["vae"])
    encoders = []
    for part in ("text_encoder", "text_encoder_2"):
        if part in cfg:
            projected = "CLIPTextModelWithProjection" in cfg[part]["architectures"]
            cls = CLIPTextModelWithProjection if projected else CLIPTextModel
            encoders.append(cls(CLIPTextConfig.from_dict(cfg[part])))
    with torch.no_grad():
        for model in (unet, vae, *encoders):
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        if arch == "sd2-v":
            unet.up_blocks[-1].attentions[-1].transformer_blocks[0].norm1.bias.normal_(std=0.5)
    for model in (unet, vae, *encoders):
        model.eval().requires_grad_(False)
    return unet, vae, tuple(encoders)


def _original_extras(arch: str, state_dict: dict, seed: int) -> dict:
    """Tensors real files carry that diffusers drops: OpenCLIP's last block, logit_scale, ..."""
    gen = torch.Generator().manual_seed(seed + 1)
    extras = {"alphas_cumprod": torch.linspace(1, 0.01, 1000)}
    if arch.startswith("sd2"):
        prefix = TEXT_PREFIXES["sd2"][0]
        block = f"{prefix}transformer.resblocks.1."  # SD2 files have one block more than the model uses
        last = f"{prefix}transformer.resblocks.{_CLIP['num_hidden_layers']}."
        extras.update({k.replace(block, last): torch.randn(v.shape, generator=gen) for k, v in state_dict.items()
                       if k.startswith(block)})
        extras[prefix + "text_projection"] = torch.randn(32, 16, generator=gen)
        extras[prefix + "logit_scale"] = torch.tensor(4.6)
    if arch == "sdxl":
        extras[TEXT_PREFIXES["sdxl"][1] + "logit_scale"] = torch.tensor(4.6)
    return extras


def make_tiny_checkpoint(tmp_path: Path, arch: str = "sd1", layout: str = "single_file", seed: int = 0) -> Path:
    """Write a tiny `arch` model as a single original-layout .safetensors file or a diffusers folder.

    Single files load with `load_checkpoint(path, configs=tiny_config_root(tmp_path))`; the
    diffusers folder carries its own configs. The weights equal `build_tiny_models(arch, seed)`.
    """
    unet, vae, encoders = build_tiny_models(arch, seed)
    tiny_config_root(tmp_path)
    if layout == "single_file":
        sd = to_original_state_dict(arch, unet, vae, encoders)
        sd.update(_original_extras(arch, sd, seed))
        path = Path(tmp_path) / f"tiny-{arch}-{seed}.safetensors"
        save_file(sd, path)
        return path
    if layout != "diffusers":
        raise ValueError(f"unknown layout {layout!r}")
    folder = Path(tmp_path) / f"tiny-{arch}-{seed}"
    cfg = CONFIGS[arch]
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    index = {"_class_name": "StableDiffusionXLPipeline" if arch == "sdxl" else "StableDiffusionPipeline",
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "scheduler": ["diffusers", cfg["scheduler"]["_class_name"]]}
    for part, encoder in zip(("text_encoder", "text_encoder_2"), encoders, strict=False):
        (folder / part).mkdir(parents=True)
        (folder / part / "config.json").write_text(json.dumps(cfg[part], indent=1))
        # Diffusers folders on the hub name CLIP tensors "text_model.*"; write them that way.
        weights = {k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}": v.contiguous()
                   for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
        save_file(weights, folder / part / "model.safetensors")
        index[part] = ["transformers", cfg[part]["architectures"][0]]
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg["scheduler"], indent=1))
    (folder / "model_index.json").write_text(json.dumps(index, indent=1))
    return folder


def random_sd15_vae():
    """The SD 1.5 VAE at full width from the shipped config, with torch's default random
    weights (norms at 1), in eval mode: for tests that need its real structure at small sizes."""
    from nodeflow.diffusion.checkpoint_build import build_vae, read_config
    from nodeflow.diffusion.checkpoints import CONFIG_ROOT

    torch.manual_seed(0)
    vae = build_vae(read_config(CONFIG_ROOT / "sd1" / "vae")).to_empty(device="cpu")
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if p.dim() > 1:
                torch.nn.init.kaiming_uniform_(p, a=math.sqrt(5))  # torch's own default
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.uniform_(-0.05, 0.05)
    return vae.eval()
